"""Validate tasks: split observations into valid and rejected rows, write both zones."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import zones
from forecast.sources.common import Parsed
from forecast.validate import Validation, Window, validate
from tasks.config import load_lake, retry_transient


# Tables are never hashed for a cache key (slow, unstable across chunk layouts): not cached.
@task(cache_policy=NO_CACHE, retries=0)
def validate_observations(parsed: Parsed, window: Window) -> Validation:
    """Validate the run's observations inside the requested window."""
    result = validate(parsed.observations, window)
    get_run_logger().info(
        "validated %d, rejected %d, outside window %d",
        result.valid.num_rows,
        result.rejected.num_rows,
        result.outside_window,
    )
    return result


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def write_zones(validation: Validation, lake_block: str, run_id: str) -> dict[str, object]:
    """Write validated rows to processed/ and rejected rows to rejected/."""
    lake = load_lake(lake_block)
    processed = zones.write_processed(lake, validation.valid)
    rejected = zones.write_rejected(
        lake,
        validation.rejected,
        run_id=run_id,
        run_date=datetime.now(UTC).date().isoformat(),
    )
    get_run_logger().info(
        "wrote %d processed partitions; rejected file: %s", len(processed), rejected or "none"
    )
    return {"processed": processed, "rejected": rejected}
