"""A run's stages, timed, and what a failed stage leaves behind: its run status.

The parent flow wraps each subflow in ``run.stage(name)``. When one raises, the run's status
(``failed``, the stage, a one-line cause, the files and counts so far, the documents already
loaded) is published as JSON and as the run-status artifact, then ``RunFailed`` is raised from
the original error, so the flow run fails with its report in place.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flows.observability import emit_run_metrics
from flows.params import RunParams
from forecast.errors import RunFailed, one_line
from forecast.run import progress
from forecast.run.reports import FileOutcome, Stopwatch, failed_run_status
from tasks.config import run_directory
from tasks.load import committed_by_run
from tasks.reports import publish_failure

LOADING_STAGES = ("load", "report")
"""Stages after which a failed run's report asks the server what this run inserted."""


@dataclass
class RunTracker:
    """One run's progress through its stages (see the module docstring)."""

    params: RunParams
    run_id: str
    started_at: datetime
    clock: Stopwatch = field(default_factory=Stopwatch)
    files: list[FileOutcome] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage; if it raises, publish the failed run's status and raise ``RunFailed``."""
        progress.stage_started(name)
        started = time.perf_counter()
        try:
            with self.clock(name):
                try:
                    yield
                except Exception as exc:
                    raise self._failed(name, exc) from exc
        except BaseException:
            progress.stage_finished(name, time.perf_counter() - started, failed=True)
            raise
        progress.stage_finished(name, time.perf_counter() - started)

    def _failed(self, name: str, exc: Exception) -> RunFailed:
        """Publish the failed run's status (metrics, JSON, artifact); return the error to raise."""
        cause = one_line(exc)
        migration = progress.loaded_so_far(run_directory(self.params.work_dir, self.run_id))
        if name in LOADING_STAGES:  # what the server holds, not only what it acknowledged
            migration["committed_on_server"] = committed_by_run(
                self.params.mongo_block, self.run_id
            )
        status = failed_run_status(
            run_id=self.run_id, started_at=self.started_at, finished_at=datetime.now(UTC),
            window=self.params.window, stage=name, cause=cause, files=self.files,
            quality=self.quality, migration=migration, stages=self.clock.stages,
        )  # fmt: skip
        metrics = emit_run_metrics(status)  # first: they do not depend on the lake being reachable
        try:
            publish_failure(status, self.params.lake_block, metrics)
        except Exception as unwritten:  # the cause stays the stage's; the report's failure is said
            status = dataclasses.replace(status, report_error=one_line(unwritten))
            why = "the same cause" if one_line(unwritten) == cause else one_line(unwritten)
            cause = f"{cause}; its run report could not be written either ({why})"
        return RunFailed(f"failed in {name}: {cause}", status, name)
