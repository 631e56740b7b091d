"""Load tasks: collection setup, idempotent upserts, query latency."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import mongo, zones
from forecast.documents import RunContext, write_plan
from forecast.ingest import RawObject
from forecast.mongo.latency import measuring_client
from forecast.mongo.load import Refusal
from forecast.mongo.reconcile import reconcile
from forecast.reports import LatencyReport, MigrationReport, migration_report
from forecast.sources.common import Parsed
from forecast.validate import Validation, Window, refused
from tasks.config import load_lake, load_mongo, retry_transient


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def prepare_collections(mongo_block: str) -> mongo.Setup:
    """Create missing indexes (measurements, stations, gold) and apply the validators."""
    target = load_mongo(mongo_block)
    with mongo.connect(target) as client:
        setup = mongo.prepare(client, target)
    get_run_logger().info("MongoDB %s ready; %s", target.display, setup.describe())
    return setup


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def refresh_aggregates(validation: Validation, mongo_block: str) -> mongo.GoldCounts:
    """Recompute the hourly and daily gold aggregates of the station-days this run loaded."""
    target = load_mongo(mongo_block)
    with mongo.connect(target) as client:
        counts = mongo.refresh_gold(client, target, mongo.touched_days(validation.valid))
    get_run_logger().info(
        "gold: %d station-days -> %d hourly, %d daily documents",
        counts.days, counts.hourly_documents, counts.daily_documents,
    )  # fmt: skip
    return counts


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
) -> tuple[MigrationReport, list[Refusal]]:
    """Upsert stations and validated observations in bounded batches, then reconcile."""
    target = load_mongo(mongo_block)
    plans = write_plan(validation.valid, parsed.stations, RunContext(run_id, datetime.now(UTC)))
    started = time.perf_counter()
    with mongo.connect(target) as client:
        stations = mongo.upsert_stations(client, target, parsed.stations)
        counts = mongo.load(client, target, plans)
        duration = time.perf_counter() - started
        check = reconcile(client, target, plans, skip=[r.id for r in counts.refusals])
    report = migration_report(counts, duration, stations, check)
    logger = get_run_logger()
    logger.info("load: %s", report.to_rows()[0])
    if not check.ok:
        logger.error("reconciliation: %s", report.to_dict()["reconciliation"])
    return report, counts.refusals


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def quarantine_refusals(
    validation: Validation,
    refusals: list[Refusal],
    raw_objects: list[RawObject],
    window: Window,
    lake_block: str,
    run_id: str,
) -> str | None:
    """Quarantine the validated rows MongoDB refused, with the server's message."""
    if not refusals:
        return None
    rows = refused(validation.valid, [r.row for r in refusals], [r.message for r in refusals])
    key = zones.write_rejected(
        load_lake(lake_block), rows, run_id=run_id, run_date=datetime.now(UTC).date().isoformat(),
        window=window.to_dict(), raw_objects=raw_objects,
        part="load",
    )  # fmt: skip
    get_run_logger().warning(
        "%d documents refused by MongoDB, quarantined in %s", len(refusals), key
    )
    return key


@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 20],
    retry_condition_fn=retry_transient,
)
def measure_latency(mongo_block: str, iterations: int) -> LatencyReport:
    """Time the standard queries against the collection."""
    target = load_mongo(mongo_block)
    with measuring_client(target) as client:
        report = LatencyReport(iterations, tuple(mongo.measure_latency(client, target, iterations)))
    get_run_logger().info("latency: %s", {row["query"]: row["p95_ms"] for row in report.to_rows()})
    return report
