"""Anomaly detection: spikes, pressure jumps, flatlines, stuck vanes, decreasing precipitation
totals and neighbouring stations whose temperatures disagree.

Every detector is a ``warn`` rule of the catalogue (``forecast/quality/rules.py``) and reads its parameters
from there. Detectors work on one time-ordered view of the run's deduplicated observations
(sorted by station, then time) with numpy over whole columns: runs and neighbours are found with
diffs, cumulative sums and ``reduceat``, never by looping over rows. Loops run over stations,
station pairs and time zones only, of which there are a handful.

Detection sees the observations of one run: a run covering a week gives the context a stuck vane
needs; the first reading of a run cannot be a spike because it has no predecessor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.quality.rules import CORE_MEASUREMENTS, FLATLINES, SPIKES, param
from forecast.schema import STATIONS, conform
from forecast.tables import as_array, flags_where

_HOUR_MS = 3_600_000.0
_EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Finding:
    """A fault that spans readings (a frozen sensor, a disagreeing neighbour), for the report."""

    rule: str
    station_id: str
    start: datetime
    end: datetime
    readings: int
    detail: str

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready finding."""
        return {
            "rule": self.rule,
            "station_id": self.station_id,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "readings": self.readings,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Anomalies:
    """Per input row, the warn rules that fired; and the spanning findings behind them."""

    rules: pa.Array
    findings: tuple[Finding, ...]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(ms: int | np.integer) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


class _Series:
    """The observations sorted by station and time, as numpy columns."""

    def __init__(self, observations: pa.Table) -> None:
        self.table = observations
        self.n = observations.num_rows
        order = pc.sort_indices(
            observations, sort_keys=[("station_id", "ascending"), ("timestamp", "ascending")]
        )
        self.order = order.to_numpy()
        ids = as_array(observations.column("station_id")).take(order)
        self.names, self.station = np.unique(
            ids.to_numpy(zero_copy_only=False), return_inverse=True
        )
        self.t = as_array(observations.column("timestamp")).take(order).cast(pa.int64()).to_numpy()

    def values(self, key: str) -> np.ndarray:
        """Return a measurement in sorted order, NaN where missing."""
        column = as_array(self.table.column(key)).take(pa.array(self.order))
        return column.to_numpy(zero_copy_only=False).astype(float)

    def unsorted(self, mask: np.ndarray) -> pa.Array:
        """Return a sorted-order mask in the table's row order."""
        result = np.zeros(self.n, dtype=bool)
        result[self.order] = mask
        return pa.array(result)


@dataclass(frozen=True)
class _Runs:
    """Maximal runs over a subset of sorted rows (``idx``): start and end positions in ``idx``."""

    idx: np.ndarray
    starts: np.ndarray
    ends: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        return self.ends - self.starts + 1


def _runs(series: _Series, idx: np.ndarray, continues: np.ndarray) -> _Runs:
    """Split the rows ``idx`` into runs; a row continues the previous one if same station and
    ``continues`` (aligned with ``idx``; its first element is ignored)."""
    station = series.station[idx]
    new = np.ones(len(idx), dtype=bool)
    new[1:] = (station[1:] != station[:-1]) | ~continues[1:]
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:] - 1, len(idx) - 1) if len(idx) else starts
    return _Runs(idx, starts, ends)


def _segment_reduce(
    ufunc: np.ufunc, values: np.ndarray, first: np.ndarray, last: np.ndarray
) -> np.ndarray:
    """Return ``ufunc`` reduced over ``values[first[k]:last[k] + 1]`` for disjoint ordered segments."""
    if len(first) == 0:
        return np.array([], dtype=float)
    padded = np.append(values, np.nan)
    bounds = np.column_stack([first, last + 1]).ravel()
    return ufunc.reduceat(padded, bounds)[::2]


