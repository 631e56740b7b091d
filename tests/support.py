"""Test helpers that run real things: a SecantusDB server process, a Prefect server process, a
directory filesystem."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pymongo

REAL_COUNTS = {
    "ILAMAD25": 1908,
    "IICHTE19": 1899,
    "07015": 60,
    "00052": 361,
    "000R5": 361,
    "STATIC0010": 361,
}
"""Observations per station in ../shared/data/raw (FORMATS.md: 4,950 in all)."""

DEMO_COUNTS = {
    "07015": 36,
    "00052": 217,
    "000R5": 217,
    "STATIC0010": 217,
    "ILAMAD25": 468,
    "IICHTE19": 464,
}
"""Observations per station written by ``forecast.samples.write_demo_landing`` (1,619 in all)."""


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SecantusServer:
    """A SecantusDB server on loopback with an ephemeral store, started and stopped by tests."""

    def __init__(
        self,
        workdir: Path,
        *,
        storage: str = ":memory:",
        port: int | None = None,
        test_commands: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.storage = storage
        self.port = port or free_port()
        self.test_commands = test_commands  # configureFailPoint for fault injection
        self.extra_args = list(extra_args)  # e.g. --auth, --tls-cert-file
        self.probe_uri: str | None = None  # readiness ping URI when auth or TLS is on
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        program = shutil.which("secantusd-py") or str(
            Path(sys.executable).with_name("secantusd-py")
        )
        log = (self.workdir / f"secantusd-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                program,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                self.storage,
                *(["--enable-test-commands"] if self.test_commands else []),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                probe = self.probe_uri or self.uri
                pymongo.MongoClient(probe, serverSelectionTimeoutMS=200).admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"secantusd-py exited with {self.process.returncode}"
                    ) from None
                time.sleep(0.1)
        raise RuntimeError("secantusd-py did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, tz_aware=True)


class PrefectServer:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "PREFECT_HOME": str(self.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        log = (self.home / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("prefect")), "server", "start",
             "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited: {self.home / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("prefect server did not answer within 180 s")

    def stop(self) -> None:
        """Stop the server and the uvicorn process it started (one process group: its own)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


class DirectoryFS:
    """A real directory with the two methods the lake needs (for domain tests without Prefect)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.basepath = str(root)  # the lake treats it like a LocalFileSystem block

    def read_path(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return str(target)


def without_progress(stderr: str) -> str:
    """Return ``forecast run``'s stderr without its progress lines (``stage <name>: ...``)."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("stage "))
