"""Validate tasks: plan partitions, then per partition read, validate, stage and report; write
both zones once for the run."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast.lake import zones
from forecast.lake.ingest import RawObject
from forecast.lake.staging import StagedRun
from forecast.quality import partitions as plans
from forecast.quality.partitions import CheckedPartition, Partition
from forecast.quality.report import HELD_RULE, QualityReport, merge_reports, quality_report
from forecast.quality.validate import Validation, Window, validate_partition
from forecast.schema import REJECTED
from tasks.config import load_lake, retry_transient, run_directory


@task(cache_policy=NO_CACHE, retries=0)
def plan_partitions(
    staged: StagedRun, target_rows: int, neighbour_km: float | None
) -> list[Partition]:
    """Group the run's stations into partitions of about ``target_rows`` observations."""
    found = plans.plan(
        staged.stations(), staged.station_rows(), target_rows=target_rows,
        neighbour_km=neighbour_km,
    )  # fmt: skip
    get_run_logger().info(
        "%d partitions of %d stations, %d context stations",
        len(found), sum(len(p.core) for p in found), sum(len(p.context) for p in found),
    )  # fmt: skip
    return found


# Tables are never hashed for a cache key (slow, unstable across chunk layouts): not cached.
@task(cache_policy=NO_CACHE, retries=0)
def partition_rows(staged: StagedRun, partition: Partition) -> pa.Table:
    """Read a partition's observations (core and context stations) from the staged contents."""
    rows = staged.rows_of(partition.stations)
    get_run_logger().info("partition %d: %d observations", partition.index, rows.num_rows)
    return rows


@task(cache_policy=NO_CACHE, retries=0)
def check_partition(
    rows: pa.Table,
    staged: StagedRun,
    partition: Partition,
    window: Window,
    max_rejection_rate: float,
    neighbour_km: float | None,
) -> Validation:
    """Validate a partition's observations inside the window (core stations' results)."""
    result = validate_partition(
        rows, partition.core, window, stations=staged.stations(), now=datetime.now(UTC),
        max_rejection_rate=max_rejection_rate, neighbour_km=neighbour_km,
    )  # fmt: skip
    logger = get_run_logger()
    logger.info(
        "partition %d: validated %d, rejected %d, collapsed %d, outside window %d, faults %d",
        partition.index, result.valid.num_rows, result.rejected.num_rows,
        sum(result.collapsed.values()), result.outside_window, len(result.findings),
    )  # fmt: skip
    if result.held:
        logger.error("partition %d: %s", partition.index, result.threshold_message())
    return result


@task(cache_policy=NO_CACHE, retries=0)
def stage_partition(
    validation: Validation, partition: Partition, work_dir: str | None, run_id: str
) -> CheckedPartition:
    """Stage a partition's validated rows (for the load, and per source-day for the processed
    zone) and its rejected rows (for the quarantine) in the run's scratch directory."""
    directory = run_directory(work_dir, run_id)
    (directory / "validated").mkdir(parents=True, exist_ok=True)
    validated = directory / "validated" / f"part-{partition.index:05d}.parquet"
    pq.write_table(validation.valid, validated, compression="zstd")
    days = zones.stage_days(directory / "days", partition.index, validation.valid)
    rejected = None
    if validation.rejected.num_rows:
        (directory / "rejected").mkdir(parents=True, exist_ok=True)
        rejected = directory / "rejected" / f"part-{partition.index:05d}.parquet"
        pq.write_table(validation.rejected, rejected, compression="zstd")
    return CheckedPartition(
        index=partition.index, core=partition.core, validated_path=str(validated),
        validated_rows=validation.valid.num_rows,
        rejected_path=str(rejected) if rejected else None,
        rejected_rows=validation.rejected.num_rows, days=tuple(days),
        held_contents=held_contents(validation.rejected),
    )  # fmt: skip


def held_contents(rejected: pa.Table) -> tuple[str, ...]:
    """The contents (content keys) with rows held back by the rejection threshold."""
    if not rejected.num_rows:
        return ()
    rules = rejected.column("reject_rules")
    rows = pc.unique(
        pc.list_parent_indices(rules).filter(pc.equal(pc.list_flatten(rules), HELD_RULE))
    )
    return tuple(sorted(pc.unique(rejected.column("content_key").take(rows)).to_pylist()))


@task(cache_policy=NO_CACHE, retries=0)
def report_partition(
    rows: pa.Table, validation: Validation, staged: StagedRun, partition: Partition, window: Window
) -> QualityReport:
    """Count, per core station and measurement, what was extracted, kept, rejected, flagged."""
    core = pa.array(list(partition.core), pa.string())
    extracted = rows.filter(pc.is_in(rows.column("station_id"), value_set=core))
    stations = staged.stations()
    stations = stations.filter(pc.is_in(stations.column("station_id"), value_set=core))
    return quality_report(extracted, validation, stations, window, now=datetime.now(UTC))


@task(cache_policy=NO_CACHE, retries=0)
def merge_quality(reports: list[QualityReport], max_rejection_rate: float) -> QualityReport:
    """The run's quality report from its partitions'."""
    report = merge_reports(reports, max_rejection_rate)
    get_run_logger().info("quality: %s", report.kpis())
    return report


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def write_zones(
    checked: list[CheckedPartition],
    raw_objects: list[RawObject],
    window: Window,
    lake_block: str,
    work_dir: str | None,
    run_id: str,
) -> dict[str, object]:
    """Write the processed zone (one file per source-day) and the run's quarantine."""
    lake = load_lake(lake_block)
    directory = run_directory(work_dir, run_id)
    processed = zones.write_processed_days(
        lake, directory / "days", [day for part in checked for day in part.days]
    )
    parts = [pq.read_table(p.rejected_path) for p in checked if p.rejected_path]
    rejected = zones.write_rejected(
        lake, pa.concat_tables(parts) if parts else _empty_rejected(),
        run_id=run_id, run_date=datetime.now(UTC).date().isoformat(),
        window=window.to_dict(), raw_objects=raw_objects,
    )  # fmt: skip
    get_run_logger().info(
        "wrote %d processed source-days; quarantine: %s", len(processed), rejected or "none"
    )
    return {"processed": processed, "rejected": rejected}


def _empty_rejected() -> pa.Table:
    return REJECTED.empty_table()