def _span_mask(n: int, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Return a mask of sorted rows inside any [first, last] span."""
    delta = np.zeros(n + 1, dtype=np.int64)
    np.add.at(delta, first, 1)
    np.add.at(delta, last + 1, -1)
    return np.cumsum(delta[:-1]) > 0


def _neighbours(series: _Series, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (same station as previous, hours since previous) for consecutive rows of ``idx``."""
    station, t = series.station[idx], series.t[idx]
    same = station[1:] == station[:-1]
    return same, (t[1:] - t[:-1]) / _HOUR_MS


# ------------------------------------------------------------------------------ point rules


def spikes(series: _Series, key: str) -> np.ndarray:
    """Return the sorted-order mask of readings that jump away from both neighbours and back."""
    rule = f"spike_{key}"
    low, rate = param(rule, "min_change"), param(rule, "rate_per_hour")
    gap = param(rule, "max_gap_minutes") / 60
    v = series.values(key)
    idx = np.flatnonzero(~np.isnan(v))
    mask = np.zeros(series.n, dtype=bool)
    if len(idx) < 3:
        return mask
    same, hours = _neighbours(series, idx)
    step = np.diff(v[idx])
    out, back = step[:-1], step[1:]
    limit_out, limit_back = low + rate * hours[:-1], low + rate * hours[1:]
    spike = (
        same[:-1] & same[1:] & (hours[:-1] <= gap) & (hours[1:] <= gap)
        & (np.abs(out) > limit_out) & (np.abs(back) > limit_back)
        & (np.sign(out) != np.sign(back))
    )  # fmt: skip
    mask[idx[1:-1][spike]] = True
    return mask


def pressure_jumps(series: _Series) -> np.ndarray:
    """Return the sorted-order mask of pressure readings that step too far from the previous
    one; the step back after a one-reading spike is not a second fault."""
    low, rate = param("pressure_jump", "min_change"), param("pressure_jump", "rate_per_hour")
    gap = param("pressure_jump", "max_gap_minutes") / 60
    v = series.values("pressure")
    idx = np.flatnonzero(~np.isnan(v))
    mask = np.zeros(series.n, dtype=bool)
    if len(idx) < 2:
        return mask
    same, hours = _neighbours(series, idx)
    step = np.diff(v[idx])
    jump = same & (hours <= gap) & (np.abs(step) > low + rate * hours)
    back = np.zeros(len(jump), dtype=bool)
    back[1:] = jump[:-1] & (np.sign(step[1:]) != np.sign(step[:-1]))
    mask[idx[1:][jump & ~back]] = True
    return mask


def precipitation_decreases(series: _Series) -> np.ndarray:
    """Return the sorted-order mask of running totals that fell, other than a reset to zero."""
    tolerance = param("precip_total_decrease", "tolerance")
    gap = param("precip_total_decrease", "max_gap_minutes") / 60
    v = series.values("precip_accum")
    idx = np.flatnonzero(~np.isnan(v))
    mask = np.zeros(series.n, dtype=bool)
    if len(idx) < 2:
        return mask
    same, hours = _neighbours(series, idx)
    total = v[idx]
    fell = (total[:-1] - total[1:] > tolerance) & (total[1:] > tolerance)
    decrease = same & (hours <= gap) & fell
    mask[idx[1:][decrease]] = True
    return mask


# ------------------------------------------------------------------------------ run rules


def flatlines(series: _Series, key: str) -> tuple[np.ndarray, list[Finding]]:
    """Return the mask of readings inside a frozen-value run of ``key``, and one finding per run."""
    rule = f"flatline_{key}"
    hours, min_readings = param(rule, "hours"), param(rule, "min_readings")
    v = series.values(key)
    idx = np.flatnonzero(~np.isnan(v))
    continues = np.zeros(len(idx), dtype=bool)
    continues[1:] = v[idx][1:] == v[idx][:-1]
    runs = _runs(series, idx, continues)
    first, last = idx[runs.starts], idx[runs.ends]
    duration = (series.t[last] - series.t[first]) / _HOUR_MS
    long_enough = (duration >= hours) & (runs.counts >= min_readings)
    others_move = np.zeros(len(first), dtype=bool)
    for other in CORE_MEASUREMENTS:
        if other in (key, "wind_direction"):
            continue
        w = series.values(other)
        spread = _segment_reduce(np.fmax, w, first, last) - _segment_reduce(np.fmin, w, first, last)
        others_move |= np.nan_to_num(spread, nan=0.0) > 0
    frozen = long_enough & others_move
    findings = [
        Finding(
            rule, str(series.names[series.station[a]]), _moment(series.t[a]),
            _moment(series.t[b]), int(count),
            f"{key} stayed at {v[a]:g} for {span:.1f} h ({count} readings) while other "
            "measurements changed",
        )
        for a, b, count, span in zip(
            first[frozen], last[frozen], runs.counts[frozen], duration[frozen], strict=True
        )
    ]  # fmt: skip
    return _span_mask(series.n, first[frozen], last[frozen]), findings


def _circular_step(degrees: np.ndarray) -> np.ndarray:
    """Return the absolute angle between consecutive bearings (0-180)."""
    return np.abs((np.diff(degrees) + 180.0) % 360.0 - 180.0)


def stuck_vanes(series: _Series) -> tuple[np.ndarray, list[Finding]]:
    """Return the mask of readings inside a stuck-vane span, and one finding per span."""
    hours, step = param("stuck_wind_direction", "hours"), param("stuck_wind_direction", "step")
    spread_max = param("stuck_wind_direction", "spread")
    min_readings = param("stuck_wind_direction", "min_readings")
    direction, speed = series.values("wind_direction"), series.values("wind_speed")
    idx = np.flatnonzero(~np.isnan(direction) & (np.nan_to_num(speed) > 0))
    d = direction[idx]
    continues = np.zeros(len(idx), dtype=bool)
    continues[1:] = _circular_step(d) <= step
    runs = _runs(series, idx, continues)
    run_of = np.repeat(np.arange(len(runs.starts)), runs.counts)
    offset = (d - d[runs.starts][run_of] + 180.0) % 360.0 - 180.0
    low = _segment_reduce(np.fmin, offset, runs.starts, runs.ends)
    high = _segment_reduce(np.fmax, offset, runs.starts, runs.ends)
    s = speed[idx]
    slow = _segment_reduce(np.fmin, s, runs.starts, runs.ends)
    fast = _segment_reduce(np.fmax, s, runs.starts, runs.ends)
    first, last = idx[runs.starts], idx[runs.ends]
    duration = (series.t[last] - series.t[first]) / _HOUR_MS
    stuck = (
        (duration >= hours) & (runs.counts >= min_readings)
        & (high - low <= spread_max) & (fast > slow)
    )  # fmt: skip
    findings = []
    for k in np.flatnonzero(stuck):
        base = d[runs.starts[k]]
        sector = f"{(base + low[k]) % 360:g} to {(base + high[k]) % 360:g} deg (clockwise)"
        findings.append(
            Finding(
                "stuck_wind_direction", str(series.names[series.station[first[k]]]),
                _moment(series.t[first[k]]), _moment(series.t[last[k]]), int(runs.counts[k]),
                f"wind direction within {sector} for {duration[k]:.1f} h "
                f"({runs.counts[k]} windy readings) while wind speed ranged "
                f"{slow[k]:.1f}-{fast[k]:.1f} km/h",
            )
        )  # fmt: skip
    return _span_mask(series.n, first[stuck], last[stuck]), findings


# ------------------------------------------------------------------------------ cross-station


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Return the great-circle distance between two points (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def neighbour_pairs(
    stations: pa.Table, limit_km: float, max_neighbours: int | None = None
) -> Iterator[tuple[str, str, float]]:
    """Yield (station, neighbour, km) for ordered pairs of neighbours, both ways round.

    A station's neighbours are the ``max_neighbours`` nearest stations within ``limit_km`` (all
    of them when None), and it is a neighbour of each of those in turn, so the relation is
    symmetric and its size grows with the stations, not with their square. Pairs come sorted
    by station, distance and neighbour.
    """
    rows = conform(stations, STATIONS).select(["station_id", "latitude", "longitude"]).to_pylist()
    unique = {row["station_id"]: row for row in rows}
    chosen: dict[tuple[str, str], float] = {}
    for a in unique.values():
        near = sorted(
            (
                distance_km(a["latitude"], a["longitude"], b["latitude"], b["longitude"]),
                b["station_id"],
            )
            for b in unique.values()
            if b["station_id"] != a["station_id"]
        )
        for km, b_id in [pair for pair in near if pair[0] <= limit_km][:max_neighbours]:
            chosen[(a["station_id"], b_id)] = chosen[(b_id, a["station_id"])] = km
    for (a_id, b_id), km in sorted(
        chosen.items(), key=lambda item: (item[0][0], item[1], item[0][1])
    ):
        yield a_id, b_id, km


def _nearest(t_from: np.ndarray, t_to: np.ndarray) -> np.ndarray:
    """Return, for each time of ``t_from``, the index of the nearest time in sorted ``t_to``."""
    right = np.clip(np.searchsorted(t_to, t_from), 0, len(t_to) - 1)
    left = np.clip(right - 1, 0, len(t_to) - 1)
    return np.where(np.abs(t_to[left] - t_from) <= np.abs(t_to[right] - t_from), left, right)


def cross_station(
    series: _Series, stations: pa.Table, distance_km: float | None = None
) -> tuple[np.ndarray, list[Finding]]:
    """Return the mask of temperatures far from a close neighbour's, and one finding per pair.

    ``distance_km`` overrides the catalogue's neighbour distance (a run parameter).
    """
    rule = "cross_station_temperature"
    limit = param(rule, "max_difference")
    offset_ms = param(rule, "max_offset_minutes") * 60_000
    temperature = series.values("temperature")
    mask = np.zeros(series.n, dtype=bool)
    findings: list[Finding] = []
    code = {str(name): i for i, name in enumerate(series.names)}
    limit_km = param(rule, "distance_km") if distance_km is None else distance_km
    for a, b, km in neighbour_pairs(stations, limit_km, int(param(rule, "max_neighbours"))):
        if a not in code or b not in code:
            continue
        ia = np.flatnonzero((series.station == code[a]) & ~np.isnan(temperature))
        ib = np.flatnonzero((series.station == code[b]) & ~np.isnan(temperature))
        if not len(ia) or not len(ib):
            continue
        near = ib[_nearest(series.t[ia], series.t[ib])]
        close = np.abs(series.t[near] - series.t[ia]) <= offset_ms
        diff = np.abs(temperature[ia] - temperature[near])
        hit = close & (diff > limit)
        if not hit.any():
            continue
        mask[ia[hit]] = True
        findings.append(
            Finding(
                rule, a, _moment(series.t[ia[hit]].min()), _moment(series.t[ia[hit]].max()),
                int(hit.sum()),
                f"temperature differs from {b} ({km:.1f} km away) by more than {limit:g} degC "
                f"in {int(hit.sum())} of {int(close.sum())} paired readings (max "
                f"{diff[hit].max():.1f} degC)",
            )
        )  # fmt: skip
    return mask, findings


# ------------------------------------------------------------------------------ all together


def detect(
    observations: pa.Table, stations: pa.Table, *, neighbour_km: float | None = None
) -> Anomalies:
    """Run every anomaly detector over deduplicated observations (no null timestamps).

    ``neighbour_km`` overrides the cross-station rule's distance.

    Returns the warn rules that fired per row, in the table's row order, and the findings.
    """
    series = _Series(observations)
    if series.n == 0:
        return Anomalies(flags_where({}, 0), ())
    masks: dict[str, np.ndarray] = {f"spike_{key}": spikes(series, key) for key in SPIKES}
    masks["pressure_jump"] = pressure_jumps(series)
    findings: list[Finding] = []
    for key in FLATLINES:
        masks[f"flatline_{key}"], found = flatlines(series, key)
        findings += found
    masks["stuck_wind_direction"], found = stuck_vanes(series)
    findings += found
    masks["precip_total_decrease"] = precipitation_decreases(series)
    masks["cross_station_temperature"], found = cross_station(series, stations, neighbour_km)
    findings += found
    rules = flags_where({rule: series.unsorted(mask) for rule, mask in masks.items()}, series.n)
    return Anomalies(rules, tuple(findings))
