"""Partitions of a run: groups of stations validated and loaded together, in bounded memory.

Every rule but one looks at one station's rows (ranges, duplicates, spikes, flatlines, stuck
vanes, rain totals, completeness, the rejection threshold per station-day), so a partition holds
all of its stations' rows across the run's contents. The cross-station rule also needs the
neighbours of a station: a partition carries, as read-only *context*, the rows of every station
closer than the neighbour distance to one of its own (its *core*) that lives in another
partition; context rows are validated with the core and their results thrown away (they are
reported, loaded and quarantined with their own partition).

Stations are ordered along a Z-order curve of their positions before they are cut into groups
that read about ``target_rows`` rows, core and context together, so that neighbours mostly share
a partition and the context stays small. A station's neighbours are those the cross-station
rule compares it with: its ``max_neighbours`` nearest within the neighbour distance, both ways
round, so the context of a station is bounded however dense the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecast.quality.anomalies import neighbour_pairs
from forecast.quality.rules import param

DEFAULT_TARGET_ROWS = 100_000
"""Rows one partition reads (core and context): about 40 MB of observations in memory."""


@dataclass(frozen=True)
class Partition:
    """Stations validated and loaded together (``core``) and the neighbours they need."""

    index: int
    core: tuple[str, ...]
    context: tuple[str, ...]
    rows: int

    @property
    def stations(self) -> tuple[str, ...]:
        """Every station whose rows the partition reads."""
        return self.core + self.context


def _z_order(latitude: float, longitude: float) -> int:
    """Interleave the bits of the position scaled to 16 bits per axis (a Morton code)."""
    y = int((latitude + 90.0) / 180.0 * 0xFFFF)
    x = int((longitude + 180.0) / 360.0 * 0xFFFF)
    code = 0
    for bit in range(16):
        code |= ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
    return code


def plan(
    stations: pa.Table,
    rows: Mapping[str, int],
    *,
    target_rows: int = DEFAULT_TARGET_ROWS,
    neighbour_km: float | None = None,
) -> list[Partition]:
    """Return the partitions of the stations that have rows (see the module docstring).

    ``stations`` is the run's station metadata (``STATIONS``: id, latitude, longitude);
    ``rows`` the observations per station. ``target_rows`` bounds what a partition reads, its
    core's rows and its context's together, so a dense network makes more, smaller partitions
    rather than bigger ones. A station whose rows and neighbours' exceed it is a partition of
    its own (its rows cannot be split without splitting its series).
    """
    described = {
        s["station_id"]: (s["latitude"], s["longitude"])
        for s in stations.select(["station_id", "latitude", "longitude"]).to_pylist()
    }
    present = [s for s in rows if rows[s] > 0]
    ordered = sorted(present, key=lambda s: (_z_order(*described[s]) if s in described else -1, s))
    limit = (
        neighbour_km
        if neighbour_km is not None
        else float(param("cross_station_temperature", "distance_km"))
    )
    known = stations.filter(
        pc.is_in(stations.column("station_id"), value_set=pa.array(present, pa.string()))
    )
    near: dict[str, set[str]] = {}
    most = int(param("cross_station_temperature", "max_neighbours"))
    for a, b, _km in neighbour_pairs(known, limit, most):
        near.setdefault(a, set()).add(b)
    groups: list[list[str]] = []
    reads: set[str] = set()
    size = 0
    for station in ordered:
        needs = ({station} | near.get(station, set())) - reads
        cost = sum(rows.get(s, 0) for s in needs)
        if not groups or size + cost > target_rows:
            groups.append([])
            reads, size = set(), 0
            needs = {station} | near.get(station, set())
            cost = sum(rows.get(s, 0) for s in needs)
        groups[-1].append(station)
        reads |= needs
        size += cost
    partitions = []
    for index, group in enumerate(groups):
        core = set(group)
        context = sorted({n for s in group for n in near.get(s, ())} - core)
        partitions.append(
            Partition(index, tuple(group), tuple(context), sum(rows[s] for s in group))
        )
    return partitions


@dataclass(frozen=True)
class CheckedPartition:
    """A validated partition as the load needs it: its rows staged on disk, and what the ledger
    needs to know (contents with a held station-day)."""

    index: int
    core: tuple[str, ...]
    validated_path: str
    validated_rows: int
    rejected_path: str | None
    rejected_rows: int
    days: tuple[tuple[str, str], ...]
    held_contents: tuple[str, ...]


@dataclass(frozen=True)
class CheckedRun:
    """Every validated partition of a run and the run's quality report."""

    partitions: tuple[CheckedPartition, ...]
    quality: Any  # forecast.quality.report.QualityReport

    def threshold_message(self) -> str | None:
        """Why the run must fail because station-days were held back, or None."""
        held = self.quality.held
        if not held:
            return None
        rate = self.quality.max_rejection_rate
        parts = "; ".join(hold.describe(rate) for hold in held)
        rows = sum(hold.held for hold in held)
        return (
            f"{len(held)} partition(s) over the rejection threshold, {rows} valid rows held "
            f"in rejected/ and not loaded: {parts}. Fix the source or the rules, then "
            "`forecast requeue`"
        )
