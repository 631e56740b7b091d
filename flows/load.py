"""Load subflow: MongoDB setup, idempotent upserts, then query latency."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from forecast.reports import FileOutcome, LatencyReport, MigrationReport
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.load import (
    measure_latency,
    prepare_collections,
    quarantine_refusals,
    record_ledger,
    upsert_observations,
)


@flow(name="forecast-load")
def load(
    validation: Validation,
    parsed: Parsed,
    files: list[FileOutcome],
    raw_objects: list[RawObject],
    params: RunParams,
    run_id: str,
) -> tuple[MigrationReport, LatencyReport, int]:
    """Load validated observations into MongoDB (reconciled, gold refreshed for the days
    touched), quarantine refusals, record the settled contents in the load ledger, time the
    standard queries."""
    prepare_collections(params.mongo_block)
    migration, refusals = upsert_observations(validation, parsed, params.mongo_block, run_id)
    quarantine_refusals(validation, refusals, raw_objects, params.window, params.lake_block, run_id)
    recorded = record_ledger(
        files, validation, refusals, migration, params.window, params.ledger_recording, run_id
    )
    latency = measure_latency(
        params.mongo_block, params.latency_iterations, params.latency_budget_s,
        params.latency_row_cap,
    )  # fmt: skip
    return migration, latency, recorded
