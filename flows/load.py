"""Load subflow: MongoDB setup, idempotent upserts, then query latency."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.reports import LatencyReport, MigrationReport
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.load import measure_latency, prepare_collections, upsert_observations


@flow(name="forecast-load")
def load(
    validation: Validation, parsed: Parsed, params: RunParams, run_id: str
) -> tuple[MigrationReport, LatencyReport]:
    """Load validated observations into MongoDB and time the standard queries."""
    prepare_collections(params.mongo_block)
    migration = upsert_observations(validation, parsed, params.mongo_block, run_id)
    return migration, measure_latency(params.mongo_block, params.latency_iterations)
