"""Load tasks: collection setup, idempotent upserts, query latency."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import mongo
from forecast.documents import RunContext, write_plan
from forecast.reports import LatencyReport, MigrationReport, migration_report
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.config import load_mongo, retry_transient


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def prepare_collections(mongo_block: str) -> list[str]:
    """Create missing indexes on the measurement and station collections."""
    target = load_mongo(mongo_block)
    with mongo.connect(target) as client:
        created = mongo.ensure_collections(client, target)
    get_run_logger().info(
        "MongoDB %s ready; indexes created: %s", target.display, created or "none"
    )
    return created


# Reruns are safe: every write is an upsert of a deterministic _id, so a retry after a
# transient failure converges on the same collection.
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def upsert_observations(
    validation: Validation, parsed: Parsed, mongo_block: str, run_id: str
) -> MigrationReport:
    """Upsert stations and validated observations in bounded batches."""
    target = load_mongo(mongo_block)
    plans = write_plan(validation.valid, parsed.stations, RunContext(run_id, datetime.now(UTC)))
    started = time.perf_counter()
    with mongo.connect(target) as client:
        stations = mongo.upsert_stations(client, target, parsed.stations)
        counts = mongo.load(client, target, plans)
    report = migration_report(counts, time.perf_counter() - started, stations)
    get_run_logger().info("load: %s", report.to_rows()[0])
    return report


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_transient,
)
def measure_latency(mongo_block: str, iterations: int) -> LatencyReport:
    """Time the standard queries against the collection."""
    target = load_mongo(mongo_block)
    with mongo.connect(target) as client:
        report = LatencyReport(iterations, tuple(mongo.measure_latency(client, target, iterations)))
    get_run_logger().info("latency: %s", {row["query"]: row["p95_ms"] for row in report.to_rows()})
    return report
