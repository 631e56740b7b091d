"""Anomaly detectors on tiny 5-minute series: which rows each one flags, and its findings."""

import random
from datetime import timedelta

import pyarrow as pa
import pytest

from forecast.quality.anomalies import Finding, detect, distance_km, neighbour_pairs
from forecast.quality.rules import param
from tests.unit.rows import T0, series, stations

NOWHERE = stations()
LILLE_LESQUIN = ("07015", 50.575, 3.092)
LA_MADELEINE = ("ILAMAD25", 50.659, 3.070)
NEIGHBOURS = stations(LILLE_LESQUIN, LA_MADELEINE)


def flagged(table: pa.Table, sites: pa.Table = NOWHERE) -> dict[int, list[str]]:
    """Return row position -> rules fired, for the rows where any fired."""
    return {i: rules for i, rules in enumerate(detect(table, sites).rules.to_pylist()) if rules}


def findings(table: pa.Table, sites: pa.Table = NOWHERE) -> tuple[Finding, ...]:
    return detect(table, sites).findings


def minutes(m: float):
    return T0 + timedelta(minutes=m)


# ------------------------------------------------------------------------------ spikes

SMOOTH = {
    "temperature": [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6],
    "dew_point": [6.0, 6.1, 6.2, 6.3, 6.4, 6.5, 6.6],
    "humidity": [60.0, 60.5, 61.0, 61.5, 62.0, 62.5, 63.0],
}
SPIKE_SIZE = {"temperature": 15.0, "dew_point": 15.0, "humidity": 30.0}
"""Above min_change + rate_per_hour x 5 min (3.5 degC, 17.5 %) with margin."""


@pytest.mark.parametrize("key", list(SMOOTH))
def test_a_single_reading_spike_flags_exactly_that_reading(key):
    values = list(SMOOTH[key])
    values[3] += SPIKE_SIZE[key]
    assert flagged(series(**{key: values})) == {3: [f"spike_{key}"]}


@pytest.mark.parametrize("key", list(SMOOTH))
def test_a_negative_spike_is_flagged_too(key):
    values = list(SMOOTH[key])
    values[2] -= SPIKE_SIZE[key] * 0.9
    assert flagged(series(**{key: values})) == {2: [f"spike_{key}"]}


@pytest.mark.parametrize("key", list(SMOOTH))
def test_a_step_that_stays_is_not_a_spike(key):
    values = [v + SPIKE_SIZE[key] if i >= 3 else v for i, v in enumerate(SMOOTH[key])]
    assert flagged(series(**{key: values})) == {}


@pytest.mark.parametrize("key", list(SMOOTH))
@pytest.mark.parametrize(("margin", "expected"), [(-0.05, False), (0.05, True)])
def test_a_spike_must_exceed_min_change_plus_rate_times_interval(key, margin, expected):
    low, rate = param(f"spike_{key}", "min_change"), param(f"spike_{key}", "rate_per_hour")
    values = [SMOOTH[key][0]] * 7
    values[3] += low + rate * 5 / 60 + margin
    assert flagged(series(**{key: values})) == ({3: [f"spike_{key}"]} if expected else {})


@pytest.mark.parametrize("key", list(SMOOTH))
def test_a_two_step_staircase_is_not_a_spike(key):
    # the middle reading leaves both neighbours by a whole spike, but in the same direction
    values = list(SMOOTH[key])
    values[3] -= SPIKE_SIZE[key]
    values[4:] = [v - 2 * SPIKE_SIZE[key] for v in values[4:]]
    assert flagged(series(**{key: values})) == {}


def test_the_first_and_last_readings_cannot_be_spikes():
    values = [25.0, 10.1, 10.2, 10.3, 25.4]
    assert flagged(series(temperature=values)) == {}


