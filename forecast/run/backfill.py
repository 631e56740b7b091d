"""Backfill planning: a long history split into partitions, one flow run each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Partition:
    """One backfill flow run: a landing prefix (one source) and an inclusive week of UTC dates."""

    source: str
    landing: str
    start: date
    end: date

    @property
    def name(self) -> str:
        """A readable flow-run name, e.g. ``backfill-wunderground-2024-09-30``."""
        return f"backfill-{self.source}-{self.start.isoformat()}"


def partitions(
    start: date, end: date, landings: dict[str, str], *, days: int = 7
) -> list[Partition]:
    """Return one partition per source and ``days``-day slice of [start, end] (inclusive).

    Raises:
        ValueError: ``end`` is before ``start``, ``days`` is not positive or no landing given.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if days < 1 or not landings:
        raise ValueError("a backfill needs days >= 1 and at least one landing")
    slices = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=days - 1), end)
        slices.append((first, last))
        first = last + timedelta(days=1)
    return [
        Partition(source, landing, first, last)
        for source, landing in sorted(landings.items())
        for first, last in slices
    ]
