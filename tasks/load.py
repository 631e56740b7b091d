"""Load tasks: collection setup, idempotent upserts, query latency."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import ledger, mongo, zones
from forecast.documents import RunContext, write_plan
from forecast.ingest import RawObject
from forecast.mongo import ledger as mongo_ledger
from forecast.mongo.latency import Budget, measuring_client
from forecast.mongo.load import Refusal
from forecast.mongo.stage import run_stage
from forecast.reports import (
    FileOutcome,
    LatencyReport,
    MigrationReport,
    migration_report,
    with_gold,
)
from forecast.sources.common import Parsed
from forecast.validate import Validation, Window, refused
from tasks.config import (
    LedgerQuery,
    ledger_fingerprint,
    load_lake,
    load_mongo,
    retry_transient,
)


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
    """Load stations and validated observations, reconcile them and refresh their gold."""
    target = load_mongo(mongo_block)
    plans = write_plan(validation.valid, parsed.stations, RunContext(run_id, datetime.now(UTC)))
    with mongo.connect(target) as client:
        stage = run_stage(client, target, plans, parsed.stations)
    report = with_gold(
        migration_report(stage.counts, stage.timings["load_s"], stage.stations_upserted,
                         stage.reconciliation, stage.timings),
        stage.gold,
    )  # fmt: skip
    logger = get_run_logger()
    logger.info("load: %s; timings %s", report.to_rows()[0], stage.timings)
    if not stage.reconciliation.ok:
        logger.error("reconciliation: %s", report.to_dict()["reconciliation"])
    return report, stage.counts.refusals


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
def measure_latency(
    mongo_block: str, iterations: int, budget_s: float, row_cap: int
) -> LatencyReport:
    """Time the standard queries against the collection, within the run's budget."""
    target = load_mongo(mongo_block)
    started = time.perf_counter()
    with measuring_client(target) as client:
        timings = mongo.measure_latency(client, target, iterations, Budget(budget_s, row_cap))
    report = LatencyReport(iterations, tuple(timings), budget_s, row_cap,
                           round(time.perf_counter() - started, 3))  # fmt: skip
    get_run_logger().info("latency: %s", {row["query"]: row["p95_ms"] for row in report.to_rows()})
    return report


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def record_ledger(
    files: list[FileOutcome],
    validation: Validation,
    refusals: list[Refusal],
    migration: MigrationReport,
    window: Window,
    query: LedgerQuery,
    run_id: str,
) -> int:
    """Record in the load ledger the contents this run settled (see ``forecast.ledger``)."""
    target = load_mongo(query.mongo_block)
    parsed = {f.sha256: f for f in files if f.status == "parsed" and f.sha256}
    settled = ledger.settled_contents(
        parsed, validation.valid, [r.row for r in refusals], validation.rejected,
        migration.reconciled is not False,
    )  # fmt: skip
    stamp, now = ledger_fingerprint(query, target), datetime.now(UTC).isoformat()
    entries = [
        ledger.LedgerEntry(ledger.key(sha, stamp, window), sha, parsed[sha].name, parsed[sha].raw_key,
                           stamp, window.to_dict(), run_id, now, documents)
        for sha, documents in settled.items()
    ]  # fmt: skip
    with mongo.connect(target) as client:
        recorded = mongo_ledger.record(client, target, entries)
    get_run_logger().info("load ledger: %d of %d parsed contents recorded", recorded, len(parsed))
    return recorded
