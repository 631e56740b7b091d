"""The parent flow: ingest, transform, validate, load, report."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import flow
from prefect.runtime import flow_run

from flows.ingest import ingest
from flows.load import load
from flows.params import RunParams
from flows.transform import transform
from flows.validate import validate
from forecast.reports import RunStatus, build_run_status
from tasks.reports import publish_reports


@flow(name="forecast-pipeline")
def forecast_pipeline(params: RunParams) -> RunStatus:
    """Ingest, transform, validate and load weather observations for a date window."""
    run_id, started_at = str(flow_run.get_id() or "local"), datetime.now(UTC)
    raw_objects = ingest(params, run_id)
    parsed, files = transform(raw_objects, params, run_id)
    validation, quality = validate(parsed, params, run_id)
    migration, latency = load(validation, parsed, params, run_id)
    status = build_run_status(
        run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC), window=params.window,
        files=files, quality=quality, migration=migration,
    )  # fmt: skip
    publish_reports(status, quality, migration, latency, params.lake_block)
    return status
