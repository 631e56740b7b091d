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
from forecast.reports import RunStatus, run_state
from tasks.reports import publish_reports


@flow(name="forecast-pipeline")
def forecast_pipeline(params: RunParams) -> RunStatus:
    """Ingest, transform, validate and load weather observations for a date window."""
    run_id, started_at = str(flow_run.get_id() or "local"), datetime.now(UTC)
    raw_objects = ingest(params, run_id)
    parsed, files = transform(raw_objects, params)
    validation, quality = validate(parsed, params, run_id)
    migration, latency = load(validation, parsed, params, run_id)
    status = RunStatus(
        run_id=run_id,
        status=run_state(tuple(files), migration),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        window={
            "start": str(params.start) if params.start else None,
            "end": str(params.end) if params.end else None,
        },
        files=tuple(files),
        quality=quality.kpis(),
        migration=migration.to_dict(),
    )
    publish_reports(status, quality, migration, latency, params.lake_block)
    return status
