"""The slow infrastructure tiers are modules pytest does not collect in `make test`; this keeps
each one run by a Makefile target that .ci/run calls, so none can be left behind unseen."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.infra.support import ROOT

HELPERS = {"__init__.py", "conftest.py", "support.py"}


def _targets() -> dict[str, str]:
    """Return ``{target: recipe}`` of the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    found = {}
    for match in re.finditer(
        r"^([a-z][\w-]*):[^=\n]*\n((?:\t.*\n)*)", makefile, flags=re.MULTILINE
    ):
        found[match.group(1)] = match.group(2)
    return found


def test_every_slow_tier_module_is_run_by_a_target_that_ci_runs():
    modules = {p.name for p in (ROOT / "tests" / "infra").glob("*.py")} - HELPERS
    slow = {name for name in modules if not name.startswith("test_")}
    assert slow == {"apply_against_moto.py", "image_run.py"}
    ci = (ROOT / ".ci" / "run").read_text()
    targets = _targets()
    for module in slow:
        running = [t for t, recipe in targets.items() if f"pytest tests/infra/{module}" in recipe]
        assert running, f"no Makefile target runs tests/infra/{module}"
        assert any(re.search(rf"^tier {t}$", ci, flags=re.MULTILINE) for t in running), module
    assert re.search(r"^tier test$", ci, flags=re.MULTILINE)


def test_the_image_tier_builds_the_image_first():
    prerequisites = re.search(
        r"^image-test:(.*)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE
    )
    assert prerequisites and "image" in prerequisites.group(1).split()


# --- the machine-level packages: one script for `make test` and .ci/run (issue 21) ---------------

SYSTEM_DEPS = ROOT / "infra" / "system-deps.sh"
FRESH_CHECK = ROOT / "infra" / "fresh-check.sh"


