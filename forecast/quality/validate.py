"""Validation: observations -> validated rows with scores and warnings, quarantined rows with
reasons, collapsed duplicates counted, and partitions held back above the rejection threshold.

Every rule lives in ``forecast/quality/rules.py``; this module evaluates them on whole columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.quality.anomalies import Finding, detect
from forecast.quality.rules import (
    CORE_MEASUREMENTS,
    DEFAULT_MAX_REJECTION_RATE,
    DEW_POINT_TOLERANCE,
    FLAG_PENALTIES,
    GUST_TOLERANCE,
    PHYSICAL_RANGES,
    RULES_BY_ID,
    SCORE_PER_MISSING_CORE,
    WARN_RULES,
    param,
)
from forecast.schema import (
    MEASUREMENT_KEYS,
    OBSERVATIONS,
    REJECTED,
    STATIONS,
    UNITS,
    VALIDATED,
    conform,
)
from forecast.sources import registry
from forecast.tables import as_array, collect_messages, concat_lists, flags_where, has_flag

_NULL_TEXT = pa.scalar(None, pa.string())
_INGEST_DATE = r"ingest_date=(?P<date>[0-9-]+)"
_UNDATED = "-"
_ISO = "%Y-%m-%dT%H:%M:%SZ"


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

    def to_dict(self) -> dict[str, str | None]:
        """Return the window as ISO dates (None for an open end), as reports and manifests hold it."""
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


@dataclass(frozen=True)
class Hold:
    """A station-day whose rejection rate exceeded the run's threshold: nothing of it loads."""

    station_id: str
    day: str
    rejected: int
    held: int

    @property
    def rate(self) -> float:
        """Rejected / (rejected + held valid rows)."""
        total = self.rejected + self.held
        return round(self.rejected / total, 6) if total else 0.0

    def describe(self, max_rate: float) -> str:
        """Return the one-line explanation used in reasons, logs and the flow's failure."""
        return (
            f"station {self.station_id} on {self.day}: {self.rejected} of "
            f"{self.rejected + self.held} rows rejected ({self.rate:.1%}) > {max_rate:.1%}"
        )


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one batch of observations.

    ``collapsed`` counts, per station, identical copies kept once; ``findings`` are the spanning
    anomalies (stuck vanes, flatlines, disagreeing neighbours); ``held`` the partitions over
    ``max_rejection_rate``, whose valid rows were moved to ``rejected``.
    """

    valid: pa.Table
    rejected: pa.Table
    outside_window: int
    collapsed: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    held: tuple[Hold, ...] = ()
    max_rejection_rate: float = DEFAULT_MAX_REJECTION_RATE

    def threshold_message(self) -> str | None:
        """Return why the run must fail because partitions were held, or None."""
        if not self.held:
            return None
        parts = "; ".join(hold.describe(self.max_rejection_rate) for hold in self.held)
        rows = sum(hold.held for hold in self.held)
        return (
            f"{len(self.held)} partition(s) over the rejection threshold, {rows} valid rows held "
            f"in rejected/ and not loaded: {parts}. Fix the source or the rules, then "
            "`forecast requeue`"
        )


def in_window(observations: pa.Table, window: Window) -> pa.Array:
    """Return a mask of observations inside ``window``; a null timestamp counts as inside, so
    the row reaches the ``missing_timestamp`` rule instead of vanishing."""
    low, high = window.bounds()
    stamps = observations.column("timestamp")
    mask = pa.array(np.ones(observations.num_rows, dtype=bool))
    if low is not None:
        mask = pc.and_(mask, pc.greater_equal(stamps, pa.scalar(low, stamps.type)))
    if high is not None:
        mask = pc.and_(mask, pc.less(stamps, pa.scalar(high, stamps.type)))
    return as_array(pc.fill_null(mask, True))


def locations(observations: pa.Table) -> pa.Array:
    """Return, per row, where it came from, as its source words it (file and sheet/row, or
    file, station and record)."""
    return as_array(registry.locations(observations))


def _any(masks: list[pa.Array], length: int) -> pa.Array:
    result = pa.array(np.zeros(length, dtype=bool))
    for mask in masks:
        result = pc.or_(result, pc.fill_null(mask, False))
    return result


def _when(mask: pa.Array, text: Callable[[], pa.Array] | pa.Array | str) -> pa.Array:
    """Return ``text`` where ``mask`` is true, null elsewhere; a callable text is only built
    when some row needs it (reasons are rare; building them for every row is not free)."""
    mask = as_array(pc.fill_null(mask, False))
    if not pc.any(mask).as_py():
        return pa.nulls(len(mask), pa.string())
    value = pa.scalar(text) if isinstance(text, str) else text() if callable(text) else text
    return as_array(pc.if_else(mask, value, _NULL_TEXT))


def _range_checks(observations: pa.Table) -> dict[str, tuple[pa.Array, pa.Array]]:
    checks = {}
    for key, (low, high, _) in PHYSICAL_RANGES.items():
        values = observations.column(key)
        outside = pc.fill_null(pc.or_(pc.less(values, low), pc.greater(values, high)), False)
        checks[f"range_{key}"] = (outside, _when(outside, partial(_range_text, key, values)))
    return checks


def _range_text(key: str, values: pa.ChunkedArray) -> pa.Array:
    low, high, _ = PHYSICAL_RANGES[key]
    return pc.binary_join_element_wise(
        f"{key} = ", pc.round(values, 3).cast(pa.string()),
        f" {UNITS[key]} is outside [{low:g}, {high:g}]", "",
    )  # fmt: skip


def _row_checks(observations: pa.Table, now: datetime) -> dict[str, tuple[pa.Array, pa.Array]]:
    """Return rule id -> (mask, reason) for every reject rule judged on a row alone."""
    n = observations.num_rows
    stamps = observations.column("timestamp")
    missing = pc.is_null(stamps)
    parse_errors, unit_errors = (
        observations.column("parse_errors"),
        observations.column("unit_errors"),
    )
    has_parse = pc.greater(pc.list_value_length(parse_errors), 0)
    has_unit = pc.greater(pc.list_value_length(unit_errors), 0)
    empty = pc.invert(_any([pc.is_valid(observations.column(k)) for k in MEASUREMENT_KEYS], n))
    limit = now + timedelta(minutes=param("timestamp_in_future", "tolerance_minutes"))
    future = pc.fill_null(pc.greater(stamps, pa.scalar(limit, stamps.type)), False)

    def future_text() -> pa.Array:
        return pc.binary_join_element_wise(
            "timestamp ", pc.strftime(stamps.cast(pa.timestamp("s", tz="UTC")), format=_ISO),
            f" is after the run's clock ({now:%Y-%m-%dT%H:%M:%SZ})", "",
        )  # fmt: skip

    return {
        "missing_timestamp": (missing, _when(missing, "the time of the observation is missing")),
        "no_measurements": (empty, _when(empty, "no measurement has a value")),
        "parse_error": (has_parse, _when(has_parse, partial(pc.binary_join, parse_errors, "; "))),
        "unit_mismatch": (has_unit, _when(has_unit, partial(pc.binary_join, unit_errors, "; "))),
        **_range_checks(observations),
        "timestamp_in_future": (future, _when(future, future_text)),
    }


@dataclass(frozen=True)
class _Duplicates:
    collapsed: np.ndarray  # identical copy of a record of its (station, timestamp)
    conflict: np.ndarray  # one of records that disagree on a (station, timestamp): all of them
    reason: pa.Array  # the conflict's reason (null elsewhere)


def _measured_count(observations: pa.Table) -> pa.Array:
    counts = np.zeros(observations.num_rows, dtype=np.int64)
    for key in MEASUREMENT_KEYS:
        counts += pc.is_valid(observations.column(key)).to_numpy(zero_copy_only=False)
    return pa.array(counts)


def _winner_order(candidates: pa.Table) -> np.ndarray:
    """Return row order: per (station, timestamp), the record the others are compared with
    first (the one with the most measured values, then the latest ingest, name and row)."""
    ingest = pc.fill_null(
        pc.struct_field(
            as_array(pc.extract_regex(candidates.column("raw_key"), _INGEST_DATE)), "date"
        ),
        "",
    )
    ranked = candidates.select(["station_id", "timestamp", "source_file", "row", "record_index"])
    ranked = ranked.append_column("_measured", _measured_count(candidates))
    ranked = ranked.append_column("_ingest", ingest)
    keys = [("station_id", "ascending"), ("timestamp", "ascending"), ("_measured", "descending"),
            ("_ingest", "descending"), ("source_file", "descending"), ("row", "descending"),
            ("record_index", "descending")]  # fmt: skip
    return pc.sort_indices(ranked, sort_keys=keys).to_numpy()


def _differ(here: pa.Table, kept: pa.Table, key: str) -> pa.Array:
    """Where ``key``'s measurement of ``here`` differs from ``kept``'s (both null: the same)."""
    a, b = as_array(here.column(key)), as_array(kept.column(key))
    same = pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
    return pc.invert(pc.fill_null(same, False))


def _differing(here: pa.Table, kept: pa.Table) -> np.ndarray:
    """Whether any measurement of each row of ``here`` differs from ``kept``'s."""
    differ = np.zeros(here.num_rows, dtype=bool)
    for key in MEASUREMENT_KEYS:
        differ |= _differ(here, kept, key).to_numpy(zero_copy_only=False)
    return differ


