from datetime import UTC, datetime

import pyarrow as pa

from forecast.sources.localtime import to_utc


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


def test_null_local_time_is_a_null_instant_and_neither_ambiguous_nor_nonexistent():
    local = pa.array(
        [
            datetime(2024, 10, 27, 2, 30),
            None,
            datetime(2024, 10, 27, 2, 30),
            datetime(2024, 10, 27, 3, 0),
            None,
        ]
    )
    result = to_utc(local, "Europe/Paris")
    assert result.utc.to_pylist() == [
        _utc(2024, 10, 27, 0, 30),
        None,
        _utc(2024, 10, 27, 1, 30),
        _utc(2024, 10, 27, 2, 0),
        None,
    ]
    assert result.ambiguous.to_pylist() == [True, False, True, False, False]
    assert result.nonexistent.to_pylist() == [False, False, False, False, False]


def test_nulls_before_an_ambiguous_time_do_not_count_as_an_earlier_occurrence():
    local = pa.array([None, None, datetime(2024, 10, 27, 2, 30), datetime(2024, 10, 27, 2, 30)])
    result = to_utc(local, "Europe/Paris")
    assert result.utc.to_pylist() == [
        None,
        None,
        _utc(2024, 10, 27, 0, 30),
        _utc(2024, 10, 27, 1, 30),
    ]
    assert result.ambiguous.to_pylist() == [False, False, True, True]


def test_null_next_to_a_nonexistent_time_leaves_the_offset_rule_unchanged():
    local = pa.array([None, datetime(2024, 3, 31, 2, 30), None])
    result = to_utc(local, "Europe/Brussels")
    assert result.utc.to_pylist() == [None, _utc(2024, 3, 31, 1, 30), None]
    assert result.nonexistent.to_pylist() == [False, True, False]
    assert result.ambiguous.to_pylist() == [False, False, False]


def test_only_null_local_times_give_only_null_instants():
    result = to_utc(pa.nulls(2, pa.timestamp("ms")), "Europe/Paris")
    assert result.utc.to_pylist() == [None, None]
    assert result.utc.type == pa.timestamp("ms", tz="UTC")
    assert result.ambiguous.to_pylist() == [False, False]
    assert result.nonexistent.to_pylist() == [False, False]