# At 180 min the allowed step is 3 + 6 x 3 = 21 degC: a 40 degC excursion is a spike there,
# while beyond max_gap_minutes it is not judged at all. (Humidity cannot be tested this way: its
# allowed step at 180 min, 15 + 30 x 3 = 105 %, exceeds any humidity.)
@pytest.mark.parametrize("key", ["temperature", "dew_point"])
@pytest.mark.parametrize(("gap", "expected"), [(175, True), (185, False)])
def test_a_spike_across_a_gap_longer_than_max_gap_minutes_is_not_flagged(key, gap, expected):
    assert param(f"spike_{key}", "max_gap_minutes") == 180
    values = [10.0, 10.1, 10.2, 50.0, 10.4, 10.5]
    at = [0, 5, 10, 10 + gap, 15 + gap, 20 + gap]
    assert flagged(series(at=at, **{key: values})) == ({3: [f"spike_{key}"]} if expected else {})


def test_spikes_are_judged_per_station():
    # B's first reading would be a spike if A's last reading counted as its predecessor
    a = series("A", temperature=[10.0, 10.1])
    b = series("B", temperature=[25.0, 10.1, 10.2])
    assert flagged(pa.concat_tables([a, b])) == {}


# ------------------------------------------------------------------------------ pressure jumps


def test_a_pressure_step_of_3_hpa_within_5_minutes_flags_the_later_reading_only():
    table = series(pressure=[1010.0, 1010.0, 1010.0, 1013.0, 1013.0, 1013.0])
    assert flagged(table) == {3: ["pressure_jump"]}


def test_a_pressure_step_of_1_hpa_is_not_a_jump():
    assert flagged(series(pressure=[1010.0, 1010.0, 1010.0, 1011.0, 1011.0, 1011.0])) == {}


def test_hourly_pressure_falling_4_hpa_per_hour_is_within_1_5_plus_3_per_hour():
    assert flagged(series(every=60, pressure=[1010.0, 1006.0, 1002.0, 998.0])) == {}
    assert flagged(series(every=60, pressure=[1010.0, 1006.0, 1001.0, 997.0])) == {
        2: ["pressure_jump"]
    }


# 15 hPa exceeds the allowed 1.5 + 3 x 3 = 10.5 hPa at 180 min: a jump within the gap, not judged
# beyond it
@pytest.mark.parametrize(("gap", "expected"), [(175, {2: ["pressure_jump"]}), (185, {})])
def test_a_pressure_step_across_a_gap_longer_than_max_gap_minutes_is_not_a_jump(gap, expected):
    assert param("pressure_jump", "max_gap_minutes") == 180
    table = series(at=[0, 5, 5 + gap, 10 + gap], pressure=[1010.0, 1010.0, 1025.0, 1025.0])
    assert flagged(table) == expected


# ------------------------------------------------------------------------------ flatlines


def flat_temperature(readings: int, humidity_moves: bool = True) -> pa.Table:
    """Temperature 11.5, then 12.0 for ``readings`` readings, then 12.5, every 5 minutes."""
    temperature = [11.5] + [12.0] * readings + [12.5]
    humidity = [70.0 + (0.1 * i if humidity_moves else 0.0) for i in range(readings + 2)]
    return series(temperature=temperature, humidity=humidity)


def test_a_temperature_unchanged_for_3_hours_while_humidity_moves_is_a_flatline():
    assert param("flatline_temperature", "hours") == 3.0
    table = flat_temperature(37)  # rows 1-37: 0:05 to 3:05, exactly 3 h
    assert flagged(table) == {i: ["flatline_temperature"] for i in range(1, 38)}
    assert findings(table) == (
        Finding(
            "flatline_temperature", "ST", minutes(5), minutes(185), 37,
            "temperature stayed at 12 for 3.0 h (37 readings) while other measurements changed",
        ),
    )  # fmt: skip


@pytest.mark.parametrize("readings", [36, 31])
def test_a_temperature_unchanged_for_less_than_3_hours_is_not_a_flatline(readings):
    table = flat_temperature(readings)  # 2 h 55 and 2 h 30
    assert flagged(table) == {}
    assert findings(table) == ()


