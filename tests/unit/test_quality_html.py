"""The quality page's chart data (buckets, days, flagged readings) and the page it builds."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import plotly
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast.quality import html as qh
from forecast.quality.completeness import Completeness, StationCompleteness, completeness
from forecast.quality.report import quality_report
from forecast.quality.validate import Window, validate
from forecast.schema import MEASUREMENT_KEYS, STATIONS, conform
from tests.unit.rows import T0, series, stations

NOW = datetime(2024, 10, 20, tzinfo=UTC)


def checked(minutes: list[float], *, station: str = "ST", **values: list) -> pa.Table:
    """A validated-like table (``qh.COLUMNS``): one row per minute offset from ``T0``."""
    n = len(minutes)
    columns = {m: values.get(m, [None] * n) for m in qh.CHARTED}
    return pa.table(
        {
            "station_id": pa.array([station] * n, pa.string()),
            "timestamp": pa.array([T0 + timedelta(minutes=m) for m in minutes],
                                  pa.timestamp("ms", tz="UTC")),
            **{m: pa.array(v, pa.float64()) for m, v in columns.items()},
            "quality_rules": pa.array(values.get("rules", [[]] * n), pa.list_(pa.string())),
        }
    )  # fmt: skip


def test_buckets_hold_mean_min_max_and_the_circular_mean_of_the_direction():
    table = checked(
        [0, 20, 40, 70], temperature=[10.0, 12.0, 14.0, 20.0],
        wind_direction=[350.0, 10.0, None, 90.0],
    )  # fmt: skip
    rows = qh.chart_data(table, bucket_hours=1).series.to_pylist()
    assert [r["bucket"] for r in rows] == [T0, T0 + timedelta(hours=1)]
    assert [(r["temperature_mean"], r["temperature_min"], r["temperature_max"]) for r in rows] == [
        (12.0, 10.0, 14.0),
        (20.0, 20.0, 20.0),
    ]
    # 350 and 10 degrees average to north, not to 180; the null (calm) reading is left out.
    first, second = (r["wind_direction_mean"] for r in rows)
    assert min(first, 360 - first) == pytest.approx(0.0, abs=1e-9)
    assert second == pytest.approx(90.0)
    assert rows[0]["humidity_mean"] is None  # no values: a gap in the line, not a zero


def test_wider_buckets_group_the_hours():
    table = checked([0, 90, 200], pressure=[1000.0, 1002.0, 1010.0])
    rows = qh.chart_data(table, bucket_hours=3).series.to_pylist()
    assert [(r["bucket"], r["pressure_mean"]) for r in rows] == [(T0, 1001.0),
                                                                (T0 + timedelta(hours=3), 1010.0)]  # fmt: skip


def test_flagged_readings_keep_their_values_counts_and_an_even_cap():
    stuck = [["stuck_wind_direction"]] * 10
    table = checked(
        [*range(0, 100, 10), 200], rules=[*stuck, []],
        wind_direction=[None, 300.0, 301.0, None, 302.0, 303.0, 304.0, 305.0, 306.0, 307.0, 90.0],
    )  # fmt: skip
    data = qh.chart_data(table, bucket_hours=1, max_points=3)
    assert data.flag_counts.to_pylist() == [
        {"station_id": "ST", "measurement": "wind_direction", "rule": "stuck_wind_direction",
         "readings": 10, "with_value": 8}
    ]  # fmt: skip
    # 8 readings with a value, 3 drawn evenly in time order: indices 0, round(3.5) = 4 and 7.
    assert data.flagged.column("value").to_pylist() == [300.0, 304.0, 307.0]
    assert qh.chart_data(table, bucket_hours=1).flagged.num_rows == 8


def test_only_rules_on_a_charted_measurement_mark_readings():
    table = checked([0, 5], temperature=[10.0, 30.0],
                    rules=[["dew_point_above_temperature"], ["spike_temperature"]])  # fmt: skip
    data = qh.chart_data(table, bucket_hours=1)
    assert data.flagged.select(["measurement", "rule", "value"]).to_pylist() == [
        {"measurement": "temperature", "rule": "spike_temperature", "value": 30.0}
    ]
    assert "dew_point_above_temperature" not in qh.FLAGGING_RULES


def _station(expected: int, span_start: datetime, cadence: int | None = 60) -> StationCompleteness:
    return StationCompleteness(
        "ST", cadence, span_start, None, expected, 0, None, None, None, (), ()
    )


def test_days_of_a_station_add_up_to_its_completeness_figures():
    minutes = [*range(0, 24 * 60, 60), *range(24 * 60, 36 * 60, 60)]  # day 2 stops at noon
    table = checked(minutes, temperature=[10.0] * len(minutes))
    window = Window(date(2024, 10, 5), date(2024, 10, 6))
    described = conform(stations(("ST", 50.0, 3.0)), STATIONS)
    report = completeness(table, described, window, now=NOW)
    daily = qh.daily_completeness(report, qh.chart_data(table, bucket_hours=1).days)
    assert daily.select(["day", "expected", "received", "pct"]).to_pylist() == [
        {"day": date(2024, 10, 5), "expected": 24, "received": 24, "pct": 100.0},
        {"day": date(2024, 10, 6), "expected": 24, "received": 12, "pct": 50.0},
    ]
    (station,) = report.stations
    assert (station.expected, station.received) == (48, 36)


def test_day_slots_start_at_the_span_start_and_stop_at_expected():
    late = _station(expected=10, span_start=T0 + timedelta(hours=20))  # 20:00 .. 05:00 next day
    assert [qh._day_slots(late, T0.date() + timedelta(days=i)) for i in range(3)] == [4, 6, 0]
    assert qh._day_slots(_station(expected=0, span_start=T0, cadence=None), T0.date()) == 0


def test_the_bucket_widens_with_the_span():
    def report(hours: float) -> Completeness:
        last = T0 + timedelta(hours=hours)
        return Completeness((StationCompleteness("ST", 5, T0, last, 1, 1, T0, last, 0.0, (), ()),))

    assert qh.bucket_hours(report(24 * 7)) == 1
    assert qh.bucket_hours(report(24 * 365)) == 6  # 1,460 six-hour buckets in a year
    assert qh.bucket_hours(report(24 * 365 * 30)) == 168
    assert qh.bucket_hours(Completeness(())) == 1


def test_partitions_merge_when_charted_alike_and_refuse_otherwise():
    a = qh.chart_data(checked([0], temperature=[1.0]), bucket_hours=1)
    b = qh.chart_data(checked([0], station="OTHER", temperature=[2.0]), bucket_hours=1)
    merged = qh.merge_chart_data([a, b], 1)
    assert merged.series.column("station_id").to_pylist() == ["ST", "OTHER"]
    assert qh.merge_chart_data([], 1).series.num_rows == 0
    with pytest.raises(ValueError, match="different bucket widths"):
        qh.merge_chart_data([a, qh.chart_data(checked([0]), bucket_hours=3)], 1)


def _decoded(values: list | dict) -> list:
    """A trace's values as plotly writes numpy arrays: base64 typed arrays (or a plain list)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), values["dtype"]).tolist()
    return values


