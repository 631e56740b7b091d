"""The quality report on the real files, checked against counts recomputed here by plain loops.

The reference computations below are deliberately naive (Python loops over sorted rows), so they
check the vectorised rules independently; they are the "by hand" counts of docs/data-quality.md.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from forecast.lake.ingest import discover
from forecast.quality.report import quality_report
from forecast.quality.rules import param
from forecast.quality.validate import Window, validate
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.sources.registry import recognise_file

pytestmark = pytest.mark.realdata
PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}
NOW = datetime(2024, 10, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def real(shared_raw):
    files, _ = discover(shared_raw)
    observations, stations = [], []
    for f in files:
        content = Path(f.location).read_bytes()
        raw = RawFile(f.name, content, f"raw/{f.name}", hashlib.sha256(content).hexdigest())
        parsed = PARSERS[recognise_file(content, f.name).name](raw)
        observations.append(parsed.observations)
        stations.append(parsed.stations)
    extracted, station_table = pa.concat_tables(observations), pa.concat_tables(stations)
    validation = validate(extracted, stations=station_table, now=NOW)
    report = quality_report(extracted, validation, station_table, Window(), now=NOW)
    return extracted, validation, report


def _reference_stuck_spans(rows: list[dict]) -> list[tuple[datetime, datetime, int]]:
    """The stuck-vane rule as a loop: runs of windy readings, step <= 22.5, spread <= 45."""
    hours, step = param("stuck_wind_direction", "hours"), param("stuck_wind_direction", "step")
    spread, minimum = (
        param("stuck_wind_direction", "spread"),
        param("stuck_wind_direction", "min_readings"),
    )
    windy = [r for r in rows if r["wind_direction"] is not None and (r["wind_speed"] or 0) > 0]
    runs, current = [], []
    for r in windy:
        if current:
            delta = abs((r["wind_direction"] - current[-1]["wind_direction"] + 180) % 360 - 180)
            if delta > step:
                runs.append(current)
                current = []
        current.append(r)
    runs.append(current)
    spans = []
    for run in runs:
        base = run[0]["wind_direction"]
        offsets = [(r["wind_direction"] - base + 180) % 360 - 180 for r in run]
        speeds = [r["wind_speed"] for r in run]
        length = (run[-1]["timestamp"] - run[0]["timestamp"]).total_seconds() / 3600
        if (
            length >= hours
            and len(run) >= minimum
            and max(offsets) - min(offsets) <= spread
            and max(speeds) > min(speeds)
        ):
            spans.append((run[0]["timestamp"], run[-1]["timestamp"], len(run)))
    return spans


def test_nothing_valid_is_rejected_and_every_row_is_accounted_for(real):
    _, validation, report = real
    kpis = report.kpis()
    assert (kpis["records_extracted"], kpis["records_validated"], kpis["records_rejected"]) == (
        4950,
        4950,
        0,
    )
    assert (kpis["duplicates_collapsed"], kpis["records_held"], kpis["records_outside_window"]) == (
        0,
        0,
        0,
    )
    assert validation.rejected.num_rows == 0


def test_the_la_madeleine_vane_is_flagged_stuck_and_nothing_else_fires(real):
    extracted, _, report = real
    assert report.warnings_by_rule == {"stuck_wind_direction": 1456}
    rows = sorted(
        (r for r in extracted.to_pylist() if r["station_id"] == "ILAMAD25"),
        key=lambda r: r["timestamp"],
    )
    spans = _reference_stuck_spans(rows)
    assert [(f.start, f.end, f.readings) for f in report.findings] == spans
    assert [(s.isoformat(), e.isoformat(), n) for s, e, n in spans] == [
        ("2024-10-01T20:19:00+00:00", "2024-10-03T14:44:00+00:00", 218),
        ("2024-10-03T16:54:00+00:00", "2024-10-05T10:59:00+00:00", 59),
        ("2024-10-05T11:44:00+00:00", "2024-10-07T00:19:00+00:00", 300),
    ]
    in_span = sum(1 for r in rows if any(s <= r["timestamp"] <= e for s, e, _ in spans))
    assert in_span == 1456  # calm readings inside the spans are flagged too
    for other in ("IICHTE19", "07015", "00052", "000R5", "STATIC0010"):
        station_rows = sorted(
            (r for r in extracted.to_pylist() if r["station_id"] == other),
            key=lambda r: r["timestamp"],
        )
        assert _reference_stuck_spans(station_rows) == []


def test_scores_follow_the_formula_row_by_row(real):
    _, validation, report = real
    for row in validation.valid.to_pylist():
        calm = "wind_calm" in row["flags"]
        missing = sum(
            1
            for key in (
                "temperature",
                "dew_point",
                "humidity",
                "pressure",
                "wind_speed",
                "wind_direction",
            )
            if row[key] is None and not (key == "wind_direction" and calm)
        )
        stuck = "stuck_wind_direction" in row["quality_rules"]
        assert row["quality_score"] == 100 - 15 * stuck - 5 * missing, row  # docs/data-quality.md
    means = {s.station_id: s.mean_score for s in report.stations}
    assert means["07015"] == 100.0 and means["ILAMAD25"] < 90


def test_completeness_per_station_from_the_cadence(real):
    _, _, report = real
    figures = {
        s.station_id: (s.cadence_minutes, s.expected, s.received, len(s.gaps))
        for s in report.completeness.stations
    }
    assert figures == {
        "00052": (10, 361, 361, 0),
        "000R5": (10, 361, 361, 0),
        "07015": (60, 60, 60, 0),
        "IICHTE19": (5, 1906, 1899, 3),
        "ILAMAD25": (5, 1908, 1908, 0),
        "STATIC0010": (10, 361, 361, 0),
    }
    gaps = [
        (g.after.isoformat(), g.before.isoformat(), g.missing)
        for s in report.completeness.stations
        for g in s.gaps
    ]
    assert gaps == [
        ("2024-10-02T16:20:00+00:00", "2024-10-02T16:44:00+00:00", 4),
        ("2024-10-03T10:47:00+00:00", "2024-10-03T11:14:00+00:00", 4),
        ("2024-10-03T11:16:00+00:00", "2024-10-03T11:24:00+00:00", 1),
    ]


def test_core_measurements_below_full_completeness_are_exactly_the_explained_ones(real):
    extracted, _, report = real
    core = ("temperature", "dew_point", "humidity", "pressure", "wind_speed", "wind_direction")
    short = {
        (m.station_id, m.measurement): (m.expected, m.received)
        for m in report.measurements
        if m.measurement in core and m.completeness_pct < 100
    }
    ichtegem = {(("IICHTE19", k), (1906, 1899)) for k in core if k != "wind_direction"}
    assert short == dict(ichtegem) | {
        ("IICHTE19", "wind_direction"): (1906, 1892),
        ("ILAMAD25", "wind_direction"): (1908, 1865),
        ("STATIC0010", "wind_direction"): (361, 353),
    }
    # By hand: a direction is missing when it is null and the wind is not calm (speed > 0).
    for station, (expected, received) in [("ILAMAD25", (1908, 1865)), ("STATIC0010", (361, 353))]:
        rows = [r for r in extracted.to_pylist() if r["station_id"] == station]
        missing = sum(1 for r in rows if r["wind_direction"] is None and r["wind_speed"] != 0)
        assert (len(rows), len(rows) - missing) == (expected, received)
    assert report.kpis()["completeness_score"] == 99.8