def test_a_flatline_does_not_run_on_into_the_next_station():
    # 12.0 for 100 min at A, then 12.0 for 100 min at B: 3.3 h only if the stations merged
    a = series("A", temperature=[11.5] + [12.0] * 21, humidity=[70.0 + i for i in range(22)])
    b = series(
        "B",
        start=minutes(105),
        temperature=[12.0] * 21 + [12.5],
        humidity=[70.0 + i for i in range(22)],
    )
    assert flagged(pa.concat_tables([a, b])) == {}


def test_a_flatline_while_every_other_core_measurement_is_constant_too_is_not_flagged():
    n = 39
    table = series(
        temperature=[11.5] + [12.0] * 37 + [12.5],
        dew_point=[8.0] * n,
        humidity=[70.0] * n,
        pressure=[1010.0] * n,
        wind_speed=[5.0] * n,
        wind_direction=[90.0 + i for i in range(n)],  # direction is not a witness
    )
    assert flagged(table) == {}
    assert findings(table) == ()


def test_a_flatline_needs_the_other_measurement_to_move_inside_the_run():
    humidity = [60.0] + [70.0] * 37 + [80.0]  # moves only before and after the run
    table = series(temperature=[11.5] + [12.0] * 37 + [12.5], humidity=humidity)
    assert flagged(table) == {}


# ------------------------------------------------------------------------------ stuck vanes


def vane(hours: float, *, direction=None, speed=None) -> tuple[list, list]:
    """A reading every 5 minutes for ``hours``: direction alternating 315 / 337.5 and a varying
    speed, unless given."""
    n = int(hours * 12) + 1
    directions = (
        [315.0 if i % 2 == 0 else 337.5 for i in range(n)] if direction is None else direction
    )
    speeds = [4.0 + i % 5 for i in range(n)] if speed is None else speed
    return directions, speeds  # fmt: skip


def test_a_vane_within_one_sector_for_20_windy_hours_is_stuck():
    direction, speed = vane(20)
    table = series(wind_direction=direction, wind_speed=speed)
    assert flagged(table) == {i: ["stuck_wind_direction"] for i in range(241)}
    assert findings(table) == (
        Finding(
            "stuck_wind_direction", "ST", minutes(0), minutes(20 * 60), 241,
            "wind direction within 315 to 337.5 deg (clockwise) for 20.0 h (241 windy readings) while wind "
            "speed ranged 4.0-8.0 km/h",
        ),
    )  # fmt: skip


def test_calm_readings_inside_a_stuck_span_are_flagged_too():
    direction, speed = vane(20)
    direction[100], speed[100] = None, 0.0
    speed[150] = 0.0  # calm but the vane still reports its bearing
    table = series(wind_direction=direction, wind_speed=speed)
    assert flagged(table) == {i: ["stuck_wind_direction"] for i in range(241)}
    [finding] = findings(table)
    assert finding.readings == 239
    assert "(239 windy readings)" in finding.detail and "315 to 337.5 deg" in finding.detail


def test_a_vane_within_one_sector_for_17_hours_is_not_stuck():
    direction, speed = vane(17)
    assert flagged(series(wind_direction=direction, wind_speed=speed)) == {}


def test_a_vane_veering_slowly_through_90_degrees_is_not_stuck():
    direction, speed = vane(20, direction=[i * 90 / 240 for i in range(241)])
    assert flagged(series(wind_direction=direction, wind_speed=speed)) == {}


def test_a_constant_direction_with_a_constant_speed_is_not_stuck():
    direction, speed = vane(20, direction=[320.0] * 241, speed=[5.0] * 241)
    assert flagged(series(wind_direction=direction, wind_speed=speed)) == {}


def test_a_stuck_sector_across_north_is_recognised():
    direction, speed = vane(20, direction=[350.0 if i % 2 else 10.0 for i in range(241)])
    table = series(wind_direction=direction, wind_speed=speed)
    assert len(flagged(table)) == 241
    [finding] = findings(table)
    assert "within 350 to 10 deg (clockwise)" in finding.detail


