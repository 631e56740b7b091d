"""Completeness, gaps and freshness on tiny hand-made tables, and on the real raw files."""

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from forecast.quality.completeness import (
    Completeness,
    Gap,
    MeasurementCompleteness,
    StationCompleteness,
    cadence_minutes,
    completeness,
)
from forecast.quality.validate import Window
from forecast.schema import MEASUREMENT_KEYS, STATIONS, TIMESTAMP_TYPE, conform

DAY = datetime(2024, 10, 5, tzinfo=UTC)
LATER = datetime(2024, 10, 20, tzinfo=UTC)  # a "now" well after every test window
NO_WINDOW = Window()
ONE_DAY = Window(date(2024, 10, 5), date(2024, 10, 5))
SHARED_RAW = Path(__file__).resolve().parents[3] / "shared" / "data" / "raw"


def at(minutes: float) -> datetime:
    """2024-10-05 00:00 UTC plus ``minutes``."""
    return DAY + timedelta(minutes=minutes)


def stamps(*minutes: float) -> pa.Array:
    return pa.array([at(m) for m in minutes], TIMESTAMP_TYPE)


def valid(station_id: str, minutes: list[float], **values: list[float | None]) -> pa.Table:
    """A validated-like table: one row per minute offset, temperature 10.0 unless given."""
    columns: dict[str, list] = {key: [None] * len(minutes) for key in MEASUREMENT_KEYS}
    columns["temperature"] = [10.0] * len(minutes)
    columns |= values
    return pa.table(
        {
            "station_id": pa.array([station_id] * len(minutes), pa.string()),
            "timestamp": stamps(*minutes),
            **{key: pa.array(columns[key], pa.float64()) for key in MEASUREMENT_KEYS},
        }
    )


def stations(**provides: list[str]) -> pa.Table:
    """A STATIONS table: station id -> the measurement keys it provides."""
    ids = list(provides)
    return conform(
        pa.table(
            {
                "station_id": ids,
                "name": [f"Station {i}" for i in ids],
                "network": ["infoclimat"] * len(ids),
                "type": ["static"] * len(ids),
                "latitude": [50.0] * len(ids),
                "longitude": [3.0] * len(ids),
                "timezone": ["UTC"] * len(ids),
                "measurements": pa.array(list(provides.values()), pa.list_(pa.string())),
            }
        ),
        STATIONS,
    )


def every(step: float, start: float, stop: float, *, skip: tuple[float, ...] = ()) -> list[float]:
    """Minute offsets from ``start`` to ``stop`` inclusive every ``step``, without ``skip``."""
    count = round((stop - start) / step) + 1
    return [start + i * step for i in range(count) if start + i * step not in skip]


# --- cadence ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "cadence"),
    [
        (every(5, 0, 60), 5),
        (every(10, 0, 120), 10),
        (every(60, 0, 600), 60),
        ([0, 4, 10, 14, 20, 24, 30], 5),  # 4/6-minute steps: median 5
        ([0, 4, 10, 14], 5),  # median 4 still snaps to 5
        ([0, 6, 10, 16, 20, 26], 5),  # median 6 snaps to 5
        ([0, 110, 220, 330], 180),  # log scale: 110 is nearer 180 than 60 (midpoint ~104)
        ([0, 100, 200, 300], 60),
        ([0, 1440, 2880], 1440),
        ([0, 1, 2, 3], 1),
    ],
)
def test_cadence_is_the_median_interval_snapped_in_log_scale(minutes, cadence):
    assert cadence_minutes(stamps(*minutes)) == cadence


def test_cadence_ignores_order_duplicates_and_nulls_and_accepts_chunked_arrays():
    shuffled = pa.chunked_array(
        [stamps(30, 0, 10), pa.array([at(20), None, at(10), at(0)], TIMESTAMP_TYPE)]
    )
    assert cadence_minutes(shuffled) == 10


@pytest.mark.parametrize("minutes", [[], [15], [15, 15]])
def test_cadence_is_none_with_fewer_than_two_distinct_timestamps(minutes):
    assert cadence_minutes(stamps(*minutes)) is None


