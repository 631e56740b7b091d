"""The quality report on tiny tables: every count reproducible by hand from the rows below."""

import json
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from forecast.quality.report import quality_report
from forecast.quality.validate import Window, validate
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, STATIONS, conform

WINDOW = Window(date(2024, 10, 5), date(2024, 10, 7))
NOW = datetime(2024, 10, 5, 1, 0, tzinfo=UTC)  # the expected span is 00:00-01:00
CORE = {
    "temperature": 15.0,
    "dew_point": 13.0,
    "humidity": 70.0,
    "pressure": 1010.0,
    "wind_speed": 5.0,
    "wind_direction": 90.0,
}


def at(step: int, day: int = 5) -> datetime:
    return datetime(2024, 10, day, 0, 5 * step, tzinfo=UTC)


def observations(station_id: str, source: str, *rows: dict) -> list[dict]:
    lineage = {
        "station_id": station_id,
        "source": source,
        "source_file": f"{station_id}.file",
        "raw_key": f"raw/{station_id}",
        "raw_sha256": "sha",
        "content_key": "sha",
        "flags": [],
        "parse_errors": [],
        "unit_errors": [],
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


def stations(*rows: tuple[str, str, float, list[str]]) -> pa.Table:
    base = {f.name: None for f in STATIONS} | {"type": "t", "timezone": "Europe/Paris"}
    records = [
        base | {"station_id": sid, "name": sid, "network": network, "latitude": lat,
                "longitude": 3.0, "measurements": provided}
        for sid, network, lat, provided in rows
    ]  # fmt: skip
    return conform(pa.Table.from_pylist(records, schema=STATIONS), STATIONS)


WU = observations(
    "ILAMAD25",
    "wunderground",
    {},  # 00:00 clean: 100
    {"temperature": 14.0, "dew_point": 14.6},  # 00:05 dew_point_above_temperature: 90
    {"wind_gust": 2.0, "humidity": None},  # 00:10 gust_below_speed, humidity missing: 85
    {"timestamp": at(0)},  # identical to 00:00: collapsed
    {"flags": ["wind_calm"], "wind_direction": None, "wind_gust": None},  # 00:20 calm: 100
    {"timestamp": at(1), "temperature": 16.0, "wind_gust": None},  # disagrees with 00:05: both out
)
IC = observations(
    "07015",
    "infoclimat",
    {},  # 00:00 clean: 100
    {"pressure": 700.0},  # rejected: range_pressure
    {"humidity": 140.0, "temperature": 99.0},  # rejected by two rules
    {"timestamp": at(3, day=10)},  # outside the window
    {"pressure": None},  # 00:20 pressure missing: 95
)
STATION_TABLE = stations(
    ("ILAMAD25", "wunderground", 50.0,
     ["temperature", "dew_point", "humidity", "wind_speed", "wind_gust"]),
    ("07015", "infoclimat", 51.0, ["temperature", "pressure", "humidity"]),
)  # fmt: skip


def report_for(max_rejection_rate: float):
    extracted = table(WU, IC)
    validation = validate(
        extracted, WINDOW, stations=STATION_TABLE, now=NOW, max_rejection_rate=max_rejection_rate
    )
    return quality_report(extracted, validation, STATION_TABLE, WINDOW, now=NOW)


@pytest.fixture(scope="module")
def report():
    return report_for(1.0)


def plain(value) -> bool:
    """True when ``value`` is made only of JSON's own types (no datetime, numpy, ...)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


def test_every_extracted_record_is_counted_once_per_station(report):
    rows = {row["station"]: row for row in report.station_rows()}
    keys = ("extracted", "outside_window", "collapsed", "validated", "rejected", "held")
    assert {sid: tuple(row[k] for k in keys) for sid, row in rows.items()} == {
        "07015": (5, 1, 0, 2, 2, 0),
        "ILAMAD25": (6, 0, 1, 3, 2, 0),  # 00:05 and its disagreeing copy are both rejected
    }
    for row in rows.values():
        assert row["extracted"] == sum(row[k] for k in keys[1:])


def test_rates_anomalies_and_scores_per_station(report):
    rows = {row["station"]: row for row in report.station_rows()}
    assert {
        sid: (r["rejection_rate"], r["anomalies"], r["mean_score"]) for sid, r in rows.items()
    } == {
        "07015": (0.5, 0, 97.5),  # 2 of 4 judged; scores 100 and 95
        "ILAMAD25": (0.4, 1, 95.0),  # 2 of 5 judged; scores 100, 85, 100
    }


def test_kpis(report):
    assert report.kpis() == {
        "records_extracted": 11,
        "records_outside_window": 1,
        "duplicates_collapsed": 1,
        "duplicates_conflicting": 2,
        "records_validated": 5,
        "records_rejected": 4,
        "records_held": 0,
        "rejection_rate": 0.444444,
        # core measurements provided over 00:00-01:00: ILAMAD25 (00:00, 00:10, 00:20: 10 min)
        # expects 6 (temperature, dew point, wind speed 3 -> 50; humidity 2 -> 33.33), 07015 at
        # 15 min (2 readings 20 min apart) expects 4 (temperature 2 -> 50, pressure 1 -> 25,
        # humidity 2 -> 50): (3 x 50 + 33.33 + 50 + 25 + 50) / 7
        "completeness_score": 44.05,
        "anomalies_detected": 1,
        "records_with_anomalies": 1,
        "mean_score": 96.0,
    }


def test_issues_count_every_rule_with_a_located_example(report):
    issues = {i.rule: (i.severity, i.count) for i in report.issues}
    assert issues == {
        "duplicate_conflict": ("reject", 2),
        "range_humidity": ("reject", 1),
        "range_pressure": ("reject", 1),
        "range_temperature": ("reject", 1),
        "gust_below_speed": ("warn", 1),
        "duplicate_identical": ("collapse", 1),
        "outside_window": ("exclude", 1),
    }
    by_rule = {i.rule: i.examples for i in report.issues}
    assert by_rule["range_pressure"] == (
        "file '07015.file', station '07015', record 1: pressure = 700 hPa is outside [850, 1090]",
    )
    assert by_rule["gust_below_speed"] == ("file 'ILAMAD25.file', sheet '051024', row 5",)
    dispute = (
        "the observations of this station and time disagree (file 'ILAMAD25.file', sheet "
        "'051024', row 4 vs file 'ILAMAD25.file', sheet '051024', row 8): temperature 14 vs 16 "
        "degC, dew_point 14.6 vs 13 degC, wind_gust 8 vs null km/h; none of them is loaded"
    )
    assert by_rule["duplicate_conflict"] == (
        f"file 'ILAMAD25.file', sheet '051024', row 4: {dispute}",
        f"file 'ILAMAD25.file', sheet '051024', row 8: {dispute}",
    )


def test_measurement_rows_join_completeness_rejections_and_warnings(report):
    rows = {(r["station"], r["measurement"]): r for r in report.to_rows()}
    assert len(rows) == 8
    assert rows[("07015", "pressure")] == {
        "station": "07015", "measurement": "pressure", "expected": 4, "received": 1,
        "completeness_pct": 25.0, "rejected": 1, "warnings": 0,
    }  # fmt: skip
    assert (
        rows[("07015", "temperature")]["rejected"],
        rows[("07015", "humidity")]["rejected"],
    ) == (1, 1)
    assert rows[("ILAMAD25", "dew_point")]["warnings"] == 0  # its warned reading is disputed
    assert rows[("ILAMAD25", "wind_gust")]["warnings"] == 1
    assert rows[("ILAMAD25", "humidity")]["received"] == 2


def test_held_partitions_are_counted_apart_from_rejections():
    held = report_for(0.05)
    rows = {row["station"]: row for row in held.station_rows()}
    # ILAMAD25's only rejections are a disputed instant's, which do not count towards the rate.
    assert {sid: (r["validated"], r["rejected"], r["held"]) for sid, r in rows.items()} == {
        "07015": (0, 2, 2),
        "ILAMAD25": (3, 2, 0),
    }
    assert [(h.station_id, h.day, h.rejected, h.held) for h in held.held] == [
        ("07015", "2024-10-05", 2, 2),
    ]
    assert "station 07015 on 2024-10-05: 2 of 4 rows rejected (50.0%) > 5.0%" in (
        held.summary_markdown()
    )


def test_summary_markdown_has_kpis_issues_faults_and_gaps(report):
    text = report.summary_markdown()
    for heading in ("## Data quality", "### Top issues", "### Sensor faults",
                    "### Partitions held", "### Stations", "### Largest gaps"):  # fmt: skip
        assert heading in text
    assert "- **records_validated**: 5" in text and "- **duplicates_conflicting**: 2" in text
    assert "| `range_pressure` | reject | 1 |" in text


def test_quality_outputs_hold_only_json_types(report):
    for value in (report.to_rows(), report.station_rows(), report.to_dict()):
        assert plain(value)
        json.dumps(value, allow_nan=False)
