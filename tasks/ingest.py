"""Ingest tasks: list the landing area, copy each file into the raw zone."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import ingest
from forecast.ingest import RawObject
from forecast.landing import LandingConfig, LandingFile
from tasks.config import load_lake, load_landing, retry_transient


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def discover_landing(config: LandingConfig) -> list[LandingFile]:
    """List the source files of the landing area (directory or S3 prefix)."""
    landing = load_landing(config)
    files, ignored = landing.list()
    get_run_logger().info(
        "landing %s: %d source files; %d other files ignored %s",
        landing.uri,
        len(files),
        len(ignored),
        ignored[:5],
    )
    return files


# Not cached: whether a file is already in the raw zone must be checked every time (idempotent
# by sha256 with conditional writes). Retried only on transient storage errors.
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def copy_to_raw(
    landing_file: LandingFile, config: LandingConfig, lake_block: str, run_id: str
) -> RawObject:
    """Copy one landing file into the raw zone unless its content is already there."""
    record = ingest.ingest_file(
        load_lake(lake_block),
        load_landing(config),
        landing_file,
        run_id=run_id,
        now=datetime.now(UTC),
        max_bytes=config.max_file_bytes,
    )
    get_run_logger().info(
        "%s %s -> raw/%s %s", record.status, record.name, record.raw_key, record.error or ""
    )
    return record