# --- expected and received -------------------------------------------------------------------


def test_five_minute_station_without_window_expects_the_inclusive_slots():
    minutes = every(5, 0, 60, skip=(20, 40))
    table = valid("A", minutes, humidity=[None, 80.0, 80.0, None, 80.0, 80.0, None] + [80.0] * 4)
    result = completeness(table, stations(A=["humidity", "temperature"]), NO_WINDOW, now=LATER)
    (station,) = result.stations
    assert station.cadence_minutes == 5
    assert (station.span_start, station.span_end) == (at(0), at(60))
    assert (station.expected, station.received, station.pct) == (13, 11, 84.62)
    assert (station.first_observation, station.last_observation) == (at(0), at(60))
    assert station.measurements == (
        MeasurementCompleteness("temperature", 13, 11),
        MeasurementCompleteness("humidity", 13, 8),
    )
    assert [m.pct for m in station.measurements] == [84.62, 61.54]
    assert station.gaps == (Gap("A", at(15), at(25), 1), Gap("A", at(35), at(45), 1))


def test_measurements_follow_measurement_keys_order_and_skip_unknown_keys():
    table = valid("A", every(10, 0, 30))
    listed = ["solar_radiation", "pressure", "temperature", "not_a_measurement"]
    result = completeness(table, stations(A=listed), NO_WINDOW, now=LATER)
    assert [m.key for m in result.stations[0].measurements] == [
        "temperature",
        "pressure",
        "solar_radiation",
    ]
    assert [m.received for m in result.stations[0].measurements] == [4, 0, 0]


def test_a_window_counts_exclusive_slots_and_edge_gaps():
    minutes = every(10, 30, 23 * 60 + 20)  # 00:30 -> 23:20, every 10 minutes
    now = datetime(2024, 10, 6, 12, tzinfo=UTC)
    result = completeness(valid("A", minutes), stations(A=["temperature"]), ONE_DAY, now=now)
    (station,) = result.stations
    assert len(minutes) == 138
    assert station.span_start == DAY
    assert station.span_end == datetime(2024, 10, 6, tzinfo=UTC)
    assert (station.expected, station.received, station.pct) == (144, 138, 95.83)
    assert station.gaps == (
        Gap("A", None, at(30), 3),  # 00:00, 00:10, 00:20
        Gap("A", at(23 * 60 + 20), None, 3),  # 23:30, 23:40, 23:50
    )
    assert station.lag_hours == 0.67  # 23:20 -> window end 24:00


def test_a_window_end_in_the_future_is_clipped_to_now():
    minutes = every(10, 0, 11 * 60)  # 00:00 -> 11:00
    now = at(12 * 60)
    result = completeness(valid("A", minutes), stations(A=["temperature"]), ONE_DAY, now=now)
    (station,) = result.stations
    assert station.span_end == now
    assert (station.expected, station.received) == (72, 67)
    assert station.gaps == (Gap("A", at(11 * 60), None, 5),)  # 11:10 ... 11:50
    assert station.lag_hours == 1.0


def test_a_window_with_only_an_end_starts_at_the_first_observation():
    minutes = every(60, 6 * 60, 20 * 60)  # 06:00 -> 20:00 hourly
    window = Window(None, date(2024, 10, 5))
    result = completeness(valid("A", minutes), stations(A=["temperature"]), window, now=LATER)
    (station,) = result.stations
    assert (station.span_start, station.span_end) == (at(6 * 60), at(24 * 60))
    assert (station.expected, station.received) == (18, 15)
    assert station.gaps == (Gap("A", at(20 * 60), None, 3),)
    assert station.lag_hours == 4.0


def test_a_window_with_only_a_start_ends_inclusively_at_the_last_observation():
    minutes = every(15, 60, 120)  # 01:00 -> 02:00
    window = Window(date(2024, 10, 5), None)
    now = at(180)
    result = completeness(valid("A", minutes), stations(A=["temperature"]), window, now=now)
    (station,) = result.stations
    assert (station.span_start, station.span_end) == (DAY, at(120))
    assert (station.expected, station.received) == (9, 5)
    assert station.gaps == (Gap("A", None, at(60), 4),)
    assert station.lag_hours == 1.0  # no window end: reference is now