def _difference_texts(here: pa.Table, kept: pa.Table) -> pa.Array:
    """A 'key <kept> vs <here> unit, …' text per row, naming the measurements that differ."""
    texts = []
    for key in MEASUREMENT_KEYS:
        a, b = as_array(here.column(key)), as_array(kept.column(key))
        text = pc.binary_join_element_wise(
            f"{key} ", pc.fill_null(pc.round(b, 3).cast(pa.string()), "null"), " vs ",
            pc.fill_null(pc.round(a, 3).cast(pa.string()), "null"), f" {UNITS[key]}", "",
        )  # fmt: skip
        texts.append(_when(_differ(here, kept, key), text))
    return pc.binary_join(collect_messages(texts, here.num_rows), ", ")


def _duplicates(observations: pa.Table, eligible: np.ndarray) -> _Duplicates:
    """Resolve duplicate (station, timestamp) keys among ``eligible`` rows: identical copies
    collapse onto one; records that disagree are all quarantined (rule ``duplicate_conflict``),
    none of them silently wins: each names the other and the values that differ."""
    n = observations.num_rows
    collapsed, conflict = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    rows = np.flatnonzero(eligible)
    reason = pa.nulls(n, pa.string())
    if len(rows) < 2:
        return _Duplicates(collapsed, conflict, reason)
    candidates = observations.take(pa.array(rows))
    order = _winner_order(candidates)
    station = as_array(candidates.column("station_id")).take(pa.array(order))
    stamp = as_array(candidates.column("timestamp")).take(pa.array(order)).cast(pa.int64())
    same = np.zeros(len(order), dtype=bool)
    same[1:] = pc.and_(
        pc.equal(station[1:], station[:-1]), pc.equal(stamp[1:], stamp[:-1])
    ).to_numpy(zero_copy_only=False)
    if not same.any():
        return _Duplicates(collapsed, conflict, reason)
    first = order[np.maximum.accumulate(np.where(~same, np.arange(len(order)), 0))]
    later, owner = order[same], first[same]
    here, kept = candidates.take(pa.array(later)), candidates.take(pa.array(owner))
    differ = _differing(here, kept)
    # a key whose records disagree is disputed: every record of it is in conflict
    disputed, pick = np.unique(owner[differ], return_index=True)
    group = np.empty(len(order), dtype=np.int64)
    group[order] = first
    member = np.isin(group, disputed)
    conflict[rows[member]] = True
    collapsed[rows[later[~differ & ~np.isin(owner, disputed)]]] = True
    if not len(disputed):
        return _Duplicates(collapsed, conflict, reason)
    # described once per disputed key (its first disagreeing pair), not for every pair
    chosen = pa.array(np.flatnonzero(differ)[pick])
    here, kept = here.take(chosen), kept.take(chosen)
    described = as_array(pc.binary_join_element_wise(
        "the observations of this station and time disagree (", locations(kept), " vs ",
        locations(here), "): ", _difference_texts(here, kept), "; none of them is loaded", "",
    ))  # fmt: skip
    at = np.full(n, -1, dtype=np.int64)
    at[rows[member]] = np.searchsorted(disputed, group[member])
    return _Duplicates(collapsed, conflict, described.take(pa.array(at, mask=at < 0)))


