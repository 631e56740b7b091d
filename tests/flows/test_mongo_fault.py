"""Fault tolerance of the load against a real server process that is killed and restarted.

SecantusDB runs with on-disk storage so a restart reopens the same data; the server is killed
with SIGKILL (no clean shutdown) in the middle of a load.
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from forecast import mongo
from forecast.errors import TransientError
from forecast.mongo.plan import RunContext, write_plan
from forecast.mongo.reconcile import reconcile
from forecast.quality.validate import validate
from forecast.samples import write_demo_landing
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from tests.flows.test_mongo_adapter import plans as sample_plans
from tests.support import SecantusServer, free_port

RUN = RunContext("run-fault", datetime(2024, 10, 16, tzinfo=UTC))


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    landing = tmp_path_factory.mktemp("demo")
    write_demo_landing(landing)
    parsed = []
    for path in sorted(landing.rglob("*")):
        if path.suffix in (".json", ".xlsx"):
            content = path.read_bytes()
            raw = RawFile(path.name, content, path.name, hashlib.sha256(content).hexdigest())
            parsed.append((infoclimat if path.suffix == ".json" else wunderground).parse(raw))
    observations = pa.concat_tables([p.observations for p in parsed])
    stations = pa.concat_tables([p.stations for p in parsed])
    valid = validate(observations, stations=stations).valid
    return write_plan(valid, stations, RUN)


@pytest.fixture
def server(tmp_path: Path):
    process = SecantusServer(tmp_path / "run", storage=str(tmp_path / "data"), port=free_port())
    process.start()
    yield process
    process.stop()


def _kill(server: SecantusServer) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)


def _kill_when_loading(server: SecantusServer, database: str) -> threading.Thread:
    """Kill the server as soon as the first documents of ``database`` are stored."""

    def watch() -> None:
        client = server.client()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if client[database]["weather_measurements"].estimated_document_count() > 0:
                break
            time.sleep(0.01)
        client.close()
        _kill(server)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _documents(server: SecantusServer, database: str) -> dict[str, dict]:
    client = server.client()
    try:
        return {doc["_id"]: doc for doc in client[database]["weather_measurements"].find()}
    finally:
        client.close()


def _target(server: SecantusServer, database: str, **overrides) -> mongo.MongoTarget:
    return mongo.MongoTarget(uri=server.uri, database=database, batch_size=50, **overrides)


def test_killed_mid_load_then_restarted_a_rerun_gives_the_clean_run_s_collection(server, plans):
    total = sum(len(p) for p in plans)
    faulty = _target(server, "faulty", attempts=2, backoff_s=0.05)
    watcher = _kill_when_loading(server, "faulty")
    with pytest.raises(TransientError), mongo.connect(faulty, timeout_ms=500) as client:
        mongo.ensure_collections(client, faulty)
        mongo.load(client, faulty, plans)
    watcher.join(timeout=60)

    server.start()  # same port, same storage
    partial = len(_documents(server, "faulty"))
    assert 0 < partial < total  # the kill really happened mid-load

    with mongo.connect(faulty) as client:
        rerun = mongo.load(client, faulty, plans)
        check = reconcile(client, faulty, plans)
    assert rerun.failed == 0 and rerun.input == total
    assert check.ok and check.checked == total

    clean = _target(server, "clean")
    with mongo.connect(clean) as client:
        mongo.ensure_collections(client, clean)
        mongo.load(client, clean, plans)
    assert _documents(server, "faulty") == _documents(server, "clean")


def test_a_restart_within_the_backoff_lets_the_same_load_finish(server, plans):
    # Server selection gives up after 300 ms, so the driver's own retry cannot bridge the
    # 1.5 s outage: the loader's per-batch retry with backoff must.
    total = sum(len(p) for p in plans)
    target = _target(server, "resumed", attempts=8, backoff_s=0.5)
    watcher = _kill_when_loading(server, "resumed")

    def restart() -> None:
        watcher.join(timeout=60)
        time.sleep(1.5)
        server.start()

    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    with mongo.connect(target, timeout_ms=300) as client:
        mongo.ensure_collections(client, target)
        counts = mongo.load(client, target, plans)
    restarter.join(timeout=60)
    assert counts.retries >= 1 and counts.failed == 0
    with mongo.connect(target) as client:
        assert reconcile(client, target, plans).ok
    assert len(_documents(server, "resumed")) == total


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory):
    process = SecantusServer(tmp_path_factory.mktemp("fp"), test_commands=True)
    process.start()
    yield process
    process.stop()


def _fail_writes(server: SecantusServer, times: int, data: dict) -> None:
    client = server.client()
    try:
        client.admin.command(
            "configureFailPoint", "failCommand",
            mode={"times": times}, data={"failCommands": ["insert", "update"], **data},
        )  # fmt: skip
    finally:
        client.close()


@pytest.mark.parametrize(
    "failure",
    [
        {"errorCode": 10107, "errmsg": "not writable primary"},  # NotWritablePrimary
        {"errorCode": 91, "errmsg": "shutdown in progress"},
        {"writeConcernError": {"code": 64, "errmsg": "waiting for replication timed out"}},
        {"closeConnection": True},  # the network drops mid-batch
    ],
    ids=[
        "not-writable-primary",
        "shutdown-in-progress",
        "write-concern-timeout",
        "connection-closed",
    ],
)
def test_transient_server_errors_rerun_the_batch_until_it_is_written(
    failing_server, failure, request
):
    database = f"flaky_{request.node.callspec.id.replace('-', '_')}"
    plans = sample_plans()
    # A "not primary"/shutdown error makes pymongo forget the server until its next check:
    # check every 500 ms, as a test can afford (production keeps the 10 s default).
    target = mongo.MongoTarget(
        uri=f"{failing_server.uri}?heartbeatFrequencyMS=500", database=database, batch_size=2,
        attempts=6, backoff_s=0.01,
    )  # fmt: skip
    with mongo.connect(target) as client:
        mongo.prepare(client, target)
        # pymongo retries a retryable write once by itself; 3 failures outlast that retry.
        _fail_writes(failing_server, 3, failure)
        counts = mongo.load(client, target, plans)
        check = reconcile(client, target, plans)
    total = sum(len(p) for p in plans)  # 5 documents in batches of 2
    assert counts.failed == 0 and counts.retries >= 1
    assert check.ok and check.checked == total
    assert len(_documents(failing_server, database)) == total
