"""A run that fails still reports: the server killed mid-load, a stage that raises; the rerun."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

import flows.load
from blocks.local import save_local_lake, save_mongo
from flows.cli import main
from flows.params import RunParams
from flows.pipeline import forecast_pipeline
from forecast.errors import RunFailed
from forecast.samples import write_demo_landing
from tasks.load import load_partition, prepare_collections
from tests.flows.test_mongo_fault import _kill_when_loading
from tests.support import DEMO_COUNTS, SecantusServer, artifacts, free_port, without_progress

TOTAL = sum(DEMO_COUNTS.values())


@pytest.fixture
def server(tmp_path: Path):
    process = SecantusServer(tmp_path / "run", storage=str(tmp_path / "data"), port=free_port())
    process.start()
    yield process
    process.stop()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    write_demo_landing(tmp_path / "landing")
    return tmp_path / "landing"


def _params(tmp_path: Path, server: SecantusServer, landing: Path, database: str) -> RunParams:
    suffix = uuid.uuid4().hex[:8]
    save_local_lake(tmp_path / f"lake-{database}", name=f"lake-{suffix}")
    # one batch try, a short server selection: a dead server fails the load at once
    save_mongo(f"{server.uri}?serverSelectionTimeoutMS=300", name=f"mongo-{suffix}",
               database=database, attempts=1, batch_size=50)  # fmt: skip
    return RunParams(landing=str(landing), lake_block=f"lake-{suffix}", mongo_block=f"mongo-{suffix}",
                     latency_iterations=1, work_dir=str(tmp_path / "work"))  # fmt: skip


def _documents(server: SecantusServer, database: str) -> dict[str, dict]:
    client = server.client()
    try:
        found = client[database]["weather_measurements"].find()
        return {d["_id"]: {**d, "metadata": _data_only(d["metadata"])} for d in found}
    finally:
        client.close()


def _data_only(metadata: dict) -> dict:
    """A document's metadata without the fields of the run that first inserted it."""
    return {k: v for k, v in metadata.items() if k not in ("run_id", "ingested_at")}


def _status_artifact(run_id: str) -> str:
    found = artifacts(run_id, "forecast-run-status")
    return str(max(found, key=lambda a: a.created).data) if found else ""


def test_server_killed_mid_load_leaves_a_failed_status_and_a_rerun_equals_a_clean_run(
    tmp_path, server, landing, monkeypatch
):
    # no task-level retry: the block's single batch try is the whole story of this load
    monkeypatch.setattr(flows.load, "load_partition", load_partition.with_options(retries=0))
    params = _params(tmp_path, server, landing, "faulty")
    watcher = _kill_when_loading(server, "faulty")
    with pytest.raises(RunFailed) as raised:
        forecast_pipeline(params)
    watcher.join(timeout=60)
    status = raised.value.status.to_dict()
    assert (status["status"], status["failure"]["stage"]) == ("failed", "load")
    assert status["failure"]["cause"].startswith("TransientError: ")
    assert "$clusterTime" not in json.dumps(status)
    assert status["quality"]["records_validated"] == TOTAL  # validation had finished
    written = (
        tmp_path / "lake-faulty" / "reports" / f"run={status['run_id']}" / "pipeline_status.json"
    )
    assert json.loads(written.read_text())["failure"] == status["failure"]
    latest = tmp_path / "lake-faulty" / "reports" / "latest" / "pipeline_status.json"
    assert json.loads(latest.read_text())["status"] == "failed"
    artifact = _status_artifact(status["run_id"])
    assert "# Run failed" in artifact and "failed in load" in artifact

    server.start()  # same storage: whatever the kill left
    stored = len(_documents(server, "faulty"))
    assert stored < TOTAL
    # row 9: the report counts what the server acknowledged before it died (every batch noted),
    # and says that it could not ask the dead server what it holds
    assert 0 < status["migration"]["inserted"] <= stored
    assert status["migration"]["committed_on_server"] is None
    again = forecast_pipeline(params)
    assert again.status == "success" and again.migration["reconciliation"]["missing"] == 0

    clean = forecast_pipeline(_params(tmp_path, server, landing, "clean"))
    assert clean.status == "success"
    assert _documents(server, "faulty") == _documents(server, "clean")


def test_the_cli_prints_the_failed_run_and_one_line_of_error(
    tmp_path, server, landing, capsys, monkeypatch
):
    monkeypatch.setattr(
        flows.load, "prepare_collections", prepare_collections.with_options(retries=0)
    )
    params = _params(tmp_path, server, landing, "stopped")
    server.stop()  # nothing is listening: the load stage cannot reach MongoDB
    code = main(
        [
            "run",
            "--landing",
            str(landing),
            "--lake-block",
            params.lake_block,
            "--mongo-block",
            params.mongo_block,
            "--work-dir",
            str(tmp_path / "work"),
            "--force",
        ]
    )  # fmt: skip (no ledger lookup: the first MongoDB call is the load's)
    out, err = capsys.readouterr()
    assert code == 1
    assert "failed in load" in out and "mongo before the failure: nothing acknowledged" in out
    assert "the server could not be asked what it holds" in out  # it is the one that is gone
    assert "files: 3 (0 failed)" in out  # ingested before the failure
    (line,) = without_progress(err).strip().splitlines()
    assert line.startswith("forecast run: error: failed in load: ") and "unreachable" in line
    assert "Topology" not in line and len(line) < 300


def test_a_full_lake_after_the_load_names_the_report_stage_and_keeps_what_was_loaded(
    tmp_path, server, landing, capsys, monkeypatch
):
    """Issue 20, row 7: the load and the ledger are done, then the reports zone is full. The run
    says it failed in "report", with the documents it loaded, and that its report was not
    written; no report is left half written."""
    import errno

    from forecast.lake.store import LocalZone

    params = _params(tmp_path, server, landing, "full")
    reports = tmp_path / "lake-full" / "reports"
    (reports / "latest").mkdir(parents=True)
    (reports / "latest" / "pipeline_status.json").write_text('{"status": "success"}')
    real_write = LocalZone.write

    def full(self, key: str, content: bytes) -> None:
        if self.root == reports.resolve():  # a full disk: half the bytes, then ENOSPC
            temporary = self.root / key
            temporary.parent.mkdir(parents=True, exist_ok=True)
            raise OSError(errno.ENOSPC, "No space left on device", str(temporary))
        real_write(self, key, content)

    monkeypatch.setattr(LocalZone, "write", full)
    monkeypatch.setenv("FORECAST_EMF", "stdout")
    code = main(["run", "--landing", str(landing), "--lake-block", params.lake_block,
                 "--mongo-block", params.mongo_block, "--work-dir", str(tmp_path / "work")])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert "failed in report" in out
    assert f"mongo before the failure: 1 partition(s) loaded, inserted {TOTAL}" in out
    assert f"the server holds {TOTAL} document(s) this run inserted" in out
    assert "status: NOT WRITTEN (OSError: [Errno 28] No space left on device" in out
    (line,) = without_progress(err).strip().splitlines()
    assert line.startswith("forecast run: error: failed in report: OSError: [Errno 28]")
    assert "its run report could not be written either" in line
    assert '"RunSucceeded":0' in out
    # the earlier report is intact: nothing was half written over it
    assert json.loads((reports / "latest" / "pipeline_status.json").read_text()) == {
        "status": "success"
    }
    assert len(_documents(server, "full")) == TOTAL
