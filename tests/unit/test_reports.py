"""Run reports built from tiny tables: quality, migration, latency and run status."""

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from forecast.mongo import LoadCounts, QueryTiming
from forecast.reports import (
    FileOutcome,
    LatencyReport,
    RunStatus,
    migration_report,
    quality_report,
    run_state,
)
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, STATIONS, conform
from forecast.validate import Window, validate

WINDOW = Window(end=date(2024, 10, 7))
CORE = {
    "temperature": 15.0,
    "dew_point": 10.0,
    "humidity": 70.0,
    "pressure": 1010.0,
    "wind_speed": 5.0,
    "wind_direction": 90.0,
}


def at(minute: int, day: int = 5) -> datetime:
    return datetime(2024, 10, day, 0, minute, tzinfo=UTC)


def observations(station_id: str, source: str, *rows: dict) -> list[dict]:
    lineage = {
        "station_id": station_id,
        "source": source,
        "source_file": f"{station_id}.file",
        "raw_key": f"raw/{station_id}",
        "raw_sha256": "sha",
        "flags": [],
        "parse_errors": [],
    }
    filled = []
    for i, row in enumerate(rows):
        where = {"sheet": "051024", "row": 3 + i} if source == "wunderground" else {}
        where = where or {"record_index": i}
        record = dict.fromkeys(MEASUREMENT_KEYS) | lineage | CORE | where
        filled.append(record | {"wind_gust": 8.0, "timestamp": at(i)} | row)
    return filled


def table(*groups: list[dict]) -> pa.Table:
    rows = [row for group in groups for row in group]
    filled = [{f.name: None for f in OBSERVATIONS} | row for row in rows]
    return conform(pa.Table.from_pylist(filled), OBSERVATIONS)


def stations(*rows: tuple[str, str, list[str]]) -> pa.Table:
    return conform(
        pa.Table.from_pylist(
            [
                {f.name: None for f in STATIONS}
                | {
                    "station_id": sid,
                    "name": sid,
                    "network": network,
                    "type": "t",
                    "latitude": 50.0,
                    "longitude": 3.0,
                    "timezone": "Europe/Paris",
                    "measurements": provided,
                }
                for sid, network, provided in rows
            ],
            schema=STATIONS,
        ),
        STATIONS,
    )


WU = observations(
    "ILAMAD25",
    "wunderground",
    {},  # clean
    {"dew_point": 15.6},  # warns dew_point_above_temperature
    {"wind_gust": 2.0, "humidity": None},  # warns gust_below_speed, humidity missing
    {"timestamp": at(0)},  # duplicate of the first row: rejected
    {"flags": ["wind_calm"], "wind_direction": None, "wind_gust": None},  # information only
)
IC = observations(
    "07015",
    "infoclimat",
    {},  # clean
    {"pressure": 700.0},  # rejected: range_pressure
    {"humidity": 140.0, "temperature": 99.0},  # rejected by two rules
    {"timestamp": at(3, day=10)},  # outside the window
    {"pressure": None},
)
STATION_TABLE = stations(
    (
        "ILAMAD25",
        "wunderground",
        ["temperature", "dew_point", "humidity", "wind_speed", "wind_gust"],
    ),
    ("07015", "infoclimat", ["temperature", "pressure"]),
    ("UNSEEN", "infoclimat", ["temperature"]),
)


@pytest.fixture(scope="module")
def report():
    extracted = table(WU, IC)
    return quality_report(extracted, validate(extracted, WINDOW), STATION_TABLE)


