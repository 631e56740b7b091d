"""What a run has done so far: for the report of a failed run, and for the person watching it.

Each finished step (one partition's load, say) writes one small JSON file in the run's scratch
directory; if a later step fails, the run's status is built from these (the documents already
loaded), not from values that died with the exception.

A ``Reporter`` shows the same progress live: each stage's start and end, and counters of the long
ones (files parsed, partitions validated, documents loaded), on the stream the CLI gives it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


def record(directory: Path, stage: str, index: int, values: dict[str, Any]) -> None:
    """Note that step ``index`` of ``stage`` finished with ``values`` (replaced whole: a reader
    never sees half a note)."""
    folder = directory / "progress"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{stage}-{index:05d}.json"
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(json.dumps(values, default=str))
    partial.replace(target)


def recorded(directory: Path, stage: str) -> list[dict[str, Any]]:
    """Return the values of the finished steps of ``stage``, in order."""
    return [json.loads(p.read_text()) for p in sorted(_files(directory, f"{stage}-"))]


_COUNTED = ("input", "inserted", "updated", "unchanged", "failed")


def acknowledged_batches(directory: Path, stage: str, index: int) -> Callable[[Any], None]:
    """Return a callback noting, at every call (each acknowledged batch), what step ``index`` of
    ``stage`` has had acknowledged so far (``<stage>-acked-<index>``): a step that fails midway
    is then still counted up to its last batch."""

    def note(counts: Any) -> None:
        record(directory, f"{stage}-acked", index, {k: getattr(counts, k, 0) for k in _COUNTED})

    return note


def loaded_so_far(directory: Path) -> dict[str, Any]:
    """Sum the documents of the partitions loaded so far (a migration-report-shaped dict), and
    what the server acknowledged of a partition whose load did not finish."""
    totals: dict[str, Any] = {"partitions_loaded": 0}
    finished = {int(p.stem.rsplit("-", 1)[1]) for p in _files(directory, "load-")}
    for values in recorded(directory, "load"):
        totals["partitions_loaded"] += 1
        for key in _COUNTED:
            totals[key] = totals.get(key, 0) + int(values.get(key, 0))
    unfinished = [p for p in _files(directory, "load-acked-")
                  if int(p.stem.rsplit("-", 1)[1]) not in finished]  # fmt: skip
    if unfinished:
        totals["partitions_partly_loaded"] = len(unfinished)
        for path in unfinished:
            values = json.loads(path.read_text())
            for key in _COUNTED:
                totals[key] = totals.get(key, 0) + int(values.get(key, 0))
    return totals


def _files(directory: Path, prefix: str) -> list[Path]:
    """The progress notes named ``<prefix><index>.json`` (and no longer prefix)."""
    folder = directory / "progress"
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f"{prefix}*.json") if p.stem.removeprefix(prefix).isdigit()]


# --- Live progress of a run in this process (``forecast run`` on a terminal or in a pipe) -------
#
# The parent flow and its subflows call the module functions below at stage boundaries and after
# each unit of long work. They do nothing unless a caller (the CLI, which runs the flow in this
# process) has installed a ``Reporter`` with ``reporting``: a worker's run has no terminal and gets
# its log lines and the load's progress artifact instead.


def progress_text(stage: str, done: int, total: int, unit: str) -> str:
    """Return ``stage load: 120,000 / 276,480 documents loaded (43%)``."""
    share = f" ({100 * done // total}%)" if total else ""
    return f"stage {stage}: {done:,} / {total:,} {unit}{share}"


class Reporter:
    """Writes stage starts and ends and work counters to a text stream (stderr in the CLI).

    On a terminal the counters of a stage rewrite one line in place (``\\r``, then erase to the
    end of the line); the stage's end replaces it with a final line. Elsewhere every line is a
    plain line, counters at most one per ``min_interval_s`` (the last of a stage always).
    """

    _ERASE = "\r\x1b[K"

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        min_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._open_line = False  # a terminal line written with \r and no newline yet
        self._last_plain = -float("inf")
        self._last_count: dict[str, str] = {}

    def stage_started(self, stage: str) -> None:
        """A stage begins."""
        self._line(f"stage {stage}: started")

    def counted(self, stage: str, done: int, total: int, unit: str) -> None:
        """``done`` of ``total`` units of a stage's work are finished."""
        text = progress_text(stage, done, total, unit)
        with self._lock:
            self._last_count[stage] = text
            if self.tty:
                self.stream.write(f"{self._ERASE}{text}")
                self.stream.flush()
                self._open_line = True
                return
            now = self.clock()
            if done < total and now - self._last_plain < self.min_interval_s:
                return
            self._last_plain = now
        self._line(text)

    def stage_finished(self, stage: str, seconds: float, *, failed: bool = False) -> None:
        """A stage ended (``failed``: it raised); the last counter line stays on a terminal."""
        with self._lock:
            last = self._last_count.pop(stage, None)
        outcome = "failed" if failed else "done"
        detail = f", {last.split(': ', 1)[1]}" if last and self.tty else ""
        self._line(f"stage {stage}: {outcome} in {seconds:.1f} s{detail}")

    def _line(self, text: str) -> None:
        with self._lock:
            prefix = self._ERASE if self._open_line else ""
            self.stream.write(f"{prefix}{text}\n")
            self.stream.flush()
            self._open_line = False


_sink: Reporter | None = None


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Send this process's stage and counter notes to ``reporter`` while the block runs."""
    global _sink
    previous, _sink = _sink, reporter
    try:
        yield reporter
    finally:
        _sink = previous


def stage_started(stage: str) -> None:
    """Note that a stage began (to the installed reporter, if any)."""
    if _sink is not None:
        _sink.stage_started(stage)


def counted(stage: str, done: int, total: int, unit: str) -> None:
    """Note ``done`` of ``total`` units of a stage's work (to the installed reporter, if any)."""
    if _sink is not None:
        _sink.counted(stage, done, total, unit)


def stage_finished(stage: str, seconds: float, *, failed: bool = False) -> None:
    """Note that a stage ended (to the installed reporter, if any)."""
    if _sink is not None:
        _sink.stage_finished(stage, seconds, failed=failed)