# ------------------------------------------------------------------------------ precipitation


def test_a_running_total_falling_to_zero_is_a_reset():
    assert flagged(series(precip_accum=[4.0, 4.8, 0.0, 0.2])) == {}


def test_a_running_total_falling_to_a_higher_value_is_flagged_on_the_later_reading():
    assert flagged(series(precip_accum=[4.0, 4.8, 2.0, 2.2])) == {2: ["precip_total_decrease"]}


def test_rising_totals_and_the_reset_tolerance_are_not_flagged():
    assert param("precip_total_decrease", "tolerance") == 0.05
    assert flagged(series(precip_accum=[0.0, 0.2, 0.2, 1.0, 4.8])) == {}
    assert flagged(series(precip_accum=[4.8, 0.05, 0.3])) == {}
    assert flagged(series(precip_accum=[4.8, 0.06, 0.3])) == {1: ["precip_total_decrease"]}


# ------------------------------------------------------------------------------ cross-station


def test_distance_between_lesquin_and_la_madeleine_is_about_9_5_km():
    assert distance_km(50.575, 3.092, 50.659, 3.070) == pytest.approx(9.5, abs=0.3)
    assert [(a, b) for a, b, _ in neighbour_pairs(NEIGHBOURS, 12)] == [
        ("07015", "ILAMAD25"),
        ("ILAMAD25", "07015"),
    ]


LINE = stations(*[(f"S{i:02d}", 50.0 + i * 0.009, 3.0) for i in range(12)])  # 1 km apart, north


def test_a_station_is_compared_with_its_nearest_neighbours_and_those_it_is_nearest_to():
    assert param("cross_station_temperature", "max_neighbours") == 6
    pairs = {(a, b) for a, b, _ in neighbour_pairs(LINE, 12, 6)}
    assert all((b, a) in pairs for a, b in pairs)  # symmetric
    assert {b for a, b in pairs if a == "S00"} == {f"S{i:02d}" for i in range(1, 7)}
    assert {b for a, b in pairs if a == "S06"} == {f"S{i:02d}" for i in range(12)} - {"S06"}
    assert len(list(neighbour_pairs(LINE, 12))) == 12 * 11  # no cap: every pair within 12 km


def test_one_faulty_sensor_in_a_dense_network_flags_a_few_neighbours_not_all():
    table = pa.concat_tables(
        [series(f"S{i:02d}", every=30, temperature=[25.0 if i == 0 else 10.0]) for i in range(12)]
    )
    rows = flagged(table, LINE)
    flagged_stations = sorted(table.column("station_id").take(list(rows)).to_pylist())
    assert flagged_stations == [f"S{i:02d}" for i in range(7)]  # S00 and its 6 nearest


def two_stations(difference: float, offset_minutes: float, sites: pa.Table = NEIGHBOURS):
    """Two readings at 07015 (0:00, 0:30) and at ILAMAD25 ``offset_minutes`` later, warmer by
    ``difference``."""
    a = series("07015", every=30, temperature=[10.0, 10.2])
    b = series(
        "ILAMAD25",
        every=30,
        start=minutes(offset_minutes),
        temperature=[10.0 + difference, 10.2 + difference],
    )
    table = pa.concat_tables([a, b])
    return flagged(table, sites), findings(table, sites)


def test_neighbours_6_degrees_apart_within_10_minutes_are_both_flagged():
    rows, found = two_stations(6.0, 10)
    assert rows == {i: ["cross_station_temperature"] for i in range(4)}
    detail = "by more than 5 degC in 2 of 2 paired readings (max 6.0 degC)"
    assert found == (
        Finding(
            "cross_station_temperature", "07015", minutes(0), minutes(30), 2,
            f"temperature differs from ILAMAD25 (9.5 km away) {detail}",
        ),
        Finding(
            "cross_station_temperature", "ILAMAD25", minutes(10), minutes(40), 2,
            f"temperature differs from 07015 (9.5 km away) {detail}",
        ),
    )  # fmt: skip


