"""Ingest subflow: landing area and InfoClimat API -> raw zone (immutable, deduplicated by sha256)."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.lake.ingest import RawObject
from tasks.ingest import (
    api_records,
    copy_to_raw,
    discover_landing,
    fetch_infoclimat,
    ignored_records,
    landing_records,
    plan_api_requests,
    quarantined_sources,
)


@flow(name="forecast-ingest")
def ingest(params: RunParams, run_id: str) -> list[RawObject]:
    """Copy every landing file and every API response into the raw zone once; one record each.

    A requeue reads nothing new: it returns the raw contents of the quarantined run.
    """
    if params.requeue_run:
        return quarantined_sources(params.requeue_run, params.lake_block)
    landing_files, ignored = discover_landing(params.landing_config) if params.landing else ([], [])
    copies = [
        copy_to_raw.submit(
            f,
            params.landing_config,
            params.lake_block,
            run_id,
            params.work_dir,
            params.limits,
            params.wu_streams,
        )
        for f in landing_files
    ]
    requests = plan_api_requests(params.infoclimat_stations, params.window)
    fetches = [
        fetch_infoclimat.submit(
            r, params.infoclimat_url, params.infoclimat_token_block, params.lake_block, run_id
        )
        for r in requests
    ]
    return (
        landing_records(landing_files, copies, run_id)
        + api_records(requests, fetches, params.infoclimat_url, run_id)
        + ignored_records(ignored, params.landing or "", run_id)
    )
