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
from forecast.errors import RejectionThresholdExceeded
from forecast.reports import RunStatus, Stopwatch, build_run_status
from tasks.reports import publish_reports, record_requeue


@flow(name="forecast-pipeline")
def forecast_pipeline(params: RunParams) -> RunStatus:
    """Ingest, transform, validate and load weather observations for a date window.

    Fails (after loading and reporting everything else) when station-days exceed the rejection
    threshold; those are held in rejected/ for ``forecast requeue``.
    """
    run_id, started_at, clock = str(flow_run.get_id() or "local"), datetime.now(UTC), Stopwatch()
    params = params.resolved(started_at.date())
    with clock("ingest"):
        raw_objects = ingest(params, run_id)
    with clock("transform"):
        parsed, files = transform(raw_objects, params, run_id)
    with clock("validate"):
        validation, quality = validate(parsed, raw_objects, params, run_id)
    with clock("load"):
        migration, latency, recorded = load(validation, parsed, files, raw_objects, params, run_id)
    status = build_run_status(
        run_id=run_id, started_at=started_at, finished_at=datetime.now(UTC), window=params.window,
        files=files, quality=quality, migration=migration, held=validation.threshold_message(),
        stages=clock.stages | {"latency": latency.duration_s or 0.0}, ledger_recorded=recorded,
    )  # fmt: skip
    publish_reports(status, quality, migration, latency, params.lake_block)
    if params.requeue_run:
        record_requeue(params.requeue_run, status, params.lake_block)
    if status.held:
        raise RejectionThresholdExceeded(status.held, status)
    return status
