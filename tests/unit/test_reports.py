"""Run reports built from tiny tables: migration, latency and run status (quality: test_quality)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from forecast.mongo import LoadCounts, QueryTiming
from forecast.mongo.load import Refusal
from forecast.run.reports import (
    FileOutcome,
    LatencyReport,
    RunStatus,
    migration_report,
    run_state,
)


def plain(value) -> bool:
    """True when ``value`` is made only of JSON's own types (no datetime, numpy, ...)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_migration_report_rates_and_throughput():
    counts = LoadCounts(
        input=200,
        inserted=150,
        updated=10,
        unchanged=30,
        failed=10,
        refusals=[Refusal(f"S:{i}", i, "code 11000: dup") for i in range(10)],
    )
    report = migration_report(counts, duration_s=4.0, stations_upserted=3)
    (row,) = report.to_rows()
    assert (row["error_rate"], row["docs_per_s"], row["duration_s"]) == (0.05, 50.0, 4.0)
    assert report.to_dict()["failures"][0] == {"_id": "S:0", "error": "code 11000: dup"}
    assert report.to_dict()["stations_upserted"] == 3
    assert plain(report.to_dict()) and plain(report.to_rows())
    json.dumps(report.to_dict(), allow_nan=False)


def test_migration_report_of_nothing_has_zero_rates():
    report = migration_report(LoadCounts(), duration_s=0.0, stations_upserted=0)
    assert (report.error_rate, report.documents_per_second) == (0.0, 0.0)


def test_migration_report_lists_at_most_a_hundred_failures():
    counts = LoadCounts(
        input=150, failed=150, refusals=[Refusal(str(i), i, "e") for i in range(150)]
    )
    report = migration_report(counts, duration_s=1.0, stations_upserted=0)
    assert len(report.to_dict()["failures"]) == 100
    assert report.error_rate == 1.0


def timing(*ms: float) -> QueryTiming:
    return QueryTiming("station_day", "one station, one day", ms, 7, "IXSCAN station_id_timestamp")


def test_latency_rows_give_min_avg_median_p95_max():
    report = LatencyReport(5, (timing(5.0, 1.0, 3.0, 2.0, 4.0),))
    (row,) = report.to_rows()
    assert row == {
        "query": "station_day",
        "description": "one station, one day",
        "runs": 5,
        "min_ms": 1.0,
        "avg_ms": 3.0,
        "p50_ms": 3.0,
        "p95_ms": 5.0,
        "max_ms": 5.0,
        "rows": 7,
        "matching": "-",
        "plan": "IXSCAN station_id_timestamp",
    }


def test_latency_p95_of_twenty_timings_is_the_nineteenth():
    stats = timing(*(float(v) for v in range(20, 0, -1))).stats
    assert (stats["p50_ms"], stats["p95_ms"], stats["max_ms"]) == (10.5, 19.0, 20.0)


def test_latency_outputs_hold_only_json_types_and_keep_raw_timings():
    report = LatencyReport(2, (timing(1.23456, 2.0),))
    assert report.to_rows()[0]["min_ms"] == 1.235
    assert report.to_dict()["queries"][0]["timings_ms"] == [1.23456, 2.0]
    assert plain(report.to_rows()) and plain(report.to_dict())
    assert "## MongoDB query latency (up to 2 iterations)" in report.to_markdown()
    budgeted = LatencyReport(2, (timing(1.0),), budget_s=5.0, row_cap=1000, duration_s=0.2)
    assert "up to 2 iterations, 5.0 s budget, 1000 rows per query" in budgeted.to_markdown()
    assert (budgeted.to_dict()["budget_s"], budgeted.to_dict()["row_cap"]) == (5.0, 1000)


def outcome(name: str, error: str | None = None, status: str = "parsed") -> FileOutcome:
    return FileOutcome(name, "infoclimat", "a" * 64, f"raw/{name}", "ingested", error, status)


def migrated(failed: int) -> object:
    counts = LoadCounts(input=10, inserted=10 - failed, failed=failed)
    return migration_report(counts, duration_s=1.0, stations_upserted=1)


@pytest.mark.parametrize(
    ("files", "failed_documents", "state"),
    [
        ((outcome("a"), outcome("b")), 0, "success"),
        ((), None, "partial"),  # nothing read is not a success
        ((outcome("a", status="ignored"),), 0, "partial"),
        ((outcome("a"), outcome("b", status="ignored")), 0, "success"),
        ((outcome("a", "bad"), outcome("b", status="ignored")), 0, "failed"),
        ((outcome("a"), outcome("b", "bad sheet")), 0, "partial"),
        ((outcome("a"),), 2, "partial"),
        ((), 1, "partial"),
        ((outcome("a", "bad"), outcome("b", "bad")), 0, "failed"),
        ((outcome("a", "bad"),), None, "failed"),
    ],
)
def test_run_state(files, failed_documents, state):
    migration = None if failed_documents is None else migrated(failed_documents)
    assert run_state(files, migration) == state


def test_held_partitions_make_the_run_held_unless_every_file_failed():
    assert run_state((outcome("a"),), migrated(0), held=True) == "held"
    assert run_state((outcome("a"),), migrated(1), held=True) == "held"
    assert run_state((outcome("a", "bad"),), None, held=True) == "failed"


def test_run_status_file_and_rows_hold_only_json_types():
    started = datetime(2024, 10, 8, 6, 0, tzinfo=UTC)
    status = RunStatus(
        run_id="r1",
        status="partial",
        started_at=started,
        finished_at=started + timedelta(seconds=90, milliseconds=500),
        window={"start": None, "end": "2024-10-07"},
        files=(outcome("a.json"), outcome("b.xlsx", "sheet '0110' missing")),
        quality={"records_extracted": 1},
        migration=migrated(0).to_dict(),
    )
    document = status.to_dict()
    assert (document["duration_s"], document["files_failed"]) == (90.5, 1)
    assert document["started_at"] == "2024-10-08T06:00:00+00:00"
    assert status.to_rows()[1] == {
        "file": "b.xlsx",
        "source": "infoclimat",
        "ingest": "ingested",
        "status": "failed",
        "sha256": "aaaaaaaaaaaa",
        "error": "sheet '0110' missing",
    }
    assert plain(document) and plain(status.to_rows())
    json.dumps(document, allow_nan=False)
