"""What a run tells the platform, end to end: EMF metric lines on stdout, JSON log lines on
stderr (``FORECAST_LOG_FORMAT=json``), and no secret anywhere.

The sentinel run is ``forecast run`` in a child process, as an operator or a container runs it:
its own stdout and stderr, Prefect's logging configured from scratch (``flows/logging.yml``
through ``PREFECT_LOGGING_SETTINGS_PATH``, the way a worker-started flow run gets it), against
the session's Prefect test API and a SecantusDB that requires SCRAM credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest

from flows.cli import main
from forecast.samples import write_demo_landing
from tests.support import SecantusServer, artifacts, free_port
from tests.unit.emf import check_emf, metric_values

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "Sentinel-7c1f9e-pw"  # the password: must never be written anywhere
USER = "observer"


def _uri(port: int, password: str = SENTINEL) -> str:
    return f"mongodb://{USER}:{password}@127.0.0.1:{port}/?authSource=admin&serverSelectionTimeoutMS=3000"


@pytest.fixture(scope="module")
def auth_port(tmp_path_factory):
    """Yield the port of a SecantusDB with --auth and one user whose password is the sentinel."""
    home = tmp_path_factory.mktemp("auth")
    storage, port = str(home / "data"), free_port()
    plain = SecantusServer(home / "setup", storage=storage, port=port)
    plain.start()
    plain.client().admin.command(
        "createUser", USER, pwd=SENTINEL,
        roles=[{"role": "readWrite", "db": "forecast_2_0"}, {"role": "dbAdmin", "db": "forecast_2_0"}],
    )  # fmt: skip
    plain.stop()
    server = SecantusServer(home / "run", storage=storage, port=port, extra_args=["--auth"])
    server.probe_uri = _uri(port)
    server.start()
    yield port
    server.stop()


def _latency_queries_alarmed() -> list[str]:
    variables = hcl2.loads(
        (ROOT / "infra/terraform/modules/monitoring/variables.tf").read_text(encoding="utf-8")
    )["variable"]
    (body,) = [v['"latency_queries"'] for v in variables if '"latency_queries"' in v]
    return [name.strip('"') for name in body["default"]]


def _artifacts_text() -> str:
    """Every artifact of the session's API (all pages, not the first 200)."""
    return "\n".join(a.model_dump_json() for a in artifacts())


