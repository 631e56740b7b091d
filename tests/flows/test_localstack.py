"""The embedded local MongoDB: a real SecantusDB process started, restarted and stopped; the
local Prefect server's files (secrets, state, environment) without a server
(``tests/test_local_prefect_server.py`` runs the real one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pymongo
import pytest

from forecast.errors import ConfigurationError
from forecast.localstack import LocalMongo, LocalPrefectServer
from tests.support import free_port


@pytest.fixture
def server(tmp_path):
    local = LocalMongo(home=tmp_path, port=free_port())
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """One started server shared by the tests that leave it running (a stop costs ~2 s)."""
    local = LocalMongo(home=tmp_path_factory.mktemp("running"), port=free_port())
    try:
        local.start()
        yield local
    finally:
        local.stop()


def client(uri: str) -> pymongo.MongoClient:
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=5_000, tz_aware=True)


def test_start_returns_the_uri_and_status_says_running(running):
    assert running.start() == f"mongodb://127.0.0.1:{running.port}/"
    pid = int(running.pid_file.read_text())
    assert running.status() == f"running (pid {pid})"
    with client(running.uri) as connected:
        assert connected.admin.command("ping")["ok"] == 1


def test_starting_a_running_server_again_changes_nothing(running):
    pid = running.pid_file.read_text()
    assert running.start() == running.uri
    assert running.pid_file.read_text() == pid
    assert running.status() == f"running (pid {pid.strip()})"


def test_data_survives_a_stop_and_a_start(server):
    stamp = datetime(2024, 10, 5, tzinfo=UTC)
    with client(server.start()) as first:
        first.forecast.weather_measurements.insert_one({"_id": "07015:x", "timestamp": stamp})
    assert server.stop() is True
    assert server.status() == "stopped"
    assert (server.home / "mongo" / "data").is_dir()
    with client(server.start()) as second:
        assert second.forecast.weather_measurements.find_one({"_id": "07015:x"}) == {
            "_id": "07015:x",
            "timestamp": stamp,
        }


def test_stop_says_whether_a_server_was_running(server):
    server.start()
    assert server.stop() is True
    assert server.stop() is False
    assert server.status() == "stopped"
    assert not server.pid_file.exists()


def test_a_stale_pid_file_is_not_a_running_server(server):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    server.pid_file.parent.mkdir(parents=True)
    server.pid_file.write_text(f"{dead.pid}\n")
    assert server.status() == "stopped"
    assert server.stop() is False
    assert not server.pid_file.exists()


def test_a_port_held_by_another_listener_is_refused_naming_the_port(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        local = LocalMongo(home=tmp_path, port=port)
        try:
            assert local.status() == "port in use by another process"
            with pytest.raises(ConfigurationError, match=f"port {port}"):
                local.start()
        finally:
            local.stop()
    assert not local.pid_file.exists()


# ------------------------------------------------------------- the local Prefect server's files


def _fake_server(tmp_path, port: int = 4200) -> subprocess.Popen[bytes]:
    """A live process whose command line reads like ``prefect server start`` (what the state
    file's pid is checked against), with a state file and secrets pointing at it."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "prefect", "server", "start"]
    )
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"server" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)  # until the child has exec'd (its command line is the parent's before)
    server = LocalPrefectServer(tmp_path, port=port)
    server.secrets()
    server.state_file.write_text(
        json.dumps(
            {
                "pid": process.pid,
                "url": f"http://127.0.0.1:{port}",
                "api_url": f"http://127.0.0.1:{port}/api",
                "database": server.database,
                "postgres_port": 5432,
            }
        )
    )
    return process


def test_the_secrets_are_generated_once_readable_by_the_owner_only(tmp_path):
    server = LocalPrefectServer(tmp_path)
    first = server.secrets()
    assert server.secrets_file.stat().st_mode & 0o777 == 0o600
    assert first.auth_string.startswith("admin:") and len(first.auth_string) > 40
    assert len(first.database_password) >= 40 and first.database_password not in first.auth_string
    assert LocalPrefectServer(tmp_path, port=4300).secrets() == first  # kept, whatever the port


