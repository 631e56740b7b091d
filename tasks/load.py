"""Load tasks: collection setup, per-partition loads, quarantine, ledger, query latency."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast import mongo
from forecast.errors import ForecastError, one_line
from forecast.lake import zones
from forecast.lake.ingest import RawObject
from forecast.lake.staging import StagedRun
from forecast.mongo.latency import Budget, measuring_client
from forecast.mongo.plan import RunContext, write_plan
from forecast.mongo.stage import run_stage
from forecast.quality.partitions import CheckedPartition
from forecast.quality.validate import Window, refused
from forecast.run import progress
from forecast.run.reports import (
    LatencyReport,
    MigrationReport,
    merge_migrations,
    migration_report,
    with_gold,
)
from tasks.config import (
    load_lake,
    load_mongo,
    retry_transient,
    run_directory,
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


@dataclass(frozen=True)
class PartitionLoad:
    """What loading one partition did: its migration report, and which contents had documents
    refused (not settled for the ledger) or loaded (documents per content)."""

    index: int
    migration: MigrationReport
    refused_rows: int
    refused_contents: tuple[str, ...]
    documents: dict[str, int]


# Reruns are safe: a document is inserted only if absent and updated only if it differs, by a
# deterministic _id, so a retry after a transient failure converges on the same collection.
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 20, 60],
    retry_condition_fn=retry_transient,
)
def load_partition(
    partition: CheckedPartition, staged: StagedRun, mongo_block: str, work_dir: str | None,
    run_id: str,
) -> PartitionLoad:  # fmt: skip
    """Load a partition's validated observations and stations, reconcile them, refresh their
    gold; stage the refused documents' rows and the partition's progress in the run's scratch
    directory."""
    target = load_mongo(mongo_block)
    valid = pq.read_table(partition.validated_path)
    stations = staged.stations()
    stations = stations.filter(
        pc.is_in(
            stations.column("station_id"), value_set=pa.array(list(partition.core), pa.string())
        )
    )
    plans = write_plan(valid, stations, RunContext(run_id, datetime.now(UTC)))
    directory = run_directory(work_dir, run_id)
    with mongo.connect(target) as client:
        stage = run_stage(
            client, target, plans, stations,
            acknowledged=progress.acknowledged_batches(directory, "load", partition.index),
        )  # fmt: skip
    report = with_gold(
        migration_report(stage.counts, stage.timings["load_s"], stage.stations_upserted,
                         stage.reconciliation, stage.timings),
        stage.gold,
    )  # fmt: skip
    refusals = stage.counts.refusals
    refused_contents: tuple[str, ...] = ()
    if refusals:
        rows = refused(valid, [r.row for r in refusals], [r.message for r in refusals])
        (directory / "load-rejected").mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, directory / "load-rejected" / f"part-{partition.index:05d}.parquet")
        refused_contents = tuple(sorted(pc.unique(rows.column("content_key")).to_pylist()))
    counts = pc.value_counts(valid.column("content_key")).to_pylist() if valid.num_rows else []
    result = PartitionLoad(
        partition.index, report, len(refusals), refused_contents,
        {c["values"]: c["counts"] for c in counts},
    )  # fmt: skip
    progress.record(directory, "load", partition.index, report.to_dict())
    logger = get_run_logger()
    logger.info(
        "partition %d load: %s; timings %s", partition.index, report.to_rows()[0], stage.timings
    )
    if not stage.reconciliation.ok:
        logger.error("reconciliation: %s", report.to_dict()["reconciliation"])
    return result


@task(cache_policy=NO_CACHE, retries=0)
def merge_loads(loads: list[PartitionLoad]) -> MigrationReport:
    """The run's migration report from its partitions'."""
    report = merge_migrations([load.migration for load in loads])
    get_run_logger().info("load: %s", report.to_rows()[0])
    return report


@task(cache_policy=NO_CACHE, retries=0)
def committed_by_run(mongo_block: str, run_id: str) -> int | None:
    """The documents a run inserted, counted on the server (for a failed run's report); None
    when the server cannot be asked (the failure may be that it is gone)."""
    target = load_mongo(mongo_block)
    try:
        return mongo.committed_by(target, run_id)
    except ForecastError as exc:  # the report says so; the run's own failure stays its cause
        get_run_logger().warning(
            "documents of run %s: the server could not be asked (%s)", run_id, one_line(exc)
        )
        return None


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def quarantine_refusals(
    raw_objects: list[RawObject],
    window: Window,
    lake_block: str,
    work_dir: str | None,
    run_id: str,
) -> str | None:
    """Quarantine the validated rows MongoDB refused, with the server's message."""
    folder = run_directory(work_dir, run_id) / "load-rejected"
    parts = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
    if not parts:
        return None
    rows = pa.concat_tables(pq.read_table(path) for path in parts)
    key = zones.write_rejected(
        load_lake(lake_block), rows, run_id=run_id, run_date=datetime.now(UTC).date().isoformat(),
        window=window.to_dict(), raw_objects=raw_objects,
        part="load",
    )  # fmt: skip
    get_run_logger().warning(
        "%d documents refused by MongoDB, quarantined in %s", rows.num_rows, key
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
