from datetime import UTC, datetime

import pyarrow as pa

from forecast.localtime import to_utc


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_summer_local_time_is_two_hours_ahead_of_utc_in_paris():
    result = to_utc(pa.array([datetime(2024, 10, 1, 0, 4)]), "Europe/Paris")
    assert result.utc.to_pylist() == [_utc(2024, 9, 30, 22, 4)]
    assert result.ambiguous.to_pylist() == [False]
    assert result.nonexistent.to_pylist() == [False]


def test_nonexistent_spring_forward_time_uses_the_offset_before_the_transition_and_is_flagged():
    result = to_utc(
        pa.array([datetime(2024, 3, 31, 2, 30), datetime(2024, 3, 31, 3, 0)]), "Europe/Brussels"
    )
    assert result.utc.to_pylist() == [_utc(2024, 3, 31, 1, 30), _utc(2024, 3, 31, 1, 0)]
    assert result.nonexistent.to_pylist() == [True, False]


def test_repeated_fall_back_time_maps_first_to_summer_then_to_winter_and_is_flagged():
    local = pa.array(
        [datetime(2024, 10, 27, 2, 30), datetime(2024, 10, 27, 2, 30), datetime(2024, 10, 27, 3, 0)]
    )
    result = to_utc(local, "Europe/Paris")
    assert result.utc.to_pylist() == [
        _utc(2024, 10, 27, 0, 30),
        _utc(2024, 10, 27, 1, 30),
        _utc(2024, 10, 27, 2, 0),
    ]
    assert result.ambiguous.to_pylist() == [True, True, False]


def test_winter_time_is_one_hour_ahead():
    assert to_utc(pa.array([datetime(2024, 1, 5, 12, 0)]), "Europe/Paris").utc.to_pylist() == [
        _utc(2024, 1, 5, 11, 0)
    ]
