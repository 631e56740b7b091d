"""The parent flow: ingest, transform, validate, load, report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Completed, State

from flows.handoff import hand_off
from flows.ingest import ingest
from flows.load import load
from flows.observability import emit_metric_lines, run_metric_lines, use_json_logs
from flows.params import RunParams
from flows.tracking import RunTracker
from flows.transform import transform
from flows.validate import validate
from forecast.errors import RejectionThresholdExceeded
from forecast.run.reports import RunStatus, build_run_status, ingested_outcomes
from tasks.config import blocks_of_this_run, run_directory
from tasks.reports import clean_work, publish_quality_page, publish_reports, record_requeue


@flow(name="forecast-pipeline")
def forecast_pipeline(params: RunParams) -> RunStatus:
    """Ingest, transform, validate and load weather observations for a date window.

    A stage that raises leaves the run's status (failed, where, why, what was loaded) before
    the run fails. Fails too (after loading and reporting everything else) when station-days
    exceed the rejection threshold; those are held in rejected/ for ``forecast requeue``.
    Each block is loaded once per run. A partial run ends in the state ``Partial`` (``partial``);
    a call still returns its status (Prefect returns a returned state's data).
    """
    with blocks_of_this_run():
        return cast(RunStatus, _pipeline(params))


def partial(status: RunStatus) -> State[RunStatus]:
    """A partial run's final state: Completed in type (its data is loaded and reported) but named
    ``Partial``, so its event is ``prefect.flow-run.Partial``: nothing that waits for a Completed
    run (the "no completed run in 8 days" automation) counts it, and the UI says what it was."""
    document = status.to_dict()
    why = status.reason or f"{document['files_failed']} input(s) failed"
    if status.migration.get("failed"):
        why += f", {status.migration['failed']} document(s) refused"
    return Completed(data=status, name="Partial", message=f"partial: {why}")


def _pipeline(params: RunParams) -> RunStatus | State[RunStatus]:
    """The run, stage by stage (see ``forecast_pipeline``)."""
    use_json_logs()  # FORECAST_LOG_FORMAT=json without the logging settings file
    started_at = datetime.now(UTC)
    params = params.resolved(started_at.date())
    run = RunTracker(params, str(flow_run.get_id() or "local"), started_at)
    with run.stage("ingest"):
        raw_objects = ingest(params, run.run_id)
        run.files = ingested_outcomes(raw_objects)
        raw = hand_off(
            raw_objects, "raw", f"{len(raw_objects)} raw objects", params.work_dir, run.run_id
        )
    with run.stage("transform"):
        staged, run.files = transform(raw, params, run.run_id)
        staged_run = hand_off(
            staged, "staged", f"{len(staged.contents)} staged contents", params.work_dir, run.run_id
        )
    with run.stage("validate"):
        checked = validate(staged_run, raw, params, run.run_id)
        run.quality = checked.quality.kpis()
    with run.stage("load"):
        checked_run = hand_off(
            checked, "checked", f"{len(checked.partitions)} validated partitions, "
            f"{sum(p.validated_rows for p in checked.partitions)} rows", params.work_dir, run.run_id,
        )  # fmt: skip
        outcomes = hand_off(
            run.files, "files", f"{len(run.files)} files", params.work_dir, run.run_id
        )
        loaded = load(checked_run, staged_run, outcomes, raw, params, run.run_id)
    status = build_run_status(
        run_id=run.run_id, started_at=started_at, finished_at=datetime.now(UTC),
        window=params.window, files=run.files, quality=checked.quality,
        migration=loaded.migration, held=checked.threshold_message(),
        stages=run.clock.stages | {"latency": loaded.latency.duration_s or 0.0},
        ledger_recorded=loaded.recorded,
    )  # fmt: skip
    metrics = run_metric_lines(status, loaded.latency)
    with run.stage("report"):
        page = publish_quality_page(checked, staged, params.window, run.run_id, params.lake_block)
        publish_reports(
            status, checked.quality, loaded.migration, loaded.latency, params.lake_block,
            quality_page=page, metrics=metrics,
        )  # fmt: skip
        if params.requeue_run:
            record_requeue(params.requeue_run, status, params.lake_block)
    emit_metric_lines(metrics)  # once reported: a failed report stage emits its own (RunTracker)
    if status.held:
        raise RejectionThresholdExceeded(status.held, status)
    if status.status != "success":
        return partial(status)
    clean_work(str(run_directory(params.work_dir, run.run_id)))
    return status
