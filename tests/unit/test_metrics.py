"""EMF documents of a run built from run statuses (forecast/run/metrics.py)."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from forecast.mongo import QueryTiming
from forecast.quality.validate import Window
from forecast.run.metrics import MetricContext, emf_documents, emf_lines, run_metrics
from forecast.run.reports import FileOutcome, LatencyReport, RunStatus, failed_run_status
from tests.unit.emf import check_emf, metric_values

T0 = datetime(2024, 10, 7, 22, 0, tzinfo=UTC)
CONTEXT = MetricContext(environment="prod", flow="forecast-pipeline", deployment="weekly")
QUALITY = {
    "records_extracted": 1000, "records_outside_window": 0, "duplicates_collapsed": 2,
    "records_validated": 950, "records_rejected": 40, "records_held": 8,
    "rejection_rate": 0.040080, "completeness_score": 97.25, "anomalies_detected": 3,
    "records_with_anomalies": 3, "mean_score": 99.1,
}  # fmt: skip
MIGRATION = {"input": 950, "inserted": 900, "updated": 40, "unchanged": 9, "failed": 1,
             "docs_per_s": 812.5, "duration_s": 1.17}  # fmt: skip


def _file(name: str, error: str | None = None) -> FileOutcome:
    return FileOutcome(name=name, source="infoclimat", sha256="ab" * 32, raw_key=f"raw/{name}",
                       ingest_status="ingested", error=error)  # fmt: skip


def _status(state: str = "success", **changes) -> RunStatus:
    fields = dict(
        run_id="run-1", status=state, started_at=T0, finished_at=T0 + timedelta(seconds=84.5),
        window={"start": "2024-10-01", "end": "2024-10-07"},
        files=(_file("a.json"), _file("b.json", error="SourceFormatError: truncated")),
        quality=QUALITY, migration=MIGRATION,
    )  # fmt: skip
    return RunStatus(**(fields | changes))


def _latency() -> LatencyReport:
    return LatencyReport(
        iterations=20,
        queries=(
            QueryTiming("station_day", "one station", tuple(float(i) for i in range(1, 21)), 24,
                        "IXSCAN station_id_timestamp"),
            QueryTiming("near_point", "near", (4.0, 2.5), 10, "IXSCAN location_geo"),
        ),
    )  # fmt: skip


def test_a_successful_run_gives_one_valid_emf_line_with_every_run_metric():
    (line,) = emf_lines(_status(), CONTEXT)
    document = check_emf(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Forecast/Pipeline"
    assert directive["Dimensions"] == [["Environment"], ["Environment", "Flow", "Deployment"]]
    assert (document["Environment"], document["Flow"], document["Deployment"]) == (
        "prod", "forecast-pipeline", "weekly",
    )  # fmt: skip
    assert document["_aws"]["Timestamp"] == int((T0 + timedelta(seconds=84.5)).timestamp() * 1000)
    assert metric_values(document) == {
        "RunSucceeded": (1, "Count"),
        "Duration": (84.5, "Seconds"),
        "FilesFailed": (1, "Count"),
        "RecordsExtracted": (1000, "Count"),
        "RecordsValidated": (950, "Count"),
        "RecordsRejected": (40, "Count"),
        "RecordsHeld": (8, "Count"),
        "RejectionRate": (4.008, "Percent"),
        "Completeness": (97.25, "Percent"),
        "DocumentsInserted": (900, "Count"),
        "DocumentsUpdated": (40, "Count"),
        "LoadFailures": (1, "Count"),
        "DocumentsLoadedPerSecond": (812.5, "Count/Second"),
    }
    assert (document["RunId"], document["Status"]) == ("run-1", "success")


def test_disputed_observations_are_a_metric_of_their_own():
    status = dataclasses.replace(
        _status(), quality=_status().quality | {"duplicates_conflicting": 6}
    )
    (line,) = emf_lines(status, CONTEXT)
    assert metric_values(check_emf(line))["DuplicatesConflicting"] == (6, "Count")


@pytest.mark.parametrize("state", ["partial", "held", "failed"])
def test_only_a_success_counts_as_a_succeeded_run(state):
    assert run_metrics(_status(state))["RunSucceeded"] == (0, "Count")


def test_each_standard_query_gets_its_own_p95_line_with_a_query_dimension():
    run_line, *query_lines = emf_lines(_status(), CONTEXT, _latency())
    check_emf(run_line)
    documents = [check_emf(line) for line in query_lines]
    assert [d["Query"] for d in documents] == ["station_day", "near_point"]
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Dimensions"] == [
            ["Environment", "Query"], ["Environment", "Flow", "Deployment", "Query"],
        ]  # fmt: skip
    # nearest-rank p95 of 1..20 ms is 19 ms; of two runs, the slower one
    assert [metric_values(d) for d in documents] == [
        {"QueryLatencyP95": (19.0, "Milliseconds")},
        {"QueryLatencyP95": (4.0, "Milliseconds")},
    ]


def test_a_run_failed_before_validation_declares_only_what_it_measured():
    status = failed_run_status(
        run_id="run-2", started_at=T0, finished_at=T0 + timedelta(seconds=3), window=Window(),
        stage="ingest", cause="ForecastError: landing s3://bucket/x does not exist",
        migration={"partitions_loaded": 0},
    )  # fmt: skip
    (line,) = emf_lines(status, CONTEXT)
    document = check_emf(line)
    assert metric_values(document) == {
        "RunSucceeded": (0, "Count"), "Duration": (3.0, "Seconds"), "FilesFailed": (0, "Count"),
    }  # fmt: skip
    assert document["Status"] == "failed"
    assert "cause" not in line and "does not exist" not in line  # no free text in metrics


def test_a_failed_load_reports_the_documents_loaded_before_the_failure():
    status = failed_run_status(
        run_id="run-3", started_at=T0, finished_at=T0 + timedelta(seconds=30), window=Window(),
        stage="load", cause="TransientError: unreachable", quality=QUALITY,
        migration={"partitions_loaded": 1, "input": 500, "inserted": 480, "updated": 0,
                   "unchanged": 0, "failed": 20},
    )  # fmt: skip
    values = metric_values(check_emf(emf_lines(status, CONTEXT)[0]))
    assert values["DocumentsInserted"] == (480, "Count") and values["LoadFailures"] == (20, "Count")
    assert values["RejectionRate"] == (4.008, "Percent")
    assert "DocumentsLoadedPerSecond" not in values  # not measured for a partial load


def test_non_finite_or_non_numeric_values_are_left_out():
    quality = QUALITY | {"completeness_score": float("nan"), "records_held": None,
                         "records_rejected": True}  # fmt: skip
    values = run_metrics(_status(quality=quality))
    assert {"Completeness", "RecordsHeld", "RecordsRejected"}.isdisjoint(values)
    check_emf(emf_lines(_status(quality=quality), CONTEXT)[0])


def test_the_namespace_and_environment_come_from_the_context():
    context = MetricContext(namespace="Forecast/Staging", environment="staging")
    (document,) = emf_documents(_status(), context)
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Forecast/Staging"
    assert (document["Environment"], document["Deployment"]) == ("staging", "none")