def test_a_run_with_a_sentinel_password_writes_json_logs_and_emf_and_never_the_password(
    tmp_path, stack, auth_port
):
    from prefect.settings import PREFECT_API_URL

    params = stack(tmp_path)
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    env = {
        **os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
        "FORECAST_LOG_FORMAT": "json", "FORECAST_ENVIRONMENT": "observability-test",
        "PYTHONPATH": str(ROOT), "FORECAST_MONGO_URI": _uri(auth_port),
        "FORECAST_EMF": "stdout",  # as the ECS deployments set it (prefect.yaml)
    }  # fmt: skip
    env.pop("PREFECT_LOGGING_SETTINGS_PATH", None)  # forecast run chooses it (JSON requested)
    env.pop("PREFECT_LOGGING_LEVEL", None)  # and the level: the run's INFO lines, as JSON
    command = [sys.executable, "-m", "flows.cli", "run", "--landing", str(landing),
               "--lake-block", params.lake_block,
               "--work-dir", str(tmp_path / "work"), "--latency-budget", "2"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out, err = result.stdout, result.stderr
    assert result.returncode == 0, (out[-3000:], err[-3000:])

    # stdout: the run summary, then EMF documents; every line starting with "{" is one.
    emf = [check_emf(line) for line in out.splitlines() if line.startswith("{")]
    run_line, *query_lines = emf
    values = metric_values(run_line)
    assert values["RunSucceeded"] == (1, "Count") and run_line["Status"] == "success"
    assert values["RecordsExtracted"] == (1619, "Count")
    assert values["DocumentsInserted"][0] == values["RecordsValidated"][0] > 0
    assert (run_line["Environment"], run_line["Flow"], run_line["Deployment"]) == (
        "observability-test", "forecast-pipeline", "none",
    )  # fmt: skip
    assert run_line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Forecast/Pipeline"
    # one p95 document per standard query, exactly the queries the Terraform alarms watch
    assert sorted(d["Query"] for d in query_lines) == sorted(_latency_queries_alarmed())
    assert all(metric_values(d)["QueryLatencyP95"][1] == "Milliseconds" for d in query_lines)

    # stderr: only JSON log lines, each with the required keys.
    logs = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert logs, err[-2000:]
    for entry in logs:
        assert {"timestamp", "level", "run_id", "flow", "task", "message"} <= set(entry), entry
    flow_records = [e for e in logs if e["logger"].startswith("prefect.flow_runs")]
    task_records = [e for e in logs if e["logger"].startswith("prefect.task_runs")]
    assert flow_records and task_records
    assert all(e["run_id"] and e["flow"] for e in flow_records + task_records)
    assert all(e["task"] for e in task_records)
    pipeline_ids = {e["run_id"] for e in flow_records if e["flow"] == "forecast-pipeline"}
    assert pipeline_ids == {run_line["RunId"]}  # the logs and the metrics name the same run
    ready = [e for e in task_records if e["task"] == "prepare_collections"]
    assert any(f"mongodb://***@127.0.0.1:{auth_port}/" in e["message"] for e in ready), ready

    # The sentinel is nowhere: output, the lake (reports, zones), the Prefect artifacts.
    lake_text = "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in stack.lake.rglob("*") if p.is_file()
    )
    reports = list((stack.lake / "reports").rglob("*.json"))
    assert any(p.name == "pipeline_status.json" for p in reports)
    artifacts = _artifacts_text()
    assert run_line["RunId"] in artifacts
    for text in (out, err, lake_text, artifacts):
        assert SENTINEL not in text and f"{USER}:" not in text


def test_a_run_that_fails_in_a_stage_still_emits_its_metrics(tmp_path, stack, capsys, monkeypatch):
    monkeypatch.setenv("FORECAST_EMF", "stdout")
    params = stack(tmp_path)
    code = main(["run", "--landing", str(tmp_path / "nowhere"), "--lake-block", params.lake_block,
                 "--mongo-block", params.mongo_block])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    (line,) = [line for line in out.splitlines() if line.startswith("{")]
    document = check_emf(line)
    assert document["Status"] == "failed" and metric_values(document)["RunSucceeded"] == (
        0,
        "Count",
    )
    assert "RecordsExtracted" not in metric_values(document)  # failed before anything was read
    assert (document["Environment"], document["Deployment"]) == ("local", "none")
    kept = json.loads(
        (stack.lake / "reports" / f"run={document['RunId']}" / "metrics.json").read_text()
    )
    assert kept == [document]  # the run's reports keep them too


def test_a_local_run_keeps_its_metrics_in_its_reports_and_a_plain_summary(
    tmp_path, stack, capsys, monkeypatch
):
    """Issue 21, point 5: no EMF lines on a terminal unless asked (FORECAST_EMF=stdout)."""
    monkeypatch.delenv("FORECAST_EMF", raising=False)
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    params = stack(landing)
    code = main(["run", "--landing", str(landing), "--lake-block", params.lake_block,
                 "--mongo-block", params.mongo_block, "--latency-budget", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert not any(line.startswith("{") for line in out.splitlines())  # no EMF document
    assert out.splitlines()[0].startswith("run ")  # the summary, plain text
    run_id = out.split()[1].rstrip(":")
    (run_line, *queries) = [
        check_emf(json.dumps(d))
        for d in json.loads((stack.lake / "reports" / f"run={run_id}" / "metrics.json").read_text())
    ]
    assert metric_values(run_line)["RunSucceeded"] == (1, "Count") and queries
