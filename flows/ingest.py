"""Ingest subflow: landing area -> raw zone (immutable, deduplicated by sha256)."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from tasks.ingest import copy_to_raw, discover_landing


@flow(name="forecast-ingest")
def ingest(params: RunParams, run_id: str) -> list[RawObject]:
    """Copy every landing file into the raw zone once; return one record per landing file."""
    landing_files = discover_landing(params.landing_config)
    futures = [
        copy_to_raw.submit(f, params.landing_config, params.lake_block, run_id)
        for f in landing_files
    ]
    return [future.result() for future in futures]