def test_make_test_installs_the_system_packages_first_with_the_script_ci_runs():
    targets = _targets()
    prerequisites = re.search(r"^test:(.*)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert prerequisites and prerequisites.group(1).split()[0] == "system-deps"
    assert targets["system-deps"].strip() == "infra/system-deps.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    # .ci/run installs through the same script (plus the image tier's packages) before any
    # tier, and keeps no package list or apt call of its own
    assert re.search(r"^infra/system-deps\.sh podman runc debootstrap$", ci, flags=re.MULTILINE)
    assert ci.index("infra/system-deps.sh") < ci.index("tier test")
    assert "apt-get" not in ci and "dpkg-query" not in ci
    (packages,) = re.findall(r"^packages=\((.*)\)$", SYSTEM_DEPS.read_text(), flags=re.MULTILINE)
    assert packages.split() == ["chromium", "postgresql", '"$@"']


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _system_deps(
    tmp_path: Path,
    *extra: str,
    installed: bool,
    uid: int,
    terraform: bool = True,
    dpkg_error: str = "",
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run infra/system-deps.sh with a PATH of stubs: dpkg-query answers ``installed`` for every
    package, id -u prints ``uid``, apt-get records its arguments (and an install fails with
    ``dpkg_error`` on stdout when one is given); no sudo on that PATH."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    calls = tmp_path / "apt-calls"
    status = "install ok installed" if installed else "unknown ok not-installed"
    _stub(stubs, "dpkg-query", f"printf '%s' '{status}'")
    _stub(stubs, "id", f"echo {uid}")
    failing = (
        f'if [[ $1 == install ]]; then echo "{dpkg_error}"; exit 100; fi' if dpkg_error else ""
    )
    _stub(stubs, "apt-get", f'echo "$*" >> {calls}\n{failing}')
    _stub(stubs, "env", 'while [[ $1 == *=* ]]; do export "$1"; shift; done; exec "$@"')
    for tool in ("grep", "mktemp", "tail", "rm"):
        (stubs / tool).symlink_to(shutil.which(tool))
    if terraform:
        _stub(stubs, "terraform", "echo Terraform v1.11.4")
    done = subprocess.run(
        [shutil.which("bash"), str(SYSTEM_DEPS), *extra],
        env={"PATH": str(stubs)}, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_system_deps_does_nothing_when_everything_is_installed(tmp_path):
    done, apt = _system_deps(tmp_path, installed=True, uid=1000)
    assert apt == []
    assert "apt-get" not in done.stderr


def test_system_deps_installs_what_is_missing_as_root(tmp_path):
    done, apt = _system_deps(tmp_path, "podman", installed=False, uid=0)
    assert apt == ["update -qq", "install -y -qq chromium postgresql podman"]
    assert "infra/system-deps.sh: apt-get install chromium postgresql podman" in done.stderr


def test_system_deps_shows_why_apt_failed(tmp_path):
    error = "dpkg: error processing package ssl-cert (--configure):"
    done, apt = _system_deps(tmp_path, installed=False, uid=0, dpkg_error=error)
    assert done.returncode == 1 and len(apt) == 2
    assert done.stderr.splitlines()[-2:] == [
        error,
        "infra/system-deps.sh: apt-get install chromium postgresql failed (its last lines above)",
    ]


def test_system_deps_without_root_or_sudo_stops_with_one_line(tmp_path):
    done, apt = _system_deps(tmp_path, installed=False, uid=1000)
    assert done.returncode == 1 and apt == []
    assert done.stderr.splitlines() == [
        "infra/system-deps.sh: missing Debian packages chromium postgresql: run as root, "
        "or install them (apt-get install chromium postgresql)"
    ]


def test_system_deps_stops_when_terraform_is_not_on_the_machine(tmp_path):
    done, apt = _system_deps(tmp_path, installed=True, uid=0, terraform=False)
    assert done.returncode == 1 and apt == []
    assert done.stderr.startswith("infra/system-deps.sh: terraform is not on PATH")


# --- make fresh-check: make test in a throw-away container from the Debian base -----------------


def test_fresh_check_runs_make_test_on_a_clone_of_head_in_a_throwaway_container():
    assert _targets()["fresh-check"].split()[-1] == "infra/fresh-check.sh"
    script = FRESH_CHECK.read_text()
    # the Debian base of `make image` (only Python), built or reused by the same script
    assert 'infra/image/build-base.sh "${base}"' in script
    assert 'base="${BASE_IMAGE:-localhost/forecast-base:bookworm}"' in script
    # committed work only: a bundle of HEAD, cloned inside the container
    assert re.search(r"^git bundle create .*checkout\.bundle\" HEAD$", script, flags=re.MULTILINE)
    (inside,) = re.findall(r"<<'INSIDE'\n(.*?)\nINSIDE\n", script, flags=re.DOTALL)
    assert "clone --quiet /mnt/checkout.bundle /work/forecast" in inside
    assert re.search(r"^make test \|\| status=\$\?$", inside, flags=re.MULTILINE)
    # the project installs chromium and postgresql itself: the machine layer does not
    (machine,) = re.findall(r"apt-get install (.*) >/dev/null", inside)
    assert machine.split()[-2:] == ["make", "git"]
    # one podman run: removed afterwards, the flags these machines need, ../shared read-only
    (run,) = re.findall(
        r'^  "\$\{podman\[@\]\}" run (.*?) 2>&1 \|\| code=\$\?$',
        script,
        flags=re.MULTILINE | re.DOTALL,
    )
    for flag in ("--rm", "--network=host", "--ulimit nofile=1024:1024", "--ulimit nproc=1024:1024",
                 '"${shared}:/work/shared:ro"', '"${ca_bundle}:${host_ca}:ro"',
                 '"${base}" bash /mnt/inside.sh'):  # fmt: skip
        assert flag in run, flag
    assert "podman --runtime runc --cgroup-manager=cgroupfs" in script
    assert re.search(r"^trap cleanup EXIT$", script, flags=re.MULTILINE)
    assert 'rm --force --ignore --time 0 "${name}"' in script