def plain(value) -> bool:
    """True when ``value`` is made only of JSON's own types (no datetime, numpy, ...)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_quality_counts_every_extracted_record_once_per_station(report):
    rows = {row["station"]: row for row in report.to_rows()}
    assert list(rows) == ["07015", "ILAMAD25"]
    counts = ("source", "extracted", "outside_window", "validated", "rejected", "rejection_rate")
    assert {sid: tuple(row[k] for k in counts) for sid, row in rows.items()} == {
        "07015": ("infoclimat", 5, 1, 2, 2, 0.5),
        "ILAMAD25": ("wunderground", 5, 0, 4, 1, 0.2),
    }


def test_anomalies_are_warn_rule_hits_of_validated_records(report):
    by_station = {s.station_id: s.anomalies_detected for s in report.stations}
    assert by_station == {"07015": 0, "ILAMAD25": 2}


def test_completeness_covers_only_the_measurements_each_station_provides(report):
    by_station = {s.station_id: s.completeness for s in report.stations}
    assert by_station == {
        "07015": {"temperature": 100.0, "pressure": 50.0},
        "ILAMAD25": {
            "temperature": 100.0,
            "dew_point": 100.0,
            "humidity": 75.0,
            "wind_speed": 100.0,
            "wind_gust": 75.0,
        },
    }
    assert {s.station_id: s.completeness_score for s in report.stations} == {
        "07015": 75.0,
        "ILAMAD25": 90.0,
    }


def test_mean_score_is_the_mean_of_validated_records(report):
    assert {s.station_id: s.mean_score for s in report.stations} == {
        "07015": 97.5,  # 100, 95 (pressure missing)
        "ILAMAD25": 93.75,  # 100, 90, 85 (warning + humidity missing), 100 (calm)
    }


def test_rejections_are_counted_per_rule(report):
    assert report.rejections_by_rule == {
        "duplicate_key": 1,
        "range_pressure": 1,
        "range_humidity": 1,
        "range_temperature": 1,
    }


def test_run_kpis_sum_stations_and_weight_completeness_by_validated_records(report):
    assert report.kpis() == {
        "records_extracted": 10,
        "records_outside_window": 1,
        "records_validated": 6,
        "records_rejected": 3,
        "rejection_rate": 0.333333,
        "completeness_score": 85.0,  # (90 x 4 + 75 x 2) / 6
        "anomalies_detected": 2,
    }


def test_a_station_with_every_record_rejected_has_zero_completeness():
    extracted = table(observations("07015", "infoclimat", {"pressure": 700.0}))
    result = quality_report(extracted, validate(extracted), STATION_TABLE)
    (station,) = result.stations
    assert (station.records_validated, station.rejection_rate, station.mean_score) == (0, 1.0, 0.0)
    assert station.completeness == {"temperature": 0.0, "pressure": 0.0}


def test_quality_outputs_hold_only_json_types(report):
    for value in (report.to_rows(), report.completeness_rows(), report.to_dict()):
        assert plain(value)
        json.dumps(value, allow_nan=False)
    markdown = report.to_markdown()
    assert "| infoclimat | 07015 | 5 | 1 | 2 | 2 | 0.5 |" in markdown
    assert "- `duplicate_key`: 1" in markdown


def test_completeness_rows_mark_measurements_a_station_does_not_provide(report):
    rows = {row["station"]: row for row in report.completeness_rows()}
    assert rows["07015"]["pressure"] == 50.0
    assert rows["07015"]["humidity"] == "-"
    assert set(rows["07015"]) == {"station", *MEASUREMENT_KEYS}


def test_migration_report_rates_and_throughput():
    counts = LoadCounts(
        input=200,
        inserted=150,
        updated=10,
        unchanged=30,
        failed=10,
        failures=[(f"S:{i}", "code 11000: dup") for i in range(10)],
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
    counts = LoadCounts(input=150, failed=150, failures=[(str(i), "e") for i in range(150)])
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
        "min_ms": 1.0,
        "avg_ms": 3.0,
        "p50_ms": 3.0,
        "p95_ms": 5.0,
        "max_ms": 5.0,
        "rows": 7,
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
    assert "## MongoDB query latency (2 iterations)" in report.to_markdown()


def outcome(name: str, error: str | None = None) -> FileOutcome:
    return FileOutcome(name, "infoclimat", "a" * 64, f"raw/{name}", "ingested", error)


def migrated(failed: int) -> object:
    counts = LoadCounts(input=10, inserted=10 - failed, failed=failed)
    return migration_report(counts, duration_s=1.0, stations_upserted=1)


@pytest.mark.parametrize(
    ("files", "failed_documents", "state"),
    [
        ((outcome("a"), outcome("b")), 0, "success"),
        ((), None, "success"),
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
