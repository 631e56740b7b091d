"""Ingest tasks: find landing files, copy each into the raw zone, write the manifest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import ingest
from forecast.ingest import LandingFile, RawObject
from tasks.config import load_lake, retry_transient


@task(cache_policy=NO_CACHE, retries=0)
def discover_landing(landing: str) -> list[LandingFile]:
    """List the source files under a landing directory."""
    files, ignored = ingest.discover(Path(landing))
    get_run_logger().info(
        "landing %s: %d source files, %d other files ignored %s",
        landing,
        len(files),
        len(ignored),
        ignored[:5],
    )
    return files


# Not cached: whether a file is already in the raw zone must be checked every time (idempotent
# by sha256). Retried only on transient storage errors.
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def copy_to_raw(landing_file: LandingFile, lake_block: str, run_id: str) -> RawObject:
    """Copy one landing file into the raw zone unless its content is already there."""
    record = ingest.ingest_file(
        load_lake(lake_block), landing_file, run_id=run_id, now=datetime.now(UTC)
    )
    get_run_logger().info("%s %s -> raw/%s", record.status, record.name, record.raw_key)
    return record


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def write_manifest(records: list[RawObject], lake_block: str, run_id: str) -> str:
    """Write the run's ingest manifest to the raw zone."""
    key = ingest.write_manifest(
        load_lake(lake_block), records, run_id=run_id, now=datetime.now(UTC)
    )
    get_run_logger().info("manifest raw/%s: %d files", key, len(records))
    return key