def test_a_short_offset_at_the_edges_is_not_a_gap():
    minutes = every(5, 4, 24 * 60 - 1)  # off-grid 00:04 -> 23:59, like the WU workbooks
    result = completeness(valid("A", minutes), stations(A=["temperature"]), ONE_DAY, now=LATER)
    (station,) = result.stations
    assert (station.expected, station.received, station.gaps) == (288, 288, ())


def test_interior_gap_missing_is_the_rounded_interval_minus_one():
    minutes = [0, 5, 10, 37, 42, 47, 59, 64]  # 27 min -> 5.4 -> 4 missing; 12 min -> 2.4 -> 1
    result = completeness(valid("A", minutes), stations(A=["temperature"]), NO_WINDOW, now=LATER)
    assert result.stations[0].gaps == (Gap("A", at(10), at(37), 4), Gap("A", at(47), at(59), 1))


def test_an_interval_of_exactly_gap_factor_cadences_is_not_a_gap_and_halves_round_up():
    minutes = [0, 10, 20, 35, 45, 55, 80, 90]  # 15 = 1.5 x 10: no gap; 25 = 2.5 -> 3 - 1
    result = completeness(valid("A", minutes), stations(A=["temperature"]), NO_WINDOW, now=LATER)
    assert result.stations[0].gaps == (Gap("A", at(55), at(80), 2),)


def test_completeness_is_capped_at_100_percent():
    minutes = [*every(5, 0, 60), 2]  # one extra off-grid reading
    result = completeness(valid("A", minutes), stations(A=["temperature"]), NO_WINDOW, now=LATER)
    (station,) = result.stations
    assert (station.expected, station.received, station.pct) == (13, 14, 100.0)
    assert station.measurements[0].pct == 100.0


def test_lag_is_clipped_at_zero_when_the_last_observation_is_after_now():
    result = completeness(
        valid("A", every(10, 0, 60)), stations(A=["temperature"]), NO_WINDOW, now=at(30)
    )
    assert result.stations[0].lag_hours == 0.0


def test_lag_without_window_is_measured_to_now():
    now = at(60 + 90)
    result = completeness(
        valid("A", every(10, 0, 60)), stations(A=["temperature"]), NO_WINDOW, now=now
    )
    assert result.stations[0].lag_hours == 1.5


def test_stations_without_rows_or_with_one_row_expect_nothing():
    table = valid("ONE", [30])
    result = completeness(
        table, stations(NONE=["temperature"], ONE=["temperature"]), ONE_DAY, now=LATER
    )
    assert result.stations == (
        StationCompleteness(
            station_id="NONE",
            cadence_minutes=None,
            span_start=DAY,
            span_end=datetime(2024, 10, 6, tzinfo=UTC),
            expected=0,
            received=0,
            first_observation=None,
            last_observation=None,
            lag_hours=None,
            measurements=(MeasurementCompleteness("temperature", 0, 0),),
            gaps=(),
        ),
        StationCompleteness(
            station_id="ONE",
            cadence_minutes=None,
            span_start=DAY,
            span_end=datetime(2024, 10, 6, tzinfo=UTC),
            expected=0,
            received=1,
            first_observation=at(30),
            last_observation=at(30),
            lag_hours=23.5,
            measurements=(MeasurementCompleteness("temperature", 0, 1),),
            gaps=(),
        ),
    )
    assert [s.pct for s in result.stations] == [0.0, 0.0]
    assert result.score() == 0.0


def test_stations_are_sorted_and_unknown_stations_in_valid_are_ignored():
    table = pa.concat_tables(
        [valid("B", every(10, 0, 30)), valid("X", every(10, 0, 30)), valid("A", every(5, 0, 30))]
    )
    result = completeness(
        table, stations(B=["temperature"], A=["temperature"]), NO_WINDOW, now=LATER
    )
    assert [(s.station_id, s.cadence_minutes, s.received) for s in result.stations] == [
        ("A", 5, 7),
        ("B", 10, 4),
    ]


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        completeness(valid("A", [0, 5]), stations(A=[]), NO_WINDOW, now=datetime(2024, 10, 5))


