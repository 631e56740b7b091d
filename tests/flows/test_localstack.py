"""The embedded local MongoDB: a real SecantusDB process started, restarted and stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime

import pymongo
import pytest

from forecast.errors import ConfigurationError
from forecast.localstack import LocalMongo
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
