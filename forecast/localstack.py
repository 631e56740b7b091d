"""The local stack: the embedded MongoDB (a SecantusDB server process on 127.0.0.1, no cloud, no
Docker) and a throw-away ``prefect server start`` for benchmarks and tests.

SecantusDB speaks the MongoDB wire protocol, so the pipeline reaches it through pymongo and a
URI like any MongoDB. It runs as a separate process (never imported as a library); its data
lives in a project-local directory and survives restarts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from forecast.errors import ConfigurationError

DEFAULT_PORT = 27018  # not 27017, so a real mongod on the laptop is never shadowed
SERVER = "secantusd-py"


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_answering(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float) -> None:
    """Wait until ``url`` answers 200 (a server ``process`` just started, writing to ``log``).

    Raises:
        RuntimeError: the process exited, or did not answer within ``timeout_s`` (with the last
            connection error: a server still starting refuses connections, that alone is retried).
    """
    deadline = time.monotonic() + timeout_s
    last: OSError | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError as exc:  # not listening yet: retried until the deadline
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout_s:g} s (last: {last}): see {log}")


@dataclass(frozen=True)
class LocalMongo:
    """A SecantusDB server managed through a pid file under ``home``."""

    home: Path
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"

    @property
    def uri(self) -> str:
        """The server's MongoDB URI."""
        return f"mongodb://{self.host}:{self.port}/"

    @property
    def data_dir(self) -> Path:
        return self.home / "mongo" / "data"

    @property
    def pid_file(self) -> Path:
        return self.home / "mongo" / "secantusd.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "mongo" / "secantusd.log"

    def _listening(self) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            return probe.connect_ex((self.host, self.port)) == 0

    def _pid(self) -> int | None:
        """Return the pid in the pid file if that process is alive, else None."""
        text = self.pid_file.read_text().strip() if self.pid_file.is_file() else ""
        pid = int(text) if text.isdigit() else None
        return pid if pid is not None and _alive(pid) else None

    def status(self) -> str:
        """Return "running (pid N)", "port in use by another process" or "stopped"."""
        pid = self._pid()
        if pid is not None and self._listening():
            return f"running (pid {pid})"
        return "port in use by another process" if self._listening() else "stopped"

    def start(self, timeout_s: float = 30.0) -> str:
        """Start the server unless it already runs; return its URI.

        Raises:
            ConfigurationError: the server program is missing, the port belongs to another
                process, or the server did not come up (its log is named).
        """
        if self._pid() is not None and self._listening():
            return self.uri
        if self._listening():
            raise ConfigurationError(
                f"port {self.port} on {self.host} is used by another process; choose another with --port"
            )
        program = shutil.which(SERVER) or str(Path(sys.executable).with_name(SERVER))
        if not Path(program).exists():
            raise ConfigurationError(f"{SERVER} not found: install the project (`make install`)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [
                    program,
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--storage-path",
                    str(self.data_dir),
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # outlives the command that started it
            )
        self.pid_file.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ConfigurationError(
                    f"{SERVER} exited with code {process.returncode}; see {self.log_file}"
                )
            if self._listening():
                return self.uri
            time.sleep(0.1)
        raise ConfigurationError(
            f"{SERVER} did not listen on {self.host}:{self.port} within {timeout_s:g} s; see {self.log_file}"
        )

    def stop(self, grace_s: float = 10.0) -> bool:
        """Stop the server; return False if it was not running.

        SIGTERM first. SecantusDB 0.7.0b3 sometimes stays asleep after SIGTERM (seen here: 2 s,
        5 s, or not at all), so after ``grace_s`` it is killed; acknowledged writes are in its
        WiredTiger log and survive that. Returns once the process is gone and the port closed.
        """
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        if not _wait_exit(pid, grace_s):
            os.kill(pid, signal.SIGKILL)
            _wait_exit(pid, 10.0)
        deadline = time.monotonic() + 5.0
        while self._listening() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_exit(pid: int, timeout_s: float) -> bool:
    """Wait until ``pid`` has exited (reaping it if it is our child); return whether it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (no-op otherwise)."""
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


class PrefectServer:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME (the server the
    benchmark and the automation tests run flows against, as deployments do)."""

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
        wait_answering(f"{self.url}/health", self.process, self.home / "server.log", 180)

    def stop(self) -> None:
        """Stop the server and the uvicorn process it started (one process group: its own)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