# --- report shapes ---------------------------------------------------------------------------


@pytest.fixture
def report() -> Completeness:
    a = valid("A", every(5, 0, 60, skip=(20, 25)), humidity=[50.0] * 5 + [None] * 6)
    b = valid("B", [0, 10, 20, 60])
    empty_station = stations(A=["temperature", "humidity"], B=["temperature"], C=["pressure"])
    return completeness(pa.concat_tables([a, b]), empty_station, NO_WINDOW, now=at(120))


def test_score_is_the_mean_of_every_core_measurement_pct(report):
    # A: temperature 11/13 = 84.62, humidity 5/13 = 38.46; B: 4/7 = 57.14; C: nothing expected.
    pcts = [m.pct for s in report.stations for m in s.measurements]
    assert pcts == [84.62, 38.46, 57.14, 0.0]
    assert report.score() == 45.06
    assert Completeness(()).score() == 0.0


def test_to_rows_has_one_row_per_station_measurement(report):
    assert report.to_rows() == [
        {
            "station": "A",
            "measurement": "temperature",
            "cadence_min": 5,
            "expected": 13,
            "received": 11,
            "completeness_pct": 84.62,
            "gaps": 1,
            "last_observation": "2024-10-05T01:00:00Z",
            "lag_h": 1.0,
        },
        {
            "station": "A",
            "measurement": "humidity",
            "cadence_min": 5,
            "expected": 13,
            "received": 5,
            "completeness_pct": 38.46,
            "gaps": 1,
            "last_observation": "2024-10-05T01:00:00Z",
            "lag_h": 1.0,
        },
        {
            "station": "B",
            "measurement": "temperature",
            "cadence_min": 10,
            "expected": 7,
            "received": 4,
            "completeness_pct": 57.14,
            "gaps": 1,
            "last_observation": "2024-10-05T01:00:00Z",
            "lag_h": 1.0,
        },
        {
            "station": "C",
            "measurement": "pressure",
            "cadence_min": "-",
            "expected": 0,
            "received": 0,
            "completeness_pct": 0.0,
            "gaps": 0,
            "last_observation": "-",
            "lag_h": "-",
        },
    ]


def test_gap_rows_put_the_largest_gaps_first_and_respect_the_limit(report):
    assert report.gap_rows() == [
        {
            "station": "B",
            "after": "2024-10-05T00:20:00Z",
            "before": "2024-10-05T01:00:00Z",
            "missing": 3,
        },
        {
            "station": "A",
            "after": "2024-10-05T00:15:00Z",
            "before": "2024-10-05T00:30:00Z",
            "missing": 2,
        },
    ]
    assert [row["station"] for row in report.gap_rows(limit=1)] == ["B"]
    assert report.gap_rows(limit=0) == []


def test_gap_rows_show_open_edges_as_dashes():
    result = completeness(
        valid("A", every(10, 30, 60)), stations(A=["temperature"]), ONE_DAY, now=at(90)
    )
    assert result.gap_rows() == [
        {"station": "A", "after": "-", "before": "2024-10-05T00:30:00Z", "missing": 3},
        {"station": "A", "after": "2024-10-05T01:00:00Z", "before": "-", "missing": 2},
    ]


def test_to_dict_is_json_ready_with_every_gap(report):
    data = json.loads(json.dumps(report.to_dict()))
    assert data["score"] == 45.06
    assert data["gap_factor"] == 1.5
    assert [s["station_id"] for s in data["stations"]] == ["A", "B", "C"]
    a, _, c = data["stations"]
    assert a == {
        "station_id": "A",
        "cadence_minutes": 5,
        "span_start": "2024-10-05T00:00:00Z",
        "span_end": "2024-10-05T01:00:00Z",
        "expected": 13,
        "received": 11,
        "completeness_pct": 84.62,
        "first_observation": "2024-10-05T00:00:00Z",
        "last_observation": "2024-10-05T01:00:00Z",
        "lag_hours": 1.0,
        "measurements": [
            {"key": "temperature", "expected": 13, "received": 11, "pct": 84.62},
            {"key": "humidity", "expected": 13, "received": 5, "pct": 38.46},
        ],
        "gaps": [{"after": "2024-10-05T00:15:00Z", "before": "2024-10-05T00:30:00Z", "missing": 2}],
    }
    assert c["cadence_minutes"] is None and c["last_observation"] is None and c["gaps"] == []