@pytest.mark.parametrize("difference", [4.0, 5.0])
def test_neighbours_at_most_5_degrees_apart_are_not_flagged(difference):
    assert two_stations(difference, 10) == ({}, ())


def test_stations_30_km_apart_are_not_compared():
    far = stations(LILLE_LESQUIN, ("FAR", 50.845, 3.070))
    assert distance_km(50.575, 3.092, 50.845, 3.070) == pytest.approx(30.0, abs=0.3)
    a = series("07015", every=30, temperature=[10.0, 10.2])
    b = series("FAR", every=30, start=minutes(10), temperature=[16.0, 16.2])
    assert flagged(pa.concat_tables([a, b]), far) == {}


@pytest.mark.parametrize("offset", [11, 20])
def test_readings_more_than_10_minutes_apart_are_not_paired(offset):
    a = series("07015", every=60, temperature=[10.0, 10.2])
    b = series("ILAMAD25", every=60, start=minutes(offset), temperature=[16.0, 16.2])
    assert flagged(pa.concat_tables([a, b]), NEIGHBOURS) == {}


def test_stations_missing_from_the_station_table_are_not_compared():
    assert two_stations(6.0, 10, stations(LILLE_LESQUIN)) == ({}, ())


# ------------------------------------------------------------------------------ row order


def test_rules_follow_the_input_row_order_when_rows_are_not_sorted_by_time():
    spike = series("07015", temperature=[10.0, 10.1, 25.2, 10.3, 10.4, 10.5])
    jump = series("ILAMAD25", pressure=[1010.0, 1010.0, 1010.0, 1013.0, 1013.0, 1013.0])
    table = pa.concat_tables([spike, jump])
    expected = {("07015", 5): ["spike_temperature"], ("ILAMAD25", 6): ["pressure_jump"]}
    order = list(range(table.num_rows))
    random.Random(20241005).shuffle(order)
    assert order != sorted(order)
    shuffled = table.take(pa.array(order))
    keys = list(zip(shuffled["station_id"].to_pylist(), shuffled["row"].to_pylist(), strict=True))
    assert detect(shuffled, NEIGHBOURS).rules.to_pylist() == [expected.get(key, []) for key in keys]


@pytest.mark.parametrize(("gap", "expected"), [(175, {2: ["precip_total_decrease"]}), (185, {})])
def test_a_fall_across_a_gap_longer_than_max_gap_minutes_may_hide_a_reset(gap, expected):
    assert param("precip_total_decrease", "max_gap_minutes") == 180
    table = series(at=[0, 5, 5 + gap, 10 + gap], precip_accum=[4.0, 4.8, 2.0, 2.2])
    assert flagged(table) == expected


def test_a_one_reading_pressure_spike_flags_the_spike_not_the_step_back():
    assert flagged(series(pressure=[1010.0, 1010.0, 1013.0, 1010.0, 1010.0])) == {
        2: ["pressure_jump"]
    }
    # two real steps in the same direction are two faults
    assert flagged(series(pressure=[1010.0, 1013.0, 1016.0])) == {
        1: ["pressure_jump"],
        2: ["pressure_jump"],
    }


def test_the_neighbour_distance_is_a_run_parameter():
    a = series("07015", every=30, temperature=[10.0, 10.2])
    b = series("ILAMAD25", every=30, start=minutes(10), temperature=[16.0, 16.2])
    table = pa.concat_tables([a, b])
    assert len(detect(table, NEIGHBOURS, neighbour_km=5).findings) == 0  # 9.5 km > 5 km
    far = stations(LILLE_LESQUIN, ("ILAMAD25", 50.845, 3.070))  # 30 km away
    assert len(detect(table, far).findings) == 0
    assert len(detect(table, far, neighbour_km=40).findings) == 2