def _run() -> tuple:
    """Station ST with a vane stuck and a flat temperature for 20 h (5-minute readings), OK
    hourly with one rejected reading."""
    n = 241
    stuck = series(
        "ST", wind_direction=[315.0 if i % 2 else 337.5 for i in range(n)],
        wind_speed=[4.0 + i % 5 for i in range(n)], temperature=[12.0] * n,
    )  # fmt: skip
    humidity = [70.0] * 24
    humidity[2] = 140.0  # rejected: 1 of the day's 24 rows, under the 5 % that would hold the day
    ok = series("OK", every=60, temperature=[10.0] * 24, humidity=humidity)
    observations = pa.concat_tables([stuck, ok])
    described = stations(("ST", 50.6, 3.07), ("OK", 50.57, 3.1))
    names = pa.array(["La Station", "Other Place"], pa.string())
    described = described.set_column(1, "name", names).set_column(
        13, "measurements", pa.array([list(MEASUREMENT_KEYS)] * 2, pa.list_(pa.string()))
    )
    validation = validate(observations, stations=described, now=NOW)
    report = quality_report(observations, validation, described, Window(), now=NOW)
    return validation, report, described


def test_the_page_loads_the_shared_plotly_once_and_draws_every_chart(tmp_path):
    validation, report, described = _run()
    path = tmp_path / "part-00000.parquet"
    pq.write_table(validation.valid, path)
    data = qh.chart_files([str(path)], report)
    page = qh.quality_page(report, data, described, run_id="r1", window=Window())
    assert page.startswith("<!DOCTYPE html>") and "plotly.js v" not in page  # not embedded
    sources = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert sources == [f"../assets/plotly-{plotly.__version__}.min.js"] == [qh.PLOTLY_SOURCE]
    assert len(page) < 200_000  # the library is 3.5 MB: one shared copy, not one per page
    assert qh.plotly_asset().startswith(b"/**") and b"plotly.js v" in qh.plotly_asset()[:200]
    divs = re.findall(r'<div id="([^"]+)" class="plotly-graph-div"', page)
    assert divs == ["completeness", "rules", "series-ST", "series-OK"]  # lowest score first
    assert "La Station (ST)" in page and "Other Place (OK)" in page
    figures = {
        div: json.loads(re.search(rf'"{div}",\s*(\[.*?\]),\s*\{{', page, re.S).group(1))
        for div in divs
    }
    bars = {t["uid"]: dict(zip(t["y"], t["x"], strict=True)) for t in figures["rules"]}
    assert bars == {
        "rules-reject": {"range_humidity": 1},
        "rules-warn": {"stuck_wind_direction": 241, "flatline_temperature": 241},
    }
    flags = {t["uid"]: t for t in figures["series-ST"] if t.get("mode") == "markers" and "uid" in t}
    assert sorted(flags) == ["ST-temperature-flatline_temperature",
                             "ST-wind_direction-stuck_wind_direction"]  # fmt: skip
    stuck = flags["ST-wind_direction-stuck_wind_direction"]
    assert stuck["name"] == "stuck_wind_direction: 241 flagged (241 shown)"
    assert len(stuck["x"]) == 241 and set(_decoded(stuck["y"])) == {315.0, 337.5}
    assert (stuck["xaxis"], flags["ST-temperature-flatline_temperature"]["xaxis"]) == ("x5", "x")
    assert not [t for t in figures["series-OK"] if t.get("mode") == "markers" and "uid" in t]


def test_a_run_without_validated_readings_still_gives_a_page():
    empty = checked([])
    nothing = series("ST", temperature=[1.0]).slice(0, 0)
    report = quality_report(
        nothing, validate(nothing, now=NOW), stations(("ST", 50.0, 3.0)), Window(), now=NOW
    )
    page = qh.quality_page(report, qh.chart_data(empty, bucket_hours=1), stations(), run_id="r0",
                           window=Window(date(2024, 10, 5), date(2024, 10, 5)))  # fmt: skip
    assert "No reading was validated in this run." in page
    assert "no rule rejected or flagged a reading in this run" in page
    assert "2024-10-05 to 2024-10-05" in page
