"""Completeness and freshness of validated observations, per station and per measurement.

Each station's cadence (its usual interval between observations) is detected from its own
timestamps, and the observations expected over a span at that cadence are compared with the
observations received. Intervals much longer than the cadence are reported as gaps, and the age
of each station's last observation is its freshness lag.

The rules, in the order :func:`completeness` applies them:

* **Stations**: every station of the ``stations`` table, sorted by ``station_id``; rows of
  ``valid`` whose station is not in ``stations`` are ignored.
* **Cadence**: the median interval between consecutive distinct timestamps, snapped to the
  nearest value of ``CADENCES_MINUTES`` in log scale (see :func:`cadence_minutes`). A station with
  fewer than 2 distinct timestamps has no cadence, expects 0 observations and has no gaps.
* **Span**: from the window start (or, without one, the station's first observation) to
  ``min(window end, now)`` exclusive (or, without a window end, the station's last observation
  inclusive).
* **Expected**: the cadence slots in the span: ``floor(span / cadence) + 1`` when the span end is
  inclusive, ``ceil(span / cadence)`` when it is exclusive; never negative.
* **Received**: distinct timestamps for the station; per measurement, rows with a non-null value.
  Completeness is ``min(100, 100 * received / expected)``, 0 when nothing is expected.
* **Gaps**: an interval longer than ``GAP_FACTOR`` x cadence between consecutive observations,
  missing ``round(interval / cadence) - 1`` observations (rounded half up); and, when the window
  has that bound, the stretch between the span start and the first observation, or between the
  last observation and the span end, when it is longer than ``GAP_FACTOR`` x cadence.
* **Freshness**: ``lag_hours = reference - last observation`` in hours, clipped at 0, with the
  reference ``min(window end, now)`` when the window has an end, else ``now``.

Pure domain logic: pyarrow and numpy only, no Prefect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.quality.rules import CORE_MEASUREMENTS
from forecast.quality.validate import Window
from forecast.schema import MEASUREMENT_KEYS, STATIONS, TIMESTAMP_TYPE, conform
from forecast.tables import has_flag

CADENCES_MINUTES: tuple[int, ...] = (1, 5, 10, 15, 30, 60, 180, 360, 1440)
"""The cadences a detected median interval is snapped to, in minutes."""

GAP_FACTOR = 1.5
"""An interval longer than ``GAP_FACTOR`` x cadence is a gap."""

_MS_PER_MINUTE = 60_000
_MS_PER_HOUR = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING = "-"


def _to_ms(value: datetime) -> int:
    """Return a timezone-aware datetime as milliseconds since the Unix epoch."""
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int | np.integer) -> datetime:
    """Return milliseconds since the Unix epoch as a UTC datetime."""
    return _EPOCH + timedelta(milliseconds=int(ms))


def _iso(value: datetime | None) -> str | None:
    """Return ``value`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or None."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(received: int, expected: int) -> float:
    """Return ``min(100, 100 * received / expected)`` to 2 decimals, 0.0 when expected is 0."""
    return round(min(100.0, 100.0 * received / expected), 2) if expected > 0 else 0.0


@dataclass(frozen=True)
class Gap:
    """A stretch of one station's span without observations.

    Attributes:
        station_id: The station.
        after: The last observation before the gap; None when the gap starts at the window start.
        before: The next observation after the gap; None when the gap runs to the end of the
            expected span (the window end, or ``now`` if earlier).
        missing: The observations missing in it. Between two observations:
            ``round(interval / cadence) - 1``, rounded half up. From the window start to the first
            observation: ``floor((first - span_start) / cadence)``, the slots at one cadence step
            back from the first observation that are not before the span start. From the last
            observation to the exclusive span end: ``ceil((span_end - last) / cadence) - 1``, the
            slots at one cadence step on from the last observation that are before the span end.
    """

    station_id: str
    after: datetime | None
    before: datetime | None
    missing: int


@dataclass(frozen=True)
class MeasurementCompleteness:
    """How many values of one measurement a station delivered, against its expected count.

    Attributes:
        key: The canonical measurement key (see ``forecast.schema.MEASUREMENT_KEYS``).
        expected: The station's expected observation count over its span.
        received: The station's rows with a non-null value of this measurement.
    """

    key: str
    expected: int
    received: int

    @property
    def pct(self) -> float:
        """Completeness: ``min(100, 100 * received / expected)`` to 2 decimals, 0.0 if nothing is expected."""
        return _pct(self.received, self.expected)


@dataclass(frozen=True)
class StationCompleteness:
    """Completeness, gaps and freshness of one station.

    Attributes:
        station_id: The station.
        cadence_minutes: The detected cadence; None when fewer than 2 distinct timestamps.
        span_start: Start of the span expected observations are counted over (inclusive): the
            window start, else the first observation.
        span_end: End of that span: ``min(window end, now)`` exclusive when the window has an
            end, else the last observation, inclusive.
        expected: The cadence slots in the span (0 without a cadence).
        received: The distinct timestamps received.
        first_observation: The earliest timestamp, None without observations.
        last_observation: The latest timestamp, None without observations.
        lag_hours: Freshness: hours from the last observation to the reference
            (``min(window end, now)``, or ``now`` without a window end), clipped at 0, 2 decimals.
        measurements: One entry per measurement the station provides, in ``MEASUREMENT_KEYS``
            order.
        gaps: The station's gaps in time order: the start-edge gap, interior gaps, the end-edge
            gap.
    """

    station_id: str
    cadence_minutes: int | None
    span_start: datetime | None
    span_end: datetime | None
    expected: int
    received: int
    first_observation: datetime | None
    last_observation: datetime | None
    lag_hours: float | None
    measurements: tuple[MeasurementCompleteness, ...]
    gaps: tuple[Gap, ...]

    @property
    def pct(self) -> float:
        """Completeness: ``min(100, 100 * received / expected)`` to 2 decimals, 0.0 if nothing is expected."""
        return _pct(self.received, self.expected)

    def to_dict(self) -> dict[str, Any]:
        """Return the station as JSON-ready values (datetimes as ISO strings ending in Z)."""
        return {
            "station_id": self.station_id,
            "cadence_minutes": self.cadence_minutes,
            "span_start": _iso(self.span_start),
            "span_end": _iso(self.span_end),
            "expected": self.expected,
            "received": self.received,
            "completeness_pct": self.pct,
            "first_observation": _iso(self.first_observation),
            "last_observation": _iso(self.last_observation),
            "lag_hours": self.lag_hours,
            "measurements": [
                {"key": m.key, "expected": m.expected, "received": m.received, "pct": m.pct}
                for m in self.measurements
            ],
            "gaps": [
                {"after": _iso(g.after), "before": _iso(g.before), "missing": g.missing}
                for g in self.gaps
            ],
        }


def _or_missing(value: object) -> object:
    """Return ``value``, or ``"-"`` for None (display tables)."""
    return _MISSING if value is None else value


@dataclass(frozen=True)
class Completeness:
    """Completeness and freshness of every station of a run.

    Attributes:
        stations: One entry per station, sorted by ``station_id``.
    """

    stations: tuple[StationCompleteness, ...]

    def score(self) -> float:
        """Return the mean completeness (%) of every station's core measurements, 2 decimals.

        Core measurements (``forecast.quality.rules.CORE_MEASUREMENTS``) are the ones expected on every
        reading; event or synoptic ones (precipitation over 1 h or 3 h, present weather, cloud
        cover, snow depth) are reported per measurement but would make the score meaningless.
        Every (station, core measurement) pair weighs the same; 0.0 when there are none.
        """
        values = [
            m.pct for s in self.stations for m in s.measurements if m.key in CORE_MEASUREMENTS
        ]
        return round(sum(values) / len(values), 2) if values else 0.0

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one display row per (station, measurement) the station provides.

        Keys: station, measurement, cadence_min, expected, received, completeness_pct, gaps (the
        station's gap count), last_observation (``YYYY-MM-DDTHH:MM:SSZ``) and lag_h; an unknown
        cadence, last observation or lag is shown as ``"-"``.
        """
        return [
            {
                "station": s.station_id,
                "measurement": m.key,
                "cadence_min": _or_missing(s.cadence_minutes),
                "expected": m.expected,
                "received": m.received,
                "completeness_pct": m.pct,
                "gaps": len(s.gaps),
                "last_observation": _or_missing(_iso(s.last_observation)),
                "lag_h": _or_missing(s.lag_hours),
            }
            for s in self.stations
            for m in s.measurements
        ]

    def gap_rows(self, limit: int = 200) -> list[dict[str, Any]]:
        """Return one display row per gap, the largest ``missing`` first, at most ``limit`` rows.

        Keys: station, after, before (``YYYY-MM-DDTHH:MM:SSZ``, ``"-"`` for an open edge) and
        missing. Equal ``missing`` keep station order, then time order.
        """
        gaps = sorted((g for s in self.stations for g in s.gaps), key=lambda g: -g.missing)
        return [
            {
                "station": g.station_id,
                "after": _or_missing(_iso(g.after)),
                "before": _or_missing(_iso(g.before)),
                "missing": g.missing,
            }
            for g in gaps[: max(limit, 0)]
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the whole report as JSON-ready values: score, rules and every station.

        Every station carries its measurements and all of its gaps; datetimes are ISO strings
        ending in Z and unknown values are None (null).
        """
        return {
            "score": self.score(),
            "gap_factor": GAP_FACTOR,
            "stations": [s.to_dict() for s in self.stations],
        }


def _distinct_ms(timestamps: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Return the distinct non-null timestamps as sorted int64 milliseconds since the epoch."""
    values = pc.drop_null(timestamps).cast(TIMESTAMP_TYPE).cast(pa.int64())
    return np.unique(values.to_numpy()).astype(np.int64)


def _snap(minutes: float) -> int:
    """Return the value of ``CADENCES_MINUTES`` nearest to ``minutes`` in log scale."""
    distances = np.abs(np.log(np.asarray(CADENCES_MINUTES, dtype=float)) - math.log(minutes))
    return CADENCES_MINUTES[int(np.argmin(distances))]


def _cadence_of(stamps: np.ndarray) -> int | None:
    """Return the cadence of sorted distinct int64 millisecond timestamps (see cadence_minutes)."""
    if stamps.size < 2:
        return None
    return _snap(float(np.median(np.diff(stamps))) / _MS_PER_MINUTE)


def cadence_minutes(timestamps: pa.Array | pa.ChunkedArray) -> int | None:
    """Detect the cadence of a series of timestamps.

    The cadence is the median interval between consecutive distinct timestamps (sorted, nulls
    dropped), snapped to the value of ``CADENCES_MINUTES`` nearest in log scale: the one with the
    smallest ``|log(median) - log(cadence)|``, ties going to the shorter cadence. A series
    alternating 4- and 6-minute steps is 5-minutely; a 110-minute median snaps to 180, not 60
    (the log-scale midpoint of 60 and 180 is about 104 minutes).

    Args:
        timestamps: Timestamps of one station, any order, duplicates and nulls allowed.

    Returns:
        The cadence in minutes, or None with fewer than 2 distinct timestamps.
    """
    return _cadence_of(_distinct_ms(timestamps))


@dataclass(frozen=True)
class _Frame:
    """The run's window and reference time in milliseconds since the epoch."""

    start: int | None  # window start (inclusive)
    end: int | None  # min(window end, now), exclusive
    reference: int  # freshness reference

    @classmethod
    def of(cls, window: Window, now: datetime) -> _Frame:
        """Return the frame of ``window`` at ``now``; a naive ``now`` is a ValueError."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware (UTC)")
        low, high = window.bounds()
        end = None if high is None else min(_to_ms(high), _to_ms(now))
        return cls(
            start=None if low is None else _to_ms(low),
            end=end,
            reference=_to_ms(now) if end is None else end,
        )


def _span(stamps: np.ndarray, frame: _Frame) -> tuple[int | None, int | None]:
    """Return the span's (start, end) in ms: window bounds first, else first/last observation."""
    first = int(stamps[0]) if stamps.size else None
    last = int(stamps[-1]) if stamps.size else None
    start = frame.start if frame.start is not None else first
    end = frame.end if frame.end is not None else last
    return start, end


def _expected(start: int | None, end: int | None, cadence_ms: int | None, exclusive: bool) -> int:
    """Return the cadence slots in [start, end] (``exclusive``: [start, end)), never negative."""
    if start is None or end is None or cadence_ms is None or end < start:
        return 0
    length = end - start
    return -(-length // cadence_ms) if exclusive else length // cadence_ms + 1


def _interior_gaps(station_id: str, stamps: np.ndarray, cadence_ms: int) -> list[Gap]:
    """Return the gaps between consecutive observations (vectorised over the intervals)."""
    intervals = np.diff(stamps)
    where = np.flatnonzero(intervals > GAP_FACTOR * cadence_ms)
    missing = np.floor(intervals[where] / cadence_ms + 0.5).astype(np.int64) - 1
    return [
        Gap(station_id, _from_ms(stamps[i]), _from_ms(stamps[i + 1]), int(n))
        for i, n in zip(where, missing, strict=True)
    ]


def _gaps(station_id: str, stamps: np.ndarray, cadence_ms: int, frame: _Frame) -> tuple[Gap, ...]:
    """Return the start-edge gap, the interior gaps and the end-edge gap, in time order."""
    first, last = int(stamps[0]), int(stamps[-1])
    threshold = GAP_FACTOR * cadence_ms
    gaps = _interior_gaps(station_id, stamps, cadence_ms)
    if frame.start is not None and first - frame.start > threshold:
        gaps.insert(0, Gap(station_id, None, _from_ms(first), (first - frame.start) // cadence_ms))
    if frame.end is not None and frame.end - last > threshold:
        missing = -(-(frame.end - last) // cadence_ms) - 1
        gaps.append(Gap(station_id, _from_ms(last), None, missing))
    return tuple(gaps)


def _received(rows: pa.Table, key: str) -> int:
    """Return the rows holding a non-null value of ``key`` (0 if the column is absent).

    A calm record's wind direction is null by definition (flag ``wind_calm``), not missing.
    """
    if key not in rows.column_names:
        return 0
    present = pc.is_valid(rows.column(key))
    if key == "wind_direction" and "flags" in rows.column_names and rows.num_rows:
        calm = pc.greater(has_flag(rows.column("flags"), "wind_calm"), 0)
        present = pc.or_(present, pa.array(calm))
    return int(pc.sum(present).as_py() or 0)


def _lag_hours(stamps: np.ndarray, frame: _Frame) -> float | None:
    """Return hours from the last observation to the reference, clipped at 0, 2 decimals."""
    if not stamps.size:
        return None
    return round(max(0, frame.reference - int(stamps[-1])) / _MS_PER_HOUR, 2)


def _optional_ms(ms: int | None) -> datetime | None:
    """Return milliseconds since the epoch as a UTC datetime, None for None."""
    return None if ms is None else _from_ms(ms)


def _station(
    station_id: str, provides: set[str], rows: pa.Table, frame: _Frame
) -> StationCompleteness:
    """Return the completeness of one station from its rows of the validated table."""
    stamps = _distinct_ms(rows.column("timestamp"))
    cadence = _cadence_of(stamps)
    cadence_ms = None if cadence is None else cadence * _MS_PER_MINUTE
    start, end = _span(stamps, frame)
    expected = _expected(start, end, cadence_ms, exclusive=frame.end is not None)
    return StationCompleteness(
        station_id=station_id,
        cadence_minutes=cadence,
        span_start=_optional_ms(start),
        span_end=_optional_ms(end),
        expected=expected,
        received=int(stamps.size),
        first_observation=_from_ms(stamps[0]) if stamps.size else None,
        last_observation=_from_ms(stamps[-1]) if stamps.size else None,
        lag_hours=_lag_hours(stamps, frame),
        measurements=tuple(
            MeasurementCompleteness(key, expected, _received(rows, key))
            for key in MEASUREMENT_KEYS
            if key in provides
        ),
        gaps=() if cadence_ms is None else _gaps(station_id, stamps, cadence_ms, frame),
    )


def _provided(stations: pa.Table) -> dict[str, set[str]]:
    """Return station id -> the measurement keys it provides (lists of repeated ids merged)."""
    provided: dict[str, set[str]] = {}
    table = conform(stations, STATIONS).select(["station_id", "measurements"])
    for station_id, keys in zip(
        table.column("station_id").to_pylist(),
        table.column("measurements").to_pylist(),
        strict=True,
    ):
        provided.setdefault(station_id, set()).update(keys)
    return provided


def completeness(
    valid: pa.Table, stations: pa.Table, window: Window, *, now: datetime
) -> Completeness:
    """Measure completeness, gaps and freshness of validated observations per station.

    Every station of ``stations`` is reported, sorted by id, with one measurement entry per key
    its ``measurements`` column lists (in ``MEASUREMENT_KEYS`` order; unknown keys are ignored);
    rows of stations not in ``stations`` are ignored. Rows are counted as given: validation has
    already dropped duplicates and rows outside the window. See the module docstring for the
    span, expected, received, gap and freshness rules.

    Args:
        valid: Validated observations: ``station_id``, ``timestamp`` (UTC) and the float64
            measurement columns (an absent measurement column counts as no values).
        stations: Station metadata conforming to ``forecast.schema.STATIONS``.
        window: The run's window of UTC dates; open ends fall back on the observations.
        now: The current time, timezone-aware; the span never extends past it.

    Returns:
        The completeness of every station.

    Raises:
        ValueError: ``now`` is naive.
        forecast.errors.DataContractError: ``stations`` does not conform to ``STATIONS``.
    """
    frame = _Frame.of(window, now)
    provided = _provided(stations)
    present = [k for k in (*MEASUREMENT_KEYS, "flags") if k in valid.column_names]
    columns = ["station_id", "timestamp", *present]
    rows = valid.select(columns)
    ids = rows.column("station_id")
    return Completeness(
        stations=tuple(
            _station(
                station_id, provided[station_id], rows.filter(pc.equal(ids, station_id)), frame
            )
            for station_id in sorted(provided)
        )
    )