def _warnings(
    valid: pa.Table, stations: pa.Table, neighbour_km: float | None
) -> tuple[pa.Array, tuple[Finding, ...]]:
    """Return per-row lists of warn rule ids that fired, and the spanning findings."""
    temperature, dew_point = valid.column("temperature"), valid.column("dew_point")
    speed, gust = valid.column("wind_speed"), valid.column("wind_gust")
    compared = flags_where(
        {
            "dew_point_above_temperature": pc.greater(
                dew_point, pc.add(temperature, DEW_POINT_TOLERANCE)
            ),
            "gust_below_speed": pc.less(pc.add(gust, GUST_TOLERANCE), speed),
        },
        valid.num_rows,
    )
    anomalies = detect(valid, stations, neighbour_km=neighbour_km)
    return concat_lists(compared, anomalies.rules), anomalies.findings


def quality_scores(valid: pa.Table) -> pa.Array:
    """Return each record's 0-100 quality score (formula: ``forecast.quality.rules.SCORE_FORMULA``).

    ``valid`` needs ``flags`` (parser notes) and ``quality_rules`` (warn rules that fired).
    """
    n = valid.num_rows
    penalty = np.zeros(n)
    for rule in WARN_RULES:
        penalty += RULES_BY_ID[rule].penalty * has_flag(valid.column("quality_rules"), rule)
    for flag, cost in FLAG_PENALTIES.items():
        penalty += cost * has_flag(valid.column("flags"), flag)
    calm = pa.array(has_flag(valid.column("flags"), "wind_calm") > 0)
    for key in CORE_MEASUREMENTS:
        null = pc.is_null(valid.column(key))
        if key == "wind_direction":
            null = pc.and_(null, pc.invert(calm))
        penalty += SCORE_PER_MISSING_CORE * as_array(null).to_numpy(zero_copy_only=False)
    return pa.array(np.clip(100.0 - penalty, 0.0, 100.0))


