"""Validation rules on tiny inline tables."""

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from forecast.rules import RULES, catalogue_markdown
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, conform
from forecast.validate import Window, validate


def observations(*rows: dict) -> pa.Table:
    base = {
        "source": "wunderground",
        "source_file": "f.xlsx",
        "raw_key": "k",
        "raw_sha256": "s",
        "flags": [],
        "parse_errors": [],
        "sheet": "011024",
    }
    filled = []
    for i, row in enumerate(rows):
        record = {key: None for key in MEASUREMENT_KEYS} | base | {"station_id": "ST", "row": 3 + i}
        record |= {
            "temperature": 15.0,
            "dew_point": 10.0,
            "humidity": 70.0,
            "pressure": 1010.0,
            "wind_speed": 5.0,
            "wind_direction": 90.0,
        }
        record |= row
        record.setdefault("timestamp", datetime(2024, 10, 5, 0, i, tzinfo=UTC))
        filled.append(record)
    return conform(pa.Table.from_pylist(filled), OBSERVATIONS)


def test_clean_rows_are_valid_with_a_perfect_score():
    result = validate(observations({}, {}))
    assert result.valid.num_rows == 2 and result.rejected.num_rows == 0
    assert result.valid.column("quality_score").to_pylist() == [100.0, 100.0]


def test_humidity_above_100_is_rejected_with_a_located_reason():
    result = validate(observations({}, {"humidity": 140.0}))
    assert result.valid.num_rows == 1
    rejected = result.rejected.to_pylist()[0]
    assert rejected["reject_rules"] == ["range_humidity"]
    assert rejected["reject_reasons"] == [
        "file 'f.xlsx', sheet '011024', row 4: humidity = 140 % is outside [0, 100]"
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 61.0),
        ("pressure", 700.0),
        ("wind_speed", -1.0),
        ("wind_direction", 361.0),
        ("solar_radiation", 2500.0),
        ("cloud_cover", 10.0),
    ],
)
def test_physically_impossible_values_are_rejected(field, value):
    assert validate(observations({field: value})).rejected.column("reject_rules").to_pylist() == [
        [f"range_{field}"]
    ]


def test_parse_errors_reject_the_row_and_keep_the_message():
    result = validate(
        observations(
            {"parse_errors": ["field 'Temperature' is not a number: 'N/A'"], "temperature": None}
        )
    )
    assert result.rejected.column("reject_rules").to_pylist() == [["parse_error"]]
    assert result.rejected.column("reject_reasons").to_pylist() == [
        ["file 'f.xlsx', sheet '011024', row 3: field 'Temperature' is not a number: 'N/A'"]
    ]


def test_a_row_without_any_measurement_is_rejected():
    empty = {key: None for key in MEASUREMENT_KEYS}
    assert validate(observations(empty)).rejected.column("reject_rules").to_pylist() == [
        ["no_measurements"]
    ]


def test_duplicates_keep_the_first_and_say_whether_values_conflict():
    stamp = datetime(2024, 10, 5, 1, 0, tzinfo=UTC)
    result = validate(
        observations(
            {"timestamp": stamp}, {"timestamp": stamp}, {"timestamp": stamp, "temperature": 16.0}
        )
    )
    assert result.valid.column("row").to_pylist() == [3]
    reasons = sorted(result.rejected.column("reject_reasons").to_pylist())
    assert [r[0].split(": ", 1)[1] for r in reasons] == [
        "duplicate of an earlier observation of this station and time, with identical values",
        "duplicate of an earlier observation of this station and time, with conflicting values",
    ]


def test_dew_point_above_temperature_warns_and_lowers_the_score():
    result = validate(observations({"dew_point": 15.6}, {"dew_point": 15.4}))
    assert result.valid.column("flags").to_pylist() == [["dew_point_above_temperature"], []]
    assert result.valid.column("quality_score").to_pylist() == [90.0, 100.0]


def test_gust_below_speed_warns():
    assert validate(observations({"wind_gust": 2.0})).valid.column("flags").to_pylist() == [
        ["gust_below_speed"]
    ]


def test_missing_core_measurement_costs_five_points_but_calm_direction_does_not():
    result = validate(
        observations(
            {"wind_direction": None},
            {"wind_direction": None, "wind_speed": 0.0, "flags": ["wind_calm"]},
        )
    )
    assert result.valid.column("quality_score").to_pylist() == [95.0, 100.0]


def test_window_keeps_inclusive_utc_dates_and_counts_the_rest():
    rows = observations({"timestamp": datetime(2024, 10, 4, 23, 59, tzinfo=UTC)}, {"timestamp": datetime(2024, 10, 5, 0, 0, tzinfo=UTC)},
                        {"timestamp": datetime(2024, 10, 6, 23, 59, tzinfo=UTC)}, {"timestamp": datetime(2024, 10, 7, 0, 0, tzinfo=UTC)})  # fmt: skip
    result = validate(rows, Window(date(2024, 10, 5), date(2024, 10, 6)))
    assert result.valid.column("row").to_pylist() == [4, 5]
    assert result.outside_window == 2


def test_every_rule_is_documented_in_the_generated_catalogue():
    text = catalogue_markdown()
    assert all(f"`{rule.id}`" in text for rule in RULES)


def test_committed_data_quality_doc_is_generated_from_the_catalogue():
    from pathlib import Path

    committed = (Path(__file__).resolve().parents[2] / "docs" / "data-quality.md").read_text(
        encoding="utf-8"
    )
    assert committed == catalogue_markdown(), "regenerate it: make docs"
