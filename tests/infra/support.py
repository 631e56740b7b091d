"""Real tools for the infrastructure tiers: the terraform binary on a copy of infra/terraform,
a moto server process on loopback, and podman. A missing tool fails the test that needs it
with the command that installs it; nothing is skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from forecast.localstack import wait_answering
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "infra" / "terraform"
MOTO_DIR = ROOT / "infra" / "moto"
CLI_CONFIG = ROOT / "infra" / "terraform.rc"
LAMBDA_ZIP = Path("modules") / "monitoring" / ".build" / "last_success.zip"
# The required root variable, for a plan "with the default variables" (the API URL is not used
# by any AWS call).
PREFECT_API_URL = "http://127.0.0.1:4200/api"
REGION = "eu-west-3"  # the root module's default region
# Dummy credentials for moto; any real AWS configuration of the machine is kept out.
MOTO_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_AWS_ENV_DROPPED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE",
                    "AWS_SHARED_CREDENTIALS_FILE")  # fmt: skip


def report(request: pytest.FixtureRequest, line: str) -> None:
    """Show one line in pytest's terminal output (CI logs), whatever the capture mode."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n[{request.node.name}] {line}")


def require_tool(name: str, install: str) -> str:
    """Return the path of ``name`` on PATH, or fail the test saying how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {install}", pytrace=False)
    return path


class MotoServer:
    """``moto_server`` as a separate process on 127.0.0.1 (the venv's console script).

    AWS-managed IAM policies are loaded (``MOTO_IAM_LOAD_MANAGED_POLICIES``): the stack attaches
    three of them, and moto knows them only when asked to.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"moto-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        program = str(Path(sys.executable).with_name("moto_server"))
        env = {**_clean_env(), **MOTO_ENV, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [program, "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        wait_answering(f"{self.url}/moto-api/data.json", self.process, self.log, 60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id="test", aws_secret_access_key="test",
        )  # fmt: skip


@contextmanager
def moto_server(workdir: Path) -> Iterator[MotoServer]:
    server = MotoServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _AWS_ENV_DROPPED}


class Terraform:
    """The terraform binary on a temporary copy of infra/terraform.

    The copy keeps the checkout clean (no .terraform/, lock file, state or zip in it) and is
    where the moto-only files are added; infra/terraform itself is never changed.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.dir = workdir / "stack"
        self.env = {
            **_clean_env(), **MOTO_ENV,
            "TF_CLI_CONFIG_FILE": str(CLI_CONFIG), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }  # fmt: skip
        for name in ("TF_LOG", "TF_DATA_DIR", "TF_WORKSPACE"):
            self.env.pop(name, None)

    def copy_stack(self) -> None:
        shutil.copytree(
            TERRAFORM_DIR, self.dir,
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*",
                                          ".build", "*.tfplan"),
        )  # fmt: skip

    def add_moto_files(self) -> None:
        for path in MOTO_DIR.glob("*.tf"):
            shutil.copy(path, self.dir / path.name)

    def build_lambda_zip(self) -> Path:
        """Build the check's zip into the copy with the project's script; return its path."""
        target = self.dir / LAMBDA_ZIP
        run([sys.executable, str(ROOT / "infra" / "build-lambda-zip.py"), str(target)], timeout=60)
        return target

    def __call__(
        self, command: str, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <command> -no-color <args>`` in the copy."""
        return run([self.binary, command, "-no-color", *args], cwd=self.dir, env=self.env,
                   timeout=timeout, check=check)  # fmt: skip

    def show_json(self, plan_file: str | None = None) -> dict[str, Any]:
        args = ["show", "-json", *([plan_file] if plan_file else [])]
        return json.loads(self(*args).stdout)


def run(
    command: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with the end of its output (never secrets: none pass here)."""
    result = subprocess.run(
        list(command), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[:3])} ... exited {result.returncode}\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        )
    return result
