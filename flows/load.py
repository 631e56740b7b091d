"""Load subflow: MongoDB setup, idempotent upserts, then query latency."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from forecast.reports import LatencyReport, MigrationReport, with_gold
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.load import (
    measure_latency,
    prepare_collections,
    quarantine_refusals,
    refresh_aggregates,
    upsert_observations,
)


@flow(name="forecast-load")
def load(
    validation: Validation,
    parsed: Parsed,
    raw_objects: list[RawObject],
    params: RunParams,
    run_id: str,
) -> tuple[MigrationReport, LatencyReport]:
    """Load validated observations into MongoDB, reconcile, quarantine refusals, refresh the
    gold aggregates of the days touched, time the standard queries."""
    prepare_collections(params.mongo_block)
    migration, refusals = upsert_observations(validation, parsed, params.mongo_block, run_id)
    quarantine_refusals(validation, refusals, raw_objects, params.window, params.lake_block, run_id)
    gold = refresh_aggregates(validation, params.mongo_block)
    migration = with_gold(migration, gold)
    return migration, measure_latency(params.mongo_block, params.latency_iterations)