def _days(table: pa.Table) -> pa.Array:
    days = pc.strftime(table.column("timestamp"), format="%Y-%m-%d")
    return as_array(pc.fill_null(days, _UNDATED))


def _per_partition(table: pa.Table) -> dict[tuple[str, str], int]:
    if table.num_rows == 0:
        return {}
    keyed = pa.table({"station_id": table.column("station_id"), "day": _days(table)})
    counts = keyed.group_by(["station_id", "day"]).aggregate([([], "count_all")]).to_pylist()
    return {(row["station_id"], row["day"]): row["count_all"] for row in counts}


def _single(value: str, length: int) -> pa.Array:
    """Return a list<string> column holding ``[value]`` on every row."""
    return pa.ListArray.from_arrays(
        pa.array(np.arange(length + 1, dtype=np.int32)), pa.repeat(pa.scalar(value), length)
    )


def _hold(
    valid: pa.Table, rejected: pa.Table, max_rate: float
) -> tuple[pa.Table, pa.Table, tuple[Hold, ...]]:
    """Move the valid rows of station-days rejected above ``max_rate`` to the rejected rows.

    A losing duplicate is a copy of a kept observation, not a lost one, so it does not count.
    A station-day rejected entirely is held too (with nothing to move): the run still fails.
    Rows without a timestamp belong to no day; they are quarantined but not judged here.
    """
    counted = rejected.filter(
        pc.equal(has_flag(rejected.column("reject_rules"), "duplicate_conflict"), 0)
    )
    bad, good = _per_partition(counted), _per_partition(valid)
    holds = tuple(
        Hold(station, day, count, good.get((station, day), 0))
        for (station, day), count in sorted(bad.items())
        if day != _UNDATED and count / (count + good.get((station, day), 0)) > max_rate
    )
    if not any(hold.held for hold in holds):
        return valid, rejected, holds
    keys = as_array(pc.binary_join_element_wise(valid.column("station_id"), _days(valid), "|"))
    held_keys = pa.array([f"{hold.station_id}|{hold.day}" for hold in holds])
    held = pc.is_in(keys, value_set=held_keys)
    moved = valid.filter(held)
    which = pc.index_in(keys.filter(held), value_set=held_keys)
    described = pa.array([f"partition held: {hold.describe(max_rate)}" for hold in holds])
    reasons = pc.binary_join_element_wise(locations(moved), described.take(which), ": ")
    moved = moved.append_column("reject_rules", _single("rejection_threshold", moved.num_rows))
    moved = moved.append_column("reject_reasons", _single_list(reasons))
    rejected = pa.concat_tables([rejected, conform(moved, REJECTED)])
    return valid.filter(pc.invert(held)), rejected, holds


