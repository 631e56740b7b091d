"""What a run has done so far, kept in its scratch directory, for the report of a failed run.

Each finished step (one partition's load, say) writes one small JSON file; if a later step
fails, the run's status is built from these (the documents already loaded), not from values that
died with the exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def record(directory: Path, stage: str, index: int, values: dict[str, Any]) -> None:
    """Note that step ``index`` of ``stage`` finished with ``values``."""
    folder = directory / "progress"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stage}-{index:05d}.json").write_text(json.dumps(values, default=str))


def recorded(directory: Path, stage: str) -> list[dict[str, Any]]:
    """Return the values of the finished steps of ``stage``, in order."""
    folder = directory / "progress"
    if not folder.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(folder.glob(f"{stage}-*.json"))]


def loaded_so_far(directory: Path) -> dict[str, Any]:
    """Sum the documents of the partitions loaded so far (a migration-report-shaped dict)."""
    totals: dict[str, Any] = {"partitions_loaded": 0}
    for values in recorded(directory, "load"):
        totals["partitions_loaded"] += 1
        for key in ("input", "inserted", "updated", "unchanged", "failed"):
            totals[key] = totals.get(key, 0) + int(values.get(key, 0))
    return totals
