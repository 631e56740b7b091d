"""Validation: observations -> validated rows with scores, and quarantined rows with reasons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.rules import (
    CORE_MEASUREMENTS,
    DEW_POINT_TOLERANCE,
    GUST_TOLERANCE,
    PHYSICAL_RANGES,
    SCORE_PER_MISSING_CORE,
    SCORE_PER_WARNING,
    WARNING_FLAGS,
)
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, REJECTED, UNITS, VALIDATED, conform
from forecast.sources.common import as_array, collect_messages, concat_lists, flags_where, has_flag

_NULL_TEXT = pa.scalar(None, pa.string())
_FIRST_OCCURRENCE_ORDER = ("station_id", "timestamp", "raw_key", "row", "record_index")
_DUPLICATE = "duplicate of an earlier observation of this station and time, with {} values"


@dataclass(frozen=True)
class Window:
    """An inclusive window of UTC dates; ``None`` ends are open."""

    start: date | None = None
    end: date | None = None

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Return [start, end) as UTC datetimes."""
        low = datetime.combine(self.start, time(), UTC) if self.start else None
        high = datetime.combine(self.end + timedelta(days=1), time(), UTC) if self.end else None
        return low, high


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one batch of observations."""

    valid: pa.Table
    rejected: pa.Table
    outside_window: int


def in_window(observations: pa.Table, window: Window) -> pa.Array:
    """Return a mask of observations whose timestamp falls inside ``window``."""
    low, high = window.bounds()
    stamps = observations.column("timestamp")
    mask = pa.array(np.ones(observations.num_rows, dtype=bool))
    if low is not None:
        mask = pc.and_(mask, pc.greater_equal(stamps, pa.scalar(low, stamps.type)))
    if high is not None:
        mask = pc.and_(mask, pc.less(stamps, pa.scalar(high, stamps.type)))
    return as_array(mask)


def locations(observations: pa.Table) -> pa.Array:
    """Return, per row, where it came from: file and sheet/row, or file, station and record."""
    file = pc.binary_join_element_wise("file '", observations.column("source_file"), "'", "")
    sheet_row = pc.binary_join_element_wise(
        file, ", sheet '", observations.column("sheet"), "', row ",
        observations.column("row").cast(pa.string()), "",
    )  # fmt: skip
    record = pc.binary_join_element_wise(
        file, ", station '", observations.column("station_id"), "', record ",
        pc.fill_null(observations.column("record_index").cast(pa.string()), "?"), "",
    )  # fmt: skip
    return as_array(pc.coalesce(sheet_row, record))


def _duplicates(observations: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Return (mask of later occurrences of a (station, timestamp) key, whether values conflict)."""
    n = observations.num_rows
    if n == 0:
        return pa.array([], pa.bool_()), pa.array([], pa.bool_())
    order = pc.sort_indices(
        observations,
        sort_keys=[(name, "ascending") for name in _FIRST_OCCURRENCE_ORDER],
    ).to_numpy()
    station = as_array(observations.column("station_id")).take(order)
    stamp = as_array(observations.column("timestamp")).cast(pa.int64()).take(order).to_numpy()
    same = np.zeros(n, dtype=bool)
    same[1:] = pc.equal(station[1:], station[:-1]).to_numpy(zero_copy_only=False) & (
        stamp[1:] == stamp[:-1]
    )
    group_first = order[np.maximum.accumulate(np.where(~same, np.arange(n), 0))]
    conflict_sorted = np.zeros(n, dtype=bool)
    for key in MEASUREMENT_KEYS:
        values = as_array(observations.column(key))
        here, first = values.take(order), values.take(group_first)
        equal = pc.or_kleene(pc.equal(here, first), pc.and_(pc.is_null(here), pc.is_null(first)))
        conflict_sorted |= ~pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
    duplicate, conflict = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    duplicate[order] = same
    conflict[order] = same & conflict_sorted
    return pa.array(duplicate), pa.array(conflict)


def _range_checks(observations: pa.Table) -> tuple[dict[str, pa.Array], list[pa.Array]]:
    masks: dict[str, pa.Array] = {}
    reasons: list[pa.Array] = []
    for key, (low, high, _) in PHYSICAL_RANGES.items():
        values = observations.column(key)
        outside = pc.fill_null(pc.or_(pc.less(values, low), pc.greater(values, high)), False)
        masks[f"range_{key}"] = outside
        text = pc.binary_join_element_wise(
            f"{key} = ", pc.round(values, 3).cast(pa.string()),
            f" {UNITS[key]} is outside [{low:g}, {high:g}]", "",
        )  # fmt: skip
        reasons.append(pc.if_else(outside, text, _NULL_TEXT))
    return masks, reasons


