"""Validation rules on tiny inline tables: one test per reject rule, the compare warnings, the
quality score and the rule catalogue."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import forecast.quality.anomalies
import forecast.quality.validate
from forecast.quality.docs import data_quality_markdown
from forecast.quality.rules import (
    PHYSICAL_RANGES,
    RULES,
    RULES_BY_ID,
    SCORE_FORMULA,
    WARN_RULES,
    catalogue_markdown,
    param,
)
from forecast.quality.validate import Window, quality_scores, validate
from forecast.schema import MEASUREMENT_KEYS, UNITS
from tests.unit.rows import CORE_VALUES, T0, observations, series, stations

NO_THRESHOLD = 1.0
"""max_rejection_rate that never holds a partition, for tests about single rows."""

AT = "file 'f.xlsx', sheet '011024', row"


def rejections(result) -> list[tuple[int, list[str], list[str]]]:
    return [
        (row["row"], row["reject_rules"], row["reject_reasons"])
        for row in result.rejected.to_pylist()
    ]


def test_clean_rows_are_valid_with_a_perfect_score():
    result = validate(observations({}, {}))
    assert result.valid.num_rows == 2 and result.rejected.num_rows == 0
    assert result.valid.column("quality_score").to_pylist() == [100.0, 100.0]
    assert result.valid.column("quality_rules").to_pylist() == [[], []]


# ------------------------------------------------------------------------------ reject rules


def test_missing_timestamp_is_rejected_and_keeps_the_parse_error_of_the_time_cell():
    result = validate(
        observations(
            {},
            {"timestamp": None, "parse_errors": ["cell 'Time' is not a time: '25:99 PM'"]},
            {"timestamp": None},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert result.valid.column("row").to_pylist() == [3]
    assert rejections(result) == [
        (
            4,
            ["missing_timestamp", "parse_error"],
            [
                f"{AT} 4: the time of the observation is missing",
                f"{AT} 4: cell 'Time' is not a time: '25:99 PM'",
            ],
        ),
        (5, ["missing_timestamp"], [f"{AT} 5: the time of the observation is missing"]),
    ]


def test_a_row_without_any_measurement_is_rejected():
    empty = {key: None for key in MEASUREMENT_KEYS}
    result = validate(observations({}, empty), max_rejection_rate=NO_THRESHOLD)
    assert result.valid.column("row").to_pylist() == [3]
    assert rejections(result) == [(4, ["no_measurements"], [f"{AT} 4: no measurement has a value"])]


def test_a_single_non_core_measurement_is_enough():
    only_gust = {key: None for key in MEASUREMENT_KEYS} | {"wind_gust": 0.0}
    result = validate(observations(only_gust))
    assert result.valid.num_rows == 1 and result.rejected.num_rows == 0


def test_parse_errors_reject_the_row_and_keep_the_message():
    result = validate(
        observations(
            {},
            {"parse_errors": ["field 'Temperature' is not a number: 'N/A'"], "temperature": None},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert result.valid.column("row").to_pylist() == [3]
    assert rejections(result) == [
        (4, ["parse_error"], [f"{AT} 4: field 'Temperature' is not a number: 'N/A'"])
    ]


def test_unit_errors_reject_the_row_as_unit_mismatch():
    message = "field 'Pressure' carries unit 'hPa', expected 'in': '1013 hPa'"
    result = validate(
        observations({}, {"unit_errors": [message], "pressure": None}),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert result.valid.column("row").to_pylist() == [3]
    assert rejections(result) == [(4, ["unit_mismatch"], [f"{AT} 4: {message}"])]


@pytest.mark.parametrize("key", list(PHYSICAL_RANGES))
def test_physical_range_rejects_just_outside_and_keeps_the_bounds(key):
    low, high, _ = PHYSICAL_RANGES[key]
    result = validate(
        observations({key: high + 0.001}, {key: low - 0.001}, {key: high}, {key: low}),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert result.valid.column("row").to_pylist() == [5, 6]
    assert result.valid.column(key).to_pylist() == [high, low]
    allowed = f"{UNITS[key]} is outside [{low:g}, {high:g}]"
    assert rejections(result) == [
        (3, [f"range_{key}"], [f"{AT} 3: {key} = {high + 0.001:.3f} {allowed}"]),
        (4, [f"range_{key}"], [f"{AT} 4: {key} = {low - 0.001:.3f} {allowed}"]),
    ]


def test_a_row_breaking_several_rules_names_each_with_its_reason():
    result = validate(
        observations({"humidity": 140.0, "wind_speed": -1.0}), max_rejection_rate=NO_THRESHOLD
    )
    assert rejections(result) == [
        (
            3,
            ["range_humidity", "range_wind_speed"],
            [
                f"{AT} 3: humidity = 140 % is outside [0, 100]",
                f"{AT} 3: wind_speed = -1 km/h is outside [0, 400]",
            ],
        )
    ]


def test_timestamp_in_future_allows_the_tolerance_of_ten_minutes():
    assert param("timestamp_in_future", "tolerance_minutes") == 10
    now = T0 + timedelta(hours=1)
    result = validate(
        observations(
            {"timestamp": now + timedelta(minutes=11)},
            {"timestamp": now + timedelta(minutes=10)},
            {"timestamp": now + timedelta(minutes=9)},
        ),
        now=now,
        max_rejection_rate=NO_THRESHOLD,
    )
    assert result.valid.column("row").to_pylist() == [4, 5]
    [(row, rules, [reason])] = rejections(result)
    assert (row, rules) == (3, ["timestamp_in_future"])
    assert reason.startswith(f"{AT} 3: timestamp 2024-10-05T01:11:00")
    assert reason.endswith(" is after the run's clock (2024-10-05T01:00:00Z)")


def test_timestamp_in_future_reason_formats_both_times_alike():
    now = T0 + timedelta(hours=1)
    result = validate(observations({"timestamp": now + timedelta(minutes=11)}), now=now)
    assert result.rejected.column("reject_reasons").to_pylist() == [
        [f"{AT} 3: timestamp 2024-10-05T01:11:00Z is after the run's clock (2024-10-05T01:00:00Z)"]
    ]


def test_window_keeps_inclusive_utc_dates_and_counts_the_rest():
    rows = observations(
        {"timestamp": datetime(2024, 10, 4, 23, 59, tzinfo=UTC)},
        {"timestamp": datetime(2024, 10, 5, 0, 0, tzinfo=UTC)},
        {"timestamp": datetime(2024, 10, 6, 23, 59, tzinfo=UTC)},
        {"timestamp": datetime(2024, 10, 7, 0, 0, tzinfo=UTC)},
    )
    result = validate(rows, Window(date(2024, 10, 5), date(2024, 10, 6)))
    assert result.valid.column("row").to_pylist() == [4, 5]
    assert result.rejected.num_rows == 0
    assert result.outside_window == 2


def test_window_with_one_open_end():
    rows = observations(
        {"timestamp": datetime(2024, 10, 4, 23, 59, tzinfo=UTC)},
        {"timestamp": datetime(2030, 1, 1, tzinfo=UTC)},
    )
    now = datetime(2030, 1, 1, tzinfo=UTC)
    result = validate(rows, Window(start=date(2024, 10, 5)), now=now)
    assert result.valid.column("row").to_pylist() == [4]
    assert result.outside_window == 1


def test_a_null_timestamp_inside_a_windowed_run_is_rejected_not_excluded():
    rows = observations(
        {"timestamp": datetime(2024, 10, 4, 23, 59, tzinfo=UTC)},
        {"timestamp": None},
        *({} for _ in range(20)),
    )
    result = validate(rows, Window(date(2024, 10, 5), date(2024, 10, 5)))
    assert result.outside_window == 1
    assert result.valid.num_rows == 20
    assert rejections(result) == [
        (4, ["missing_timestamp"], [f"{AT} 4: the time of the observation is missing"])
    ]


# ------------------------------------------------------------------------------ warn rules


def test_dew_point_above_temperature_warns_beyond_the_tolerance_only():
    assert param("dew_point_above_temperature", "tolerance") == 0.5
    result = validate(observations({"dew_point": 15.5}, {"dew_point": 15.51}, {"dew_point": None}))
    assert result.valid.column("quality_rules").to_pylist() == [
        [],
        ["dew_point_above_temperature"],
        [],
    ]
    assert result.valid.column("quality_score").to_pylist() == [100.0, 90.0, 95.0]


def test_gust_below_speed_warns_beyond_the_tolerance_only():
    assert param("gust_below_speed", "tolerance") == 0.5
    result = validate(
        observations({"wind_gust": 4.5}, {"wind_gust": 4.49}, {"wind_gust": None}, {})
    )
    assert result.valid.column("quality_rules").to_pylist() == [[], ["gust_below_speed"], [], []]
    assert result.valid.column("quality_score").to_pylist() == [100.0, 90.0, 100.0, 100.0]


# ------------------------------------------------------------------------------ quality score


def test_a_spike_and_a_missing_core_measurement_cost_twenty_five_points():
    values = {key: [value] * 7 for key, value in CORE_VALUES.items()}
    values["temperature"] = [10.0, 10.1, 10.2, 25.3, 10.4, 10.5, 10.6]
    values["humidity"] = [70.0, 70.0, 70.0, None, 70.0, 70.0, 70.0]
    result = validate(series(**values))
    assert result.valid.column("quality_rules").to_pylist()[3] == ["spike_temperature"]
    assert result.valid.column("quality_score").to_pylist() == [100.0] * 3 + [75.0] + [100.0] * 3


def test_dst_flags_cost_ten_points_and_calm_costs_nothing():
    result = validate(
        observations(
            {"flags": ["dst_ambiguous"]},
            {"flags": ["dst_nonexistent"]},
            {"flags": ["wind_calm"], "wind_speed": 0.0, "wind_direction": None},
        )
    )
    assert result.valid.column("quality_score").to_pylist() == [90.0, 90.0, 100.0]


def test_missing_core_measurement_costs_five_points_but_calm_direction_does_not():
    result = validate(
        observations(
            {"wind_direction": None},
            {"wind_direction": None, "wind_speed": 0.0, "flags": ["wind_calm"]},
            {"wind_direction": None, "humidity": None, "wind_speed": 0.0, "flags": ["wind_calm"]},
            {"wind_gust": 12.0},
        )
    )
    assert result.valid.column("quality_score").to_pylist() == [95.0, 100.0, 95.0, 100.0]


def test_score_sums_every_penalty_and_is_clamped_at_zero():
    rows = observations({}, {}, {"flags": ["dst_ambiguous"], "pressure": None}, {})
    fired = [
        [],
        ["spike_temperature", "pressure_jump", "stuck_wind_direction"],
        ["flatline_humidity"],
        list(WARN_RULES),
    ]
    assert sum(RULES_BY_ID[rule].penalty for rule in WARN_RULES) > 100
    scored = rows.append_column("quality_rules", pa.array(fired, pa.list_(pa.string())))
    assert quality_scores(scored).to_pylist() == [100.0, 45.0, 70.0, 0.0]


# ------------------------------------------------------------------------------ catalogue


def test_every_rule_is_documented_in_the_generated_catalogue():
    text = catalogue_markdown()
    assert all(f"`{rule.id}`" in text for rule in RULES)
    assert SCORE_FORMULA in text
    assert len(RULES_BY_ID) == len(RULES), "rule ids must be unique"


def test_only_warn_rules_carry_a_penalty_and_every_warn_rule_does():
    assert {rule.id for rule in RULES if rule.penalty > 0} == set(WARN_RULES)
    assert all(rule.penalty == 0 for rule in RULES if rule.severity != "warn")


def _recorded_rule_ids(monkeypatch, module) -> list[set[str]]:
    """Record the rule ids of every ``flags_where`` call ``module`` makes."""
    calls: list[set[str]] = []
    original = module.flags_where

    def recording(masks, length):
        calls.append(set(masks))
        return original(masks, length)

    monkeypatch.setattr(module, "flags_where", recording)
    return calls


def test_detector_rule_ids_are_exactly_the_catalogued_anomaly_rules(monkeypatch):
    calls = _recorded_rule_ids(monkeypatch, forecast.quality.anomalies)
    forecast.quality.anomalies.detect(series(temperature=[10.0, 11.0]), stations(("ST", 50.0, 3.0)))
    kinds = {"spike", "jump", "flatline", "stuck", "accumulation", "cross-station"}
    assert calls == [{rule.id for rule in RULES if rule.kind in kinds}]
    assert calls[0] <= set(WARN_RULES)


def test_validate_fires_only_catalogued_rules_and_evaluates_every_one(monkeypatch):
    calls = _recorded_rule_ids(monkeypatch, forecast.quality.validate)
    validate(observations({}, {}))
    fired = set().union(*calls)
    assert fired <= set(RULES_BY_ID)
    by_severity = {
        rule.id
        for rule in RULES
        if rule.severity == "reject" or (rule.severity == "warn" and rule.kind == "compare")
    }
    # rejection_threshold moves whole partitions afterwards and load_refused comes from MongoDB,
    # neither through a row mask
    assert fired == by_severity - {"rejection_threshold", "load_refused"}


def test_committed_data_quality_doc_is_generated_from_the_catalogue():
    committed = (Path(__file__).resolve().parents[2] / "docs" / "data-quality.md").read_text(
        encoding="utf-8"
    )
    assert committed == data_quality_markdown(), "regenerate it: make docs"