# --- real files ------------------------------------------------------------------------------


def _parse_real(raw: Path) -> tuple[pa.Table, pa.Table]:
    from forecast.sources import infoclimat, wunderground
    from forecast.sources.common import RawFile

    parts, found = [], []
    for path in sorted(raw.rglob("*")):
        if path.suffix not in (".json", ".xlsx"):
            continue
        content = path.read_bytes()
        raw_file = RawFile(
            path.name, content, "raw/" + path.name, hashlib.sha256(content).hexdigest()
        )
        parsed = (infoclimat if path.suffix == ".json" else wunderground).parse(raw_file)
        parts.append(parsed.observations.select(["station_id", "timestamp", *MEASUREMENT_KEYS]))
        found.append(parsed.stations)
    return pa.concat_tables(parts), pa.concat_tables(found)


def test_real_files_cadences_counts_and_gaps():
    if not SHARED_RAW.is_dir():
        pytest.skip(f"real raw files not found at {SHARED_RAW}")
    observations, found = _parse_real(SHARED_RAW)
    result = completeness(observations, found, NO_WINDOW, now=datetime(2024, 10, 8, tzinfo=UTC))
    by_id = {s.station_id: s for s in result.stations}
    assert {k: s.cadence_minutes for k, s in by_id.items()} == {
        "ILAMAD25": 5,
        "IICHTE19": 5,
        "07015": 60,
        "00052": 10,
        "000R5": 10,
        "STATIC0010": 10,
    }
    assert {k: (s.expected, s.received) for k, s in by_id.items()} == {
        "ILAMAD25": (1908, 1908),
        "IICHTE19": (1906, 1899),  # 2024-09-30 22:04 -> 2024-10-07 12:49 UTC, 5-minutely
        "07015": (60, 60),
        "00052": (361, 361),
        "000R5": (361, 361),
        "STATIC0010": (361, 361),
    }
    assert by_id["07015"].gaps == ()
    assert {k for k, s in by_id.items() if s.gaps} == {"IICHTE19"}

    def utc(day: int, hour: int, minute: int) -> datetime:
        return datetime(2024, 10, day, hour, minute, tzinfo=UTC)

    # Local (UTC+2) 021024 18:20 -> 18:44, 031024 12:47 -> 13:14 and 13:16 -> 13:24.
    assert by_id["IICHTE19"].gaps == (
        Gap("IICHTE19", utc(2, 16, 20), utc(2, 16, 44), 4),  # 24 min: 4.8 -> 5 - 1
        Gap("IICHTE19", utc(3, 10, 47), utc(3, 11, 14), 4),  # 27 min: 5.4 -> 5 - 1
        Gap("IICHTE19", utc(3, 11, 16), utc(3, 11, 24), 1),  # 8 min: 1.6 -> 2 - 1
    )


def test_a_calm_reading_s_null_direction_counts_as_received():
    table = valid("A", [0, 5, 10], wind_direction=[90.0, None, None])
    table = table.append_column("flags", pa.array([[], ["wind_calm"], []], pa.list_(pa.string())))
    result = completeness(table, stations(A=["wind_direction"]), Window(), now=at(60))
    (direction,) = result.stations[0].measurements
    assert (direction.expected, direction.received) == (3, 2)  # 10 min: missing, not calm


def test_the_score_counts_core_measurements_only():
    table = valid("A", [0, 5, 10], precip_1h=[1.0, None, None])
    result = completeness(table, stations(A=["temperature", "precip_1h"]), Window(), now=at(60))
    assert [m.pct for m in result.stations[0].measurements] == [100.0, 33.33]
    assert result.score() == 100.0  # precip_1h is hourly by nature: listed, not scored