def _reject_checks(observations: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Return per-row lists of reject rule ids and of readable reasons."""
    n = observations.num_rows
    masks, reasons = _range_checks(observations)
    has_errors = pc.greater(pc.list_value_length(observations.column("parse_errors")), 0)
    masks["parse_error"] = has_errors
    reasons.append(
        pc.if_else(
            has_errors, pc.binary_join(observations.column("parse_errors"), "; "), _NULL_TEXT
        )
    )
    measured = [pc.is_valid(observations.column(key)) for key in MEASUREMENT_KEYS]
    empty = pc.invert(_any(measured, n))
    masks["no_measurements"] = empty
    reasons.append(pc.if_else(empty, pa.scalar("no measurement has a value"), _NULL_TEXT))
    duplicate, conflict = _duplicates(observations)
    masks["duplicate_key"] = duplicate
    reasons.append(
        pc.if_else(
            duplicate,
            pc.if_else(conflict, _DUPLICATE.format("conflicting"), _DUPLICATE.format("identical")),
            _NULL_TEXT,
        )
    )  # fmt: skip
    where = locations(observations)
    located = [pc.binary_join_element_wise(where, as_array(r), ": ") for r in reasons]
    return flags_where(masks, n), collect_messages(located, n)


def _any(masks: list[pa.Array], length: int) -> pa.Array:
    result = pa.array(np.zeros(length, dtype=bool))
    for mask in masks:
        result = pc.or_(result, pc.fill_null(mask, False))
    return result


def _warnings(observations: pa.Table) -> pa.Array:
    """Return per-row lists of warn rule ids that fired."""
    temperature, dew_point = observations.column("temperature"), observations.column("dew_point")
    speed, gust = observations.column("wind_speed"), observations.column("wind_gust")
    return flags_where(
        {
            "dew_point_above_temperature": pc.greater(
                dew_point, pc.add(temperature, DEW_POINT_TOLERANCE)
            ),
            "gust_below_speed": pc.less(pc.add(gust, GUST_TOLERANCE), speed),
        },
        observations.num_rows,
    )


def quality_scores(observations: pa.Table) -> pa.Array:
    """Return each record's 0-100 quality score (formula: ``forecast.rules.SCORE_FORMULA``)."""
    n = observations.num_rows
    flags = observations.column("flags")
    warnings = has_flag(flags, *WARNING_FLAGS)
    calm = pa.array(has_flag(flags, "wind_calm") > 0)
    missing = np.zeros(n)
    for key in CORE_MEASUREMENTS:
        null = pc.is_null(observations.column(key))
        if key == "wind_direction":
            null = pc.and_(null, pc.invert(calm))
        missing += as_array(null).to_numpy(zero_copy_only=False)
    score = 100.0 - SCORE_PER_WARNING * warnings - SCORE_PER_MISSING_CORE * missing
    return pa.array(np.clip(score, 0.0, 100.0))


def validate(observations: pa.Table, window: Window | None = None) -> Validation:
    """Split observations into validated rows (scored, warnings flagged) and quarantined rows.

    Rows outside ``window`` are neither: they are counted in ``outside_window``.
    """
    observations = conform(observations, OBSERVATIONS)
    outside = 0
    if window is not None and (window.start or window.end):
        mask = in_window(observations, window)
        outside = observations.num_rows - pc.sum(mask).as_py() if observations.num_rows else 0
        observations = observations.filter(mask)
    rule_ids, reasons = _reject_checks(observations)
    rejected_mask = pc.greater(pc.list_value_length(rule_ids), 0)
    flagged = observations.set_column(
        observations.schema.get_field_index("flags"), "flags",
        concat_lists(observations.column("flags"), _warnings(observations)),
    )  # fmt: skip
    rejected = flagged.append_column("reject_rules", rule_ids).append_column(
        "reject_reasons", reasons
    )
    rejected = conform(rejected.filter(rejected_mask), REJECTED)
    valid = flagged.filter(pc.invert(rejected_mask))
    valid = conform(valid.append_column("quality_score", quality_scores(valid)), VALIDATED)
    return Validation(valid=valid, rejected=rejected, outside_window=outside)
