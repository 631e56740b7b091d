"""Load subflow: MongoDB setup, then partition by partition idempotent loads (reconciled, gold
refreshed), quarantine of refusals, the load ledger, query latency."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow

from flows.handoff import Handoff
from flows.params import RunParams
from forecast.lake.ingest import RawObject
from forecast.lake.staging import StagedRun
from forecast.quality.partitions import CheckedRun
from forecast.run.reports import FileOutcome, LatencyReport, MigrationReport
from tasks.ledger import record_ledger
from tasks.load import (
    load_partition,
    measure_latency,
    merge_loads,
    prepare_collections,
    quarantine_refusals,
)
from tasks.progress import LoadMeter


@dataclass(frozen=True)
class Loaded:
    """What the load did: the migration report, the latency report, contents recorded."""

    migration: MigrationReport
    latency: LatencyReport
    recorded: int


@flow(name="forecast-load")
def load(
    checked_run: Handoff,
    staged_run: Handoff,
    outcomes: Handoff,
    raw: Handoff,
    params: RunParams,
    run_id: str,
) -> Loaded:
    """Load validated observations into MongoDB one partition at a time, quarantine refusals,
    record the settled contents in the load ledger, time the standard queries."""
    checked: CheckedRun = checked_run.open()
    staged: StagedRun = staged_run.open()
    files: list[FileOutcome] = outcomes.open()
    raw_objects: list[RawObject] = raw.open()
    prepare_collections(params.mongo_block)
    meter = LoadMeter.start(checked.partitions)
    loads = []
    for partition in checked.partitions:
        loads.append(load_partition(partition, staged, params.mongo_block, params.work_dir, run_id))
        meter.loaded(partition)
    migration = merge_loads(loads)
    quarantine_refusals(raw_objects, params.window, params.lake_block, params.work_dir, run_id)
    recorded = record_ledger(
        files, checked, loads, migration, params.window, params.ledger_recording, run_id
    )
    latency = measure_latency(
        params.mongo_block, params.latency_iterations, params.latency_budget_s,
        params.latency_row_cap,
    )  # fmt: skip
    return Loaded(migration, latency, recorded)