def _single_list(texts: pa.Array) -> pa.Array:
    """Return a list<string> column holding each row's text as a one-element list."""
    texts = as_array(texts)
    return pa.ListArray.from_arrays(pa.array(np.arange(len(texts) + 1, dtype=np.int32)), texts)


def refused(valid: pa.Table, rows: Sequence[int], messages: Sequence[str]) -> pa.Table:
    """Return validated rows MongoDB refused as quarantine rows (rule ``load_refused``)."""
    taken = valid.take(pa.array(list(rows), pa.int64()))
    text = pa.array([f"MongoDB refused the document: {m}" for m in messages], pa.string())
    reasons = pc.binary_join_element_wise(locations(taken), text, ": ")
    taken = taken.append_column("reject_rules", _single("load_refused", taken.num_rows))
    return conform(taken.append_column("reject_reasons", _single_list(reasons)), REJECTED)


def _rejections(observations: pa.Table, checks: dict[str, tuple[pa.Array, pa.Array]]) -> pa.Table:
    """Return the rows any check rejected, with rule ids and located reasons."""
    rejected = _any([mask for mask, _ in checks.values()], observations.num_rows)
    rows = observations.filter(rejected)
    n = rows.num_rows
    rule_ids = flags_where(
        {rule: pc.filter(mask, rejected) for rule, (mask, _) in checks.items()}, n
    )
    where = locations(rows)
    reasons = collect_messages(
        [pc.binary_join_element_wise(where, pc.filter(reason, rejected), ": ")
         for _, reason in checks.values()], n,
    )  # fmt: skip
    table = rows.append_column("reject_rules", rule_ids)
    return conform(table.append_column("reject_reasons", reasons), REJECTED)


def _collapsed_counts(observations: pa.Table, collapsed: np.ndarray) -> dict[str, int]:
    if not collapsed.any():
        return {}
    ids = observations.column("station_id").filter(pa.array(collapsed))
    return {row["values"]: row["counts"] for row in pc.value_counts(ids).to_pylist()}


