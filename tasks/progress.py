"""The load's progress where a run is watched: a Prefect progress artifact, a log line per
partition, and the live reporter of ``forecast run`` when one is installed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from forecast.quality.partitions import CheckedPartition
from forecast.run import progress

LOAD_PROGRESS_KEY = "forecast-load-progress"


@dataclass
class LoadMeter:
    """Documents loaded of the run's validated total, advanced once per loaded partition."""

    artifact_id: UUID
    total: int
    done: int = 0

    @classmethod
    def start(cls, partitions: Sequence[CheckedPartition]) -> LoadMeter:
        """Create the run's progress artifact (at 0 %, or 100 % when there is nothing to load)."""
        total = sum(partition.validated_rows for partition in partitions)
        # Called from the (synchronous) load flow: async_dispatch returns the UUID, not a coroutine.
        artifact_id = cast(
            UUID,
            create_progress_artifact(
                progress=0.0 if total else 100.0,
                key=LOAD_PROGRESS_KEY,
                description=f"Documents loaded into MongoDB, of {total:,} validated.",
            ),
        )
        progress.counted("load", 0, total, "documents loaded")
        return cls(artifact_id, total)

    def loaded(self, partition: CheckedPartition) -> None:
        """Count a partition's documents as loaded: artifact, log line and live reporter."""
        self.done += partition.validated_rows
        share = 100.0 * self.done / self.total if self.total else 100.0
        update_progress_artifact(self.artifact_id, progress=round(share, 1))
        text = progress.progress_text("load", self.done, self.total, "documents loaded")
        get_run_logger().info("%s, partition %d", text, partition.index)
        progress.counted("load", self.done, self.total, "documents loaded")
