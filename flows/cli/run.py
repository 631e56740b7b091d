"""``forecast run`` and ``forecast requeue``: the pipeline in this process, its summary and exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from flows.cli.common import (
    EXIT_FAILED,
    EXIT_HELD,
    EXIT_OK,
    EXIT_PARTIAL,
    UsageError,
    add_mongo_uri,
    day,
    mongo_uri,
    write,
)

if TYPE_CHECKING:
    from flows.params import RunParams
    from forecast.run.reports import RunStatus


def _failed_summary(status: RunStatus) -> str:
    document = status.to_dict()
    failure = document["failure"] or {}
    quality, migration = document["quality"], document["migration"]
    lines = [
        f"run {status.run_id}: failed in {failure.get('stage')} after {document['duration_s']} s",
        f"  files: {len(status.files)} ({document['files_failed']} failed)",
    ]
    if quality:
        lines.append(
            f"  records: extracted {quality['records_extracted']}, validated "
            f"{quality['records_validated']}, rejected {quality['records_rejected']}, held {quality['records_held']}"
        )
    lines.append(f"  mongo before the failure: {_loaded_before(migration)}")
    if status.report_error:
        lines.append(f"  status: NOT WRITTEN ({status.report_error})")
    else:
        lines.append(f"  status: reports/run={status.run_id}/pipeline_status.json")
    return "\n".join(lines)


def _loaded_before(migration: dict[str, object]) -> str:
    """What a failed run had written: acknowledged by the server, and what it holds."""
    counted = ("inserted", "updated", "unchanged", "failed")
    if migration.get("partitions_loaded") or migration.get("partitions_partly_loaded"):
        parts = f"{migration.get('partitions_loaded', 0)} partition(s) loaded"
        if migration.get("partitions_partly_loaded"):
            parts += f" and {migration['partitions_partly_loaded']} partly"
        text = f"{parts}, " + ", ".join(f"{k} {migration.get(k, 0)}" for k in counted)
    else:
        text = "nothing acknowledged"
    if "committed_on_server" in migration:
        held = migration["committed_on_server"]
        text += (
            "; the server could not be asked what it holds"
            if held is None
            else f"; the server holds {held} document(s) this run inserted"
        )
    return text


def _summary(status: RunStatus) -> str:
    if status.failure:
        return _failed_summary(status)
    document = status.to_dict()
    quality, migration = document["quality"], document["migration"]
    lines = [
        f"run {status.run_id}: {status.status} in {document['duration_s']} s",
        f"  files: {len(status.files)} ({document['files_failed']} failed, "
        f"{document['files_ignored']} ignored)",
    ]
    lines += [f"    FAILED {f.name}: {f.error}" for f in status.files if f.failed]
    lines += [f"    IGNORED {f.name}: {f.error}" for f in status.files if f.status == "ignored"]
    lines += [f"  {status.reason}"] if status.reason else []
    lines += [
        f"    drift {source}: {note}"
        for source, notes in status.schema_drift().items()
        for note in notes[:10]
    ]
    lines += [
        f"  records: extracted {quality['records_extracted']}, validated {quality['records_validated']}, "
        f"rejected {quality['records_rejected']}, held {quality['records_held']}, "
        f"collapsed {quality['duplicates_collapsed']}, conflicting {quality['duplicates_conflicting']}, "
        f"outside window {quality['records_outside_window']}",
        f"  quality: completeness {quality['completeness_score']} %, anomalies {quality['anomalies_detected']} "
        f"on {quality['records_with_anomalies']} records, mean score {quality['mean_score']}",
        f"  mongo: inserted {migration['inserted']}, updated {migration['updated']}, "
        f"unchanged {migration['unchanged']}, failed {migration['failed']} ({migration['docs_per_s']} docs/s)",
        f"  reconciliation: {_reconciled(migration)}; gold: {migration.get('gold') or '-'}",
        f"  ledger: {_ledger(document['ledger'])}",
        f"  stages: {', '.join(f'{k} {v:.1f} s' for k, v in document['stages'].items())}",
        f"  reports: {', '.join(document['reports'].values()) if document['reports'] else 'reports/run=' + status.run_id}",
    ]
    return "\n".join(lines)


def _execute(params: RunParams, mongo_uri: str | None) -> int:
    """Run the pipeline, print its summary and return the exit code of its state."""
    from blocks.local import save_mongo
    from blocks.names import cli_mongo_block
    from flows.observability import json_logs_requested
    from flows.pipeline import forecast_pipeline
    from forecast.errors import RejectionThresholdExceeded, RunFailed
    from forecast.run import progress
    from forecast.run.reports import RunStatus

    if mongo_uri:
        # The URI goes into a block (stored as a secret), never into flow parameters or logs:
        # a block of its own per target, so a concurrent run given another URI cannot rewrite it
        # between this save and the run's reads.
        block = cli_mongo_block(mongo_uri)
        save_mongo(mongo_uri, block)
        params = params.model_copy(update={"mongo_block": block})
    # Stage and counter lines on stderr, unless stderr carries JSON logs only (a log shipper
    # reads it); the load's per-partition log lines and progress artifact remain.
    reporter = (
        nullcontext()
        if json_logs_requested()
        else progress.reporting(progress.Reporter(sys.stderr))
    )
    try:
        with _local_run_settings(), reporter:
            status = forecast_pipeline(params)
    except RejectionThresholdExceeded as exc:
        if isinstance(exc.status, RunStatus):
            write(sys.stdout, _summary(exc.status))
        write(sys.stderr, f"forecast: held: {exc}")
        return EXIT_HELD
    except RunFailed as exc:
        if isinstance(exc.status, RunStatus):
            write(sys.stdout, _summary(exc.status))
        write(sys.stderr, f"forecast run: error: {exc}")
        return EXIT_FAILED
    write(sys.stdout, _summary(status))
    return {"success": EXIT_OK, "partial": EXIT_PARTIAL}.get(status.status, EXIT_FAILED)


@contextmanager
def _local_run_settings() -> Iterator[None]:
    """Settings of a flow run in this process.

    Against the ephemeral API (no ``PREFECT_API_URL``) the run's heartbeats are off: they exist
    so that a server can tell a crashed run from a slow one, and this server lives and dies with
    this process. Each flow and subflow otherwise waits up to a second on exit for its heartbeat
    thread (Prefect 3.8 sleeps in one-second steps), about 5 s per run. Runs of a deployment
    against a real server keep their heartbeats, and so does a run on the local Prefect server
    ``forecast setup`` starts (it outlives the command, like a production server). (The ephemeral
    API server itself dies with this process, however it ends: ``flows.ephemeral``, set up by
    ``main``.)
    """
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if get_current_settings().api.url:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _ledger(ledger: dict[str, object]) -> str:
    skipped = ledger["skipped"]
    by_run = ledger["loaded_by"]
    assert isinstance(by_run, dict)
    runs = ", ".join(f"{count} by run {run}" for run, count in by_run.items())
    text = f"skipped {skipped} contents already loaded ({runs})" if skipped else "skipped nothing"
    return f"{text}; recorded {ledger['recorded']}"


def _reconciled(migration: dict[str, object]) -> str:
    check = migration.get("reconciliation")
    if not isinstance(check, dict):
        return "not run"
    verdict = "ok" if not (check["missing"] or check["different"]) else "MISMATCH"
    return f"{verdict} ({check['checked']} checked, {check['missing']} missing, {check['different']} different)"


def _run(args: argparse.Namespace) -> int:

    landing = (
        args.landing if args.landing.startswith("s3://") else str(Path(args.landing).resolve())
    )
    params = run_params(
        landing=landing, start=args.start, end=args.end, lake_block=args.lake_block,
        mongo_block=args.mongo_block, latency_iterations=args.latency_iterations,
        aws_block=args.aws_block, s3_endpoint_url=args.s3_endpoint_url, max_file_bytes=args.max_file_bytes,
        infoclimat_stations=args.infoclimat_station or [], infoclimat_token_block=args.infoclimat_token_block,
        infoclimat_url=args.infoclimat_url, max_rejection_rate=args.max_rejection_rate,
        force=args.force, latency_budget_s=args.latency_budget, work_dir=args.work_dir,
        max_rows_per_sheet=args.max_rows_per_sheet, wu_streams=dict(args.wu_stream or []),
    )  # fmt: skip
    return _execute(params, mongo_uri(args))


def run_params(**values: object) -> RunParams:
    """The run's parameters, a value they refuse (``end`` before ``start``) a usage error.

    Raises:
        UsageError: the first refusal, in one line.
    """
    from pydantic import ValidationError

    from flows.params import RunParams

    try:
        return RunParams(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        raise UsageError(f"{where}: {message}" if where else message) from None


def _stream_station(text: str) -> tuple[str, str]:
    """``STREAM=STATION`` of ``--wu-stream``."""
    stream, sep, station = text.rpartition("=")
    if not sep or not stream or not station:
        raise argparse.ArgumentTypeError(f"expected STREAM=STATION_ID, got {text!r}")
    return stream, station


def _requeue(args: argparse.Namespace) -> int:
    """Replay quarantines under the current rules: one pipeline run per quarantined run."""
    from flows.params import RunParams
    from forecast.lake import zones
    from tasks.config import load_lake

    lake = load_lake(args.lake_block)
    pending = [q for q in zones.quarantines(lake, args.run) if not q.requeued_by]
    if args.list or not pending:
        for q in zones.quarantines(lake, args.run):
            state = f"requeued by {q.requeued_by}" if q.requeued_by else "pending"
            write(sys.stdout, f"{q.run_id} ({q.run_date}): {q.rows} rows {q.rules} - {state}")
        if not pending and not args.list:
            write(sys.stderr, "forecast requeue: nothing pending in the rejected zone")
        return EXIT_OK
    if args.run is None and not args.all:
        write(sys.stderr, "forecast requeue: give --run RUN_ID, --all or --list")
        return EXIT_FAILED
    codes = []
    for quarantine in pending:
        write(sys.stdout, f"requeue of run {quarantine.run_id}: {quarantine.rows} rows")
        params = RunParams(
            requeue_run=quarantine.run_id,
            start=day(quarantine.window.get("start")), end=day(quarantine.window.get("end")),
            lake_block=args.lake_block, mongo_block=args.mongo_block,
            max_rejection_rate=args.max_rejection_rate,
        )  # fmt: skip
        codes.append(_execute(params, mongo_uri(args)))
    return max(codes)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add this group's commands to the ``forecast`` parser."""
    from blocks.names import INFOCLIMAT_TOKEN_BLOCK, LAKE_BLOCK, MONGO_BLOCK
    from forecast.quality.rules import DEFAULT_MAX_REJECTION_RATE
    from forecast.sources.infoclimat.api import PRODUCTION_BASE_URL

    run = commands.add_parser("run", help="run the pipeline on a landing directory")
    run.add_argument(
        "--landing",
        required=True,
        help="directory of InfoClimat JSON and WU workbooks (searched recursively)",
    )
    run.add_argument(
        "--start", type=date.fromisoformat, help="first UTC date, YYYY-MM-DD (inclusive)"
    )
    run.add_argument("--end", type=date.fromisoformat, help="last UTC date, YYYY-MM-DD (inclusive)")
    add_mongo_uri(run, "load into this MongoDB instead of the forecast-mongo block's")
    run.add_argument("--lake-block", default=LAKE_BLOCK)
    run.add_argument("--mongo-block", default=MONGO_BLOCK)
    run.add_argument("--latency-iterations", type=int, default=5)
    run.add_argument(
        "--latency-budget", type=float, default=5.0, metavar="SECONDS",
        help="time the latency report may take (default %(default)s)",
    )  # fmt: skip
    run.add_argument(
        "--force", action="store_true",
        help="reprocess contents the load ledger says an earlier run already loaded",
    )  # fmt: skip
    run.add_argument(
        "--max-rejection-rate", type=float, default=DEFAULT_MAX_REJECTION_RATE,
        help="hold back station-days rejected above this share and fail (default %(default)s)",
    )  # fmt: skip
    s3 = run.add_argument_group("S3 landing (s3://bucket/prefix)")
    s3.add_argument(
        "--aws-block", help="AwsCredentials block; default: the standard AWS chain (env, role)"
    )
    s3.add_argument(
        "--s3-endpoint-url", help="S3 endpoint, e.g. a moto server (AWS_ENDPOINT_URL also works)"
    )
    run.add_argument(
        "--max-file-bytes", type=int, default=1024 * 1024 * 1024,
        help="refuse larger landing files (default 1 GiB)",
    )  # fmt: skip
    run.add_argument(
        "--max-rows-per-sheet", type=int, default=20_000, help="refuse larger days (sheets)"
    )
    run.add_argument("--work-dir", help="local directory for staged parses and scratch files")
    run.add_argument(
        "--wu-stream", action="append", type=_stream_station, metavar="STREAM=STATION",
        help="the Weather Underground station of an Airbyte stream whose name is not the "
        "station's id or place (repeatable)",
    )  # fmt: skip
    api = run.add_argument_group("InfoClimat open-data API (needs --start and --end)")
    api.add_argument(
        "--infoclimat-station", action="append", metavar="ID", help="station to fetch (repeatable)"
    )
    api.add_argument(
        "--infoclimat-token-block",
        default=INFOCLIMAT_TOKEN_BLOCK,
        help="Secret block holding the API token",
    )
    api.add_argument("--infoclimat-url", default=PRODUCTION_BASE_URL, help="API base URL")
    run.set_defaults(handler=_run)

    requeue = commands.add_parser(
        "requeue", help="replay quarantined runs from the raw zone under the current rules"
    )
    which = requeue.add_mutually_exclusive_group()
    which.add_argument("--run", metavar="RUN_ID", help="requeue this run's quarantine")
    which.add_argument("--all", action="store_true", help="requeue every pending quarantine")
    requeue.add_argument("--list", action="store_true", help="list quarantines and exit")
    requeue.add_argument(
        "--max-rejection-rate", type=float, default=DEFAULT_MAX_REJECTION_RATE,
        help="threshold for the replay (raise it to release held partitions knowingly)",
    )  # fmt: skip
    add_mongo_uri(requeue, "load into this MongoDB instead of the block's")
    requeue.add_argument("--lake-block", default=LAKE_BLOCK)
    requeue.add_argument("--mongo-block", default=MONGO_BLOCK)
    requeue.set_defaults(handler=_requeue)
