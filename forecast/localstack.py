"""The local stack: the embedded MongoDB (a SecantusDB server process on 127.0.0.1, no cloud, no
Docker), the long-lived local Prefect server (PostgreSQL-backed, basic auth on) and a
throw-away ``prefect server start`` for tests.

SecantusDB speaks the MongoDB wire protocol, so the pipeline reaches it through pymongo and a
URI like any MongoDB. It runs as a separate process (never imported as a library); its data
lives in a project-local directory and survives restarts.

The local Prefect server (``LocalPrefectServer``) is what ``forecast setup`` starts beside it:
``prefect server start`` with its state in PostgreSQL (``forecast.localpostgres``) and every API
request but the health probe refused without the auth string. Its secrets (the auth string, the
database password) are generated once and kept in a 0600 file under ``FORECAST_HOME``; they
reach the server and its clients through their environment only, never argv.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from forecast.errors import ConfigurationError
from forecast.localpostgres import Database, LocalPostgres, database_name, new_password

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
    last: str | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}: see {log}")
        last = unanswered(url)  # a server still starting refuses connections: retried
        if last is None:
            return
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
        return _listening(self.host, self.port)

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


PREFECT_PORT = 4200
AUTH_USER = "admin"
_NOT_INHERITED = {
    # a client's view of some other API, or another Prefect home: never the local server's
    "PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING", "PREFECT_UI_API_URL",
    "PREFECT_HOME", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH",
}  # fmt: skip


@dataclass(frozen=True)
class ServerSecrets:
    """What the local Prefect server's clients and database need, generated once per home."""

    auth_string: str
    """``admin:<random>``: the server's ``PREFECT_SERVER_API_AUTH_STRING``, the clients'
    ``PREFECT_API_AUTH_STRING`` and what the UI's sign-in page asks for."""
    database_password: str