def test_a_stale_or_foreign_pid_is_not_a_running_prefect_server(tmp_path):
    server = LocalPrefectServer(tmp_path)
    assert server.running() is None and server.client_settings() is None
    assert server.status() == "stopped"
    server.secrets()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):  # gone; alive but not a Prefect server (this pytest)
        server.state_file.write_text(json.dumps({"pid": pid, "api_url": "http://127.0.0.1:1/api"}))
        assert server.running() is None and server.client_settings() is None
    assert server.stop() is False and not server.state_file.exists()


def test_the_client_settings_of_a_running_server_hold_its_url_and_auth_string(tmp_path):
    process = _fake_server(tmp_path, port=4321)
    try:
        server = LocalPrefectServer(tmp_path)
        assert server.client_settings() == {
            "PREFECT_API_URL": "http://127.0.0.1:4321/api",
            "PREFECT_API_AUTH_STRING": server.secrets().auth_string,
        }
        assert server.status().startswith(
            f"not answering (pid {process.pid}) at http://127.0.0.1:4321"
        )
        assert server.secrets().auth_string not in server.status()
    finally:
        process.kill()
        process.wait()


def test_the_server_environment_carries_its_secrets_and_drops_other_apis(tmp_path, monkeypatch):
    from forecast.localpostgres import Database

    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "sqlite+aiosqlite:///other.db")
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS", "10")
    server = LocalPrefectServer(tmp_path, port=4333)
    secrets = server.secrets()
    database = Database(name=server.database, role=server.database, port=5432)
    env = server._environment(database, secrets)
    assert "PREFECT_API_URL" not in env and "PREFECT_API_DATABASE_CONNECTION_URL" not in env
    assert env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] == "10"  # passed through
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == secrets.auth_string
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == (
        f"postgresql+asyncpg://{server.database}:{secrets.database_password}"
        f"@127.0.0.1:5432/{server.database}"
    )
    assert (env["PREFECT_SERVER_API_PORT"], env["PREFECT_HOME"]) == (
        "4333", str(tmp_path / "prefect-server" / "home"),
    )  # fmt: skip


def test_a_port_held_by_another_listener_is_refused_before_postgresql_is_touched(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"port {port} .*--prefect-port"):
            LocalPrefectServer(tmp_path, port=port).start()
    assert not (tmp_path / "prefect-server" / "secrets.json").exists()


def test_a_forecast_command_talks_to_the_running_local_server_unless_an_api_is_set(
    tmp_path, monkeypatch
):
    from flows.state import use_local_prefect_server

    monkeypatch.setenv("FORECAST_HOME", str(tmp_path))
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING"):
        monkeypatch.delenv(name, raising=False)
    assert use_local_prefect_server() is None  # not running: the ephemeral API, as before
    assert "PREFECT_API_URL" not in os.environ

    process = _fake_server(tmp_path, port=4322)
    try:
        auth = LocalPrefectServer(tmp_path).secrets().auth_string
        assert use_local_prefect_server() == "http://127.0.0.1:4322/api"
        assert os.environ["PREFECT_API_AUTH_STRING"] == auth
        # the user's own API wins, and gets no auth string of ours
        monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
        monkeypatch.delenv("PREFECT_API_AUTH_STRING")
        assert use_local_prefect_server() is None
        assert "PREFECT_API_AUTH_STRING" not in os.environ
        # the local server named by the user gets its auth string
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4322/api")
        assert use_local_prefect_server() == "http://127.0.0.1:4322/api"
        assert os.environ["PREFECT_API_AUTH_STRING"] == auth
    finally:
        process.kill()
        process.wait()


def test_a_state_file_that_is_not_json_is_named_not_taken_for_a_stopped_server(tmp_path):
    server = LocalPrefectServer(tmp_path)
    server.directory.mkdir(parents=True)
    server.state_file.write_text('{"pid": 12')  # what a hand edit or a foreign write leaves
    with pytest.raises(ConfigurationError, match=r"server\.json is not the JSON") as raised:
        server.status()
    assert "forecast setup" in str(raised.value)
