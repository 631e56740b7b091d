"""Validate subflow: partition by partition, rules, scores, anomalies, quarantine; valid rows to
processed/ (one file per source-day), rejects to rejected/, and the run's quality report."""

from __future__ import annotations

from prefect import flow

from flows.handoff import Handoff
from flows.params import RunParams
from forecast.lake.ingest import RawObject
from forecast.lake.staging import StagedRun
from forecast.quality.partitions import CheckedRun
from forecast.run import progress
from tasks.validate import (
    check_partition,
    merge_quality,
    partition_rows,
    plan_partitions,
    report_partition,
    stage_partition,
    write_zones,
)


@flow(name="forecast-validate")
def validate(staged_run: Handoff, raw: Handoff, params: RunParams, run_id: str) -> CheckedRun:
    """Validate the run's observations one partition at a time, write both zones and report
    their quality (one partition's rows in memory at a time)."""
    staged: StagedRun = staged_run.open()
    raw_objects: list[RawObject] = raw.open()
    checked, reports = [], []
    planned = plan_partitions(staged, params.partition_rows, params.neighbour_km)
    for partition in planned:
        rows = partition_rows(staged, partition)
        validation = check_partition(
            rows, staged, partition, params.window, params.max_rejection_rate, params.neighbour_km
        )
        checked.append(stage_partition(validation, partition, params.work_dir, run_id))
        reports.append(report_partition(rows, validation, staged, partition, params.window))
        progress.counted("validate", len(checked), len(planned), "partitions validated")
    write_zones(checked, raw_objects, params.window, params.lake_block, params.work_dir, run_id)
    return CheckedRun(tuple(checked), merge_quality(reports, params.max_rejection_rate))
