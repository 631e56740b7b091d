"""Local wall-clock timestamps to UTC, with explicit rules at DST transitions.

Rules (documented in docs/pipeline.md and flagged on the record, never silent):

* ambiguous (the repeated hour when clocks go back): the first time a local timestamp occurs
  in a source's row order is the summer-time (earlier) instant; a repeat of that same local
  timestamp later in the same sequence is the standard-time (later) instant. Flag
  ``dst_ambiguous``.
* non-existent (the skipped hour when clocks go forward): read with the UTC offset in force
  just before the transition, as a clock not yet moved forward would report it (Python's
  ``fold=0`` rule). Flag ``dst_nonexistent``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.schema import TIMESTAMP_TYPE

FLAG_AMBIGUOUS = "dst_ambiguous"
FLAG_NONEXISTENT = "dst_nonexistent"


@dataclass(frozen=True)
class Localised:
    """UTC instants for local timestamps, with masks of the rows a DST rule resolved."""

    utc: pa.Array
    ambiguous: pa.Array
    nonexistent: pa.Array


def _assume(local: pa.Array, zone: str, *, ambiguous: str, nonexistent: str) -> pa.Array:
    return pc.assume_timezone(local, timezone=zone, ambiguous=ambiguous, nonexistent=nonexistent)


def _repeats(local: pa.Array, seen: np.ndarray) -> np.ndarray:
    """Return a mask of values that already occurred earlier in ``local`` (row order) or in
    ``seen`` (values of the slices before it).

    Nulls are not values: they never repeat, nor make a later value a repeat.
    """
    present = np.flatnonzero(local.is_valid().to_numpy(zero_copy_only=False))
    values = local.drop_null().cast(pa.int64()).to_numpy()  # no nulls: exact int64, no NaN
    _, first = np.unique(values, return_index=True)
    repeats = np.zeros(len(local), dtype=bool)
    repeats[present] = True
    repeats[present[first]] = np.isin(values[first], seen)
    return repeats


def to_utc(local: pa.Array, zone: str) -> Localised:
    """Return UTC instants for naive local timestamps in IANA ``zone`` (see module rules).

    A null local time (the source's time could not be read) gives a null instant, flagged
    neither ambiguous nor non-existent.
    """
    return LocalClock(zone).to_utc(local)


class LocalClock:
    """Converts one sequence of local timestamps to UTC slice by slice, in row order.

    The ambiguous-time rule looks back over the whole sequence: the clock remembers the
    ambiguous local times it has converted, so converting slices in order gives what ``to_utc``
    gives for their concatenation.
    """

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self._ambiguous_seen = np.empty(0, dtype=np.int64)

    def to_utc(self, local: pa.Array) -> Localised:
        """Return UTC instants for the next slice of naive local timestamps (module rules)."""
        zone = self.zone
        local = local.cast(pa.timestamp("ms"))
        earliest = _assume(local, zone, ambiguous="earliest", nonexistent="earliest")
        latest = _assume(local, zone, ambiguous="latest", nonexistent="latest")
        differs = pc.fill_null(pc.not_equal(earliest, latest), False)
        # Non-existent local times map back to a different wall-clock value; ambiguous ones do not.
        round_trip = pc.local_timestamp(earliest).cast(pa.timestamp("ms"))
        nonexistent = pc.and_(differs, pc.fill_null(pc.not_equal(round_trip, local), False))
        ambiguous = pc.and_(differs, pc.invert(nonexistent))

        repeats = _repeats(local, self._ambiguous_seen)
        resolved = pc.if_else(pc.and_(ambiguous, pa.array(repeats)), latest, earliest).cast(
            TIMESTAMP_TYPE
        )
        if pc.any(ambiguous).as_py():
            values = local.filter(ambiguous).cast(pa.int64()).to_numpy()
            self._ambiguous_seen = np.union1d(self._ambiguous_seen, values)
        if pc.any(nonexistent).as_py():
            # Offset just before the transition: wall clock minus UTC, one second before it.
            before = pc.subtract(
                earliest.cast(pa.timestamp("ms", tz="UTC")), pa.scalar(1000, pa.duration("ms"))
            )
            offset = pc.subtract(
                pc.local_timestamp(before.cast(pa.timestamp("ms", tz=zone))).cast(pa.int64()),
                before.cast(pa.int64()),
            )
            shifted = pc.subtract(local.cast(pa.int64()), offset).cast(TIMESTAMP_TYPE)
            resolved = pc.if_else(nonexistent, shifted, resolved)
        return Localised(utc=resolved, ambiguous=ambiguous, nonexistent=nonexistent)
