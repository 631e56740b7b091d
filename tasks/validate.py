"""Validate tasks: apply the rule catalogue, write both zones, report the run's quality."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import zones
from forecast.ingest import RawObject
from forecast.quality import QualityReport, quality_report
from forecast.sources.common import Parsed
from forecast.validate import Validation, Window, validate
from tasks.config import load_lake, retry_transient


# Tables are never hashed for a cache key (slow, unstable across chunk layouts): not cached.
@task(cache_policy=NO_CACHE, retries=0)
def validate_observations(
    parsed: Parsed, window: Window, max_rejection_rate: float, neighbour_km: float | None
) -> Validation:
    """Validate the run's observations inside the requested window."""
    result = validate(
        parsed.observations, window, stations=parsed.stations, now=datetime.now(UTC),
        max_rejection_rate=max_rejection_rate, neighbour_km=neighbour_km,
    )  # fmt: skip
    logger = get_run_logger()
    logger.info(
        "validated %d, rejected %d, collapsed %d, outside window %d, sensor faults %d",
        result.valid.num_rows, result.rejected.num_rows, sum(result.collapsed.values()),
        result.outside_window, len(result.findings),
    )  # fmt: skip
    if result.held:
        logger.error("%s", result.threshold_message())
    return result


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def write_zones(
    validation: Validation,
    raw_objects: list[RawObject],
    window: Window,
    lake_block: str,
    run_id: str,
) -> dict[str, object]:
    """Write validated rows to processed/, and rejected rows with their quarantine manifest."""
    lake = load_lake(lake_block)
    processed = zones.write_processed(lake, validation.valid)
    rejected = zones.write_rejected(
        lake, validation.rejected, run_id=run_id, run_date=datetime.now(UTC).date().isoformat(),
        window=window.to_dict(), raw_objects=raw_objects,
    )  # fmt: skip
    get_run_logger().info(
        "wrote %d processed partitions; quarantine: %s", len(processed), rejected or "none"
    )
    return {"processed": processed, "rejected": rejected}


@task(cache_policy=NO_CACHE, retries=0)
def report_quality(parsed: Parsed, validation: Validation, window: Window) -> QualityReport:
    """Count, per station and measurement, what the run extracted, kept, rejected and flagged."""
    report = quality_report(
        parsed.observations, validation, parsed.stations, window, now=datetime.now(UTC)
    )
    get_run_logger().info("quality: %s", report.kpis())
    return report
