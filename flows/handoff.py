"""What one subflow hands the next: a file in the run's scratch directory, not a parameter.

Prefect records every subflow call's parameters in its API (the flow run and its events), and
refuses them above 512 KiB. What the stages pass on — the raw objects, the staged contents, the
validated partitions with the quality report — grows with the input (a month of 600 stations:
1.3 MB), so the parent flow writes each one once into ``<run dir>/handoff/`` and the subflow
gets a ``Handoff``: the file's path and a one-line summary, which is what the Prefect UI shows
as the parameter. The file is a pickle of the stage's own value, written and read by the same
code in the same run; it is deleted with the run's scratch directory.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.config import run_directory


@dataclass(frozen=True)
class Handoff:
    """A stage's output handed to the next subflow by reference (see the module docstring)."""

    path: str
    summary: str
    sha256: str

    def open(self) -> Any:
        """Return the value handed off (checked against its digest)."""
        content = Path(self.path).read_bytes()
        if hashlib.sha256(content).hexdigest() != self.sha256:
            raise RuntimeError(f"handoff {self.path} changed since it was written")
        return pickle.loads(content)


def hand_off(value: Any, name: str, summary: str, work_dir: str | None, run_id: str) -> Handoff:
    """Write ``value`` for the next subflow; return its reference."""
    folder = run_directory(work_dir, run_id) / "handoff"
    folder.mkdir(parents=True, exist_ok=True)
    content = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    path = folder / f"{name}.pickle"
    path.write_bytes(content)
    return Handoff(str(path), summary, hashlib.sha256(content).hexdigest())
