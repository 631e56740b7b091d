"""The flow-run image's Dockerfile, read: stages, base, user, code paths, and that it installs the
runtime lock — the locked versions, without the dev tools. The image is built with podman and
run as the ECS worker runs it in tests/infra/image_run.py (`make image-test`)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PREFECT = yaml.safe_load((ROOT / "prefect.yaml").read_text())


def _pins(path: Path) -> dict[str, str]:
    pairs = (line.split("==") for line in path.read_text().split() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def _final_stage() -> str:
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def test_multi_stage_on_a_pinned_base_by_default():
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE)
    assert bases == ["${BASE_IMAGE}", "${BASE_IMAGE}"]  # the venv needs the same interpreter
    (default,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", DOCKERFILE, flags=re.MULTILINE)
    assert default == "python:3.11.7-slim-bookworm"
    assert DOCKERFILE.index("ARG BASE_IMAGE=") < DOCKERFILE.index("\nFROM ")


def test_the_final_stage_runs_as_an_unprivileged_user():
    users = re.findall(r"^USER (\S+)", _final_stage(), flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"useradd .*--uid 10001", _final_stage())


def test_the_entrypoints_are_where_the_pull_step_starts():
    workdir = re.findall(r"^WORKDIR (\S+)", _final_stage(), flags=re.MULTILINE)[-1]
    (step,) = PREFECT["pull"]
    assert step["prefect.deployments.steps.set_working_directory"]["directory"] == workdir
    copied = set(re.findall(r"^COPY --chown=\S+ (\S+) ", _final_stage(), flags=re.MULTILINE))
    for deployment in PREFECT["deployments"]:
        if deployment["name"] != "local-weekly":
            assert deployment["entrypoint"].split("/")[0] in copied


def test_the_image_installs_the_runtime_lock_at_the_locked_versions():
    assert re.search(r"/opt/venv/bin/pip install (\S+ )*-r requirements-runtime\.lock$", DOCKERFILE,
                     flags=re.MULTILINE)  # fmt: skip
    runtime, full = _pins(ROOT / "requirements-runtime.lock"), _pins(ROOT / "requirements.lock")
    assert runtime and all(full.get(name) == version for name, version in runtime.items())
    assert not {"pytest", "moto", "ruff", "mypy", "python-hcl2"} & set(runtime)
    assert {"prefect", "prefect-aws", "pymongo", "pymongoarrow", "pyarrow"} <= set(runtime)