@dataclass(frozen=True)
class LocalPrefectServer:
    """The long-lived local ``prefect server start``: PostgreSQL-backed, basic auth on.

    Everything it keeps is under ``home/prefect-server``: ``secrets.json`` (mode 0600, the auth
    string and the database password, generated on first use and kept), ``server.json`` (pid,
    URL, database: what ``status`` and the clients read), ``client.env`` (mode 0600, the two
    ``PREFECT_API_*`` variables a shell or the ``prefect`` CLI needs, while the server runs),
    ``server.log`` and the server's own ``PREFECT_HOME`` (``home/``). The database is a role and
    database of the machine's PostgreSQL cluster named after ``home``.

    ``PREFECT_SERVER_*`` settings in the environment of the command that starts it reach the
    server (the scheduler's loop, for instance), except the database and auth settings, which
    are its own.
    """

    home: Path
    port: int = PREFECT_PORT
    host: str = "127.0.0.1"
    postgres: LocalPostgres = field(default_factory=LocalPostgres, compare=False)

    @property
    def directory(self) -> Path:
        return self.home / "prefect-server"

    @property
    def state_file(self) -> Path:
        return self.directory / "server.json"

    @property
    def secrets_file(self) -> Path:
        return self.directory / "secrets.json"

    @property
    def client_file(self) -> Path:
        return self.directory / "client.env"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    @property
    def database(self) -> str:
        """The PostgreSQL role and database of this home."""
        return database_name(self.home)

    def secrets(self) -> ServerSecrets:
        """The home's secrets, generated (and written with mode 0600) on first use."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):  # none yet: made below
            stored = json.loads(self.secrets_file.read_text(encoding="utf-8"))
            return ServerSecrets(stored["auth_string"], stored["database_password"])
        made = ServerSecrets(f"{AUTH_USER}:{new_password()}", new_password())
        document = {"auth_string": made.auth_string, "database_password": made.database_password}
        try:  # created with mode 0600 from the start: never readable by others, even briefly
            descriptor = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another command made them first: theirs are the ones
            return self.secrets()
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(document, out)
        return made

    def running(self) -> dict[str, object] | None:
        """What ``server.json`` says about the server if its process is alive (None: stopped)."""
        if not self.state_file.is_file():
            return None
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except ValueError as exc:  # written whole (temp + rename): only a hand edit breaks it
            raise ConfigurationError(
                f"{self.state_file} is not the JSON `forecast setup` writes ({exc}): remove it "
                "after stopping any `prefect server` of this home, then run `forecast setup`"
            ) from exc
        pid = state.get("pid")
        return state if isinstance(pid, int) and _is_prefect_server(pid) else None

    def client_settings(self) -> dict[str, str] | None:
        """``PREFECT_API_URL`` and ``PREFECT_API_AUTH_STRING`` of the running server (None: it
        is not running). Reads two small files; no request is made."""
        state = self.running()
        if state is None or not self.secrets_file.is_file():
            return None
        return {
            "PREFECT_API_URL": str(state["api_url"]),
            "PREFECT_API_AUTH_STRING": self.secrets().auth_string,
        }

    def status(self) -> str:
        """The server's state in one line, without its secrets."""
        state = self.running()
        if state is None:
            return "stopped"
        answering = unanswered(f"{state['api_url']}/health") is None
        where = (
            f"{state['url']}, PostgreSQL database {state['database']} on "
            f"127.0.0.1:{state['postgres_port']}, basic auth on (credentials: {self.secrets_file})"
        )
        return f"{'running' if answering else 'not answering'} (pid {state['pid']}) at {where}"

    def start(self, timeout_s: float = 180.0) -> str:
        """Start the server unless it runs; return its API URL.

        PostgreSQL is installed, started and given this home's role and database first
        (``forecast.localpostgres``). The server outlives the command that starts it.

        Raises:
            ConfigurationError: the port belongs to another process, PostgreSQL could not be
                made ready, or the server did not answer (its log is named).
        """
        state = self.running()
        if state is not None:
            return str(state["api_url"])
        if _listening(self.host, self.port):
            raise ConfigurationError(
                f"port {self.port} on {self.host} is used by another process; choose another "
                "with --prefect-port"
            )
        secrets = self.secrets()
        database = self.postgres.ensure_database(self.database, secrets.database_password)
        (self.directory / "home").mkdir(parents=True, exist_ok=True)
        url = f"http://{self.host}:{self.port}"
        with self.log_file.open("ab") as log:
            process = subprocess.Popen(
                [str(Path(sys.executable).with_name("prefect")), "server", "start",
                 "--host", self.host, "--port", str(self.port)],
                env=self._environment(database, secrets), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,  # outlives this command
            )  # fmt: skip
        state = {"pid": process.pid, "url": url, "api_url": f"{url}/api",
                 "database": database.name, "postgres_port": database.port}  # fmt: skip
        written = self.state_file.with_suffix(".json.tmp")
        written.write_text(json.dumps(state) + "\n", encoding="utf-8")
        written.replace(self.state_file)  # whole or absent for a concurrent `running()`
        try:
            wait_answering(f"{url}/api/health", process, self.log_file, timeout_s)
        except RuntimeError as exc:
            self.stop()
            raise ConfigurationError(f"the local Prefect server did not start: {exc}") from exc
        self._write_client_file(str(state["api_url"]), secrets)
        return str(state["api_url"])

    def stop(self, grace_s: float = 30.0) -> bool:
        """Stop the server (its whole process group); return False if it was not running."""
        state = self.running()
        self.client_file.unlink(missing_ok=True)
        if state is None:
            self.state_file.unlink(missing_ok=True)
            return False
        pid = int(str(state["pid"]))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        if not _wait_exit(pid, grace_s):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            _wait_exit(pid, 10.0)
        self.state_file.unlink(missing_ok=True)
        return True

    def forget(self) -> None:
        """Stop the server, drop its database and role, delete its secrets (a throw-away home:
        tests, the benchmark)."""
        self.stop()
        if self.postgres.installed():
            self.postgres.drop_database(self.database)
        self.secrets_file.unlink(missing_ok=True)

    def _environment(self, database: Database, secrets: ServerSecrets) -> dict[str, str]:
        """The server's environment: the caller's, minus other APIs' and databases' settings,
        plus its home, address, database and auth string (secrets here, never in argv)."""
        inherited = {
            name: value
            for name, value in os.environ.items()
            if name not in _NOT_INHERITED and not ("DATABASE" in name and name.startswith("PREFECT_"))
            and "AUTH_STRING" not in name
        }  # fmt: skip
        return inherited | {
            "PREFECT_HOME": str(self.directory / "home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # the UI's idea of the API comes from these, not from --host/--port
            "PREFECT_SERVER_API_HOST": self.host,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": database.url(secrets.database_password),
            "PREFECT_SERVER_API_AUTH_STRING": secrets.auth_string,
        }

    def _write_client_file(self, api_url: str, secrets: ServerSecrets) -> None:
        """``client.env`` (0600): ``set -a; . client.env; set +a`` points a shell's ``prefect``
        CLI at the server."""
        self.client_file.unlink(missing_ok=True)
        descriptor = os.open(self.client_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(f"PREFECT_API_URL={api_url}\nPREFECT_API_AUTH_STRING={secrets.auth_string}\n")


def configured_api(local: Mapping[str, str] | None) -> tuple[str, bool]:
    """The Prefect API this process is pointed at (``PREFECT_API_URL`` without a trailing slash,
    "" when unset) and whether it is the local server whose ``client_settings()`` are
    ``local``."""
    configured = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    return configured, bool(configured) and local is not None and (
        configured == local["PREFECT_API_URL"]
    )


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def unanswered(url: str) -> str | None:
    """Why a GET of ``url`` does not answer 200 (refused, reset, timed out, another status), or
    None when it does: the reason is the probe's answer, not an error of the caller's."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return None if answer.status == 200 else f"HTTP {answer.status}"
    except OSError as exc:  # urllib's HTTPError (4xx/5xx) and URLError are OSErrors too
        return f"{type(exc).__name__}: {exc}"


def _is_prefect_server(pid: int) -> bool:
    """Whether ``pid`` is alive and is a ``prefect server start`` (a pid file can outlive its
    process, and the pid be reused, across a reboot)."""
    if not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:  # gone meanwhile, or no /proc (not Linux: trust the pid)
        return not Path("/proc/self").exists()
    return b"server" in command and b"start" in command and any(b"prefect" in p for p in command)


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