def validate(
    observations: pa.Table,
    window: Window | None = None,
    *,
    stations: pa.Table | None = None,
    now: datetime | None = None,
    max_rejection_rate: float = DEFAULT_MAX_REJECTION_RATE,
    neighbour_km: float | None = None,
) -> Validation:
    """Validate a run's observations against the rule catalogue.

    Rows outside ``window`` are counted in ``outside_window`` and go nowhere else. Reject rules
    quarantine rows; duplicates are resolved; warn rules (comparisons and anomalies, which need
    ``stations`` for the cross-station check) are named in ``quality_rules`` and scored;
    finally station-days rejected above ``max_rejection_rate`` are held back whole.
    ``neighbour_km`` overrides the cross-station rule's distance.
    """
    observations = conform(observations, OBSERVATIONS)
    now = now or datetime.now(UTC)
    stations = conform(stations, STATIONS) if stations is not None else STATIONS.empty_table()
    outside = 0
    if window is not None and (window.start or window.end):
        mask = in_window(observations, window)
        outside = observations.num_rows - int(np.count_nonzero(mask.to_numpy(zero_copy_only=False)))
        observations = observations.filter(mask)
    checks = _row_checks(observations, now)
    rejected_alone = _any([mask for mask, _ in checks.values()], observations.num_rows)
    duplicates = _duplicates(observations, ~rejected_alone.to_numpy(zero_copy_only=False))
    checks["duplicate_conflict"] = (pa.array(duplicates.conflict), duplicates.reason)
    rejected = _rejections(observations, checks)
    keep = ~(
        rejected_alone.to_numpy(zero_copy_only=False) | duplicates.conflict | duplicates.collapsed
    )
    valid = observations.filter(pa.array(keep))
    quality_rules, findings = _warnings(valid, stations, neighbour_km)
    valid = valid.append_column("quality_rules", quality_rules)
    valid = conform(valid.append_column("quality_score", quality_scores(valid)), VALIDATED)
    valid, rejected, holds = _hold(valid, rejected, max_rejection_rate)
    return Validation(
        valid=valid, rejected=rejected, outside_window=outside,
        collapsed=_collapsed_counts(observations, duplicates.collapsed), findings=findings,
        held=holds, max_rejection_rate=max_rejection_rate,
    )  # fmt: skip


def _of_stations(table: pa.Table, stations: pa.Array) -> pa.Table:
    return table.filter(pc.is_in(table.column("station_id"), value_set=stations))


def validate_partition(
    observations: pa.Table,
    core: Sequence[str],
    window: Window | None = None,
    *,
    stations: pa.Table | None = None,
    now: datetime | None = None,
    max_rejection_rate: float = DEFAULT_MAX_REJECTION_RATE,
    neighbour_km: float | None = None,
) -> Validation:
    """Validate a partition's rows and keep the results of its ``core`` stations only.

    ``observations`` holds the core stations' rows and those of their neighbours in other
    partitions (context for the cross-station rule, see ``forecast.quality.partitions``): every rule
    sees them, and their outcomes are left to their own partition.
    """
    wanted = pa.array(sorted(set(core)), pa.string())
    result = validate(
        observations, window, stations=stations, now=now,
        max_rejection_rate=max_rejection_rate, neighbour_km=neighbour_km,
    )  # fmt: skip
    own = _of_stations(observations, wanted)
    outside = 0
    if window is not None and (window.start or window.end):
        mask = in_window(own, window).to_numpy(zero_copy_only=False)
        outside = own.num_rows - int(np.count_nonzero(mask))
    keep = set(core)
    return Validation(
        valid=_of_stations(result.valid, wanted), rejected=_of_stations(result.rejected, wanted),
        outside_window=outside,
        collapsed={k: v for k, v in result.collapsed.items() if k in keep},
        findings=tuple(f for f in result.findings if f.station_id in keep),
        held=tuple(h for h in result.held if h.station_id in keep),
        max_rejection_rate=max_rejection_rate,
    )  # fmt: skip
