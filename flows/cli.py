"""The ``forecast`` command: run the pipeline, manage the local stack, make demo inputs.

Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error, 3 partial success
(some files or documents failed; the good data was loaded), 4 held (station-days over the
rejection threshold were held back in rejected/; everything else was loaded).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from flows.params import RunParams
    from forecast.mongo import MongoTarget
    from forecast.reports import RunStatus

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL, EXIT_HELD = 0, 1, 3, 4


def _home() -> Path:
    """The project-local state directory (``FORECAST_HOME``, default ``./.forecast``)."""
    return Path(os.environ.get("FORECAST_HOME", ".forecast")).resolve()


def _write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")


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
    if migration.get("partitions_loaded"):
        lines.append(
            f"  mongo before the failure: {migration['partitions_loaded']} partition(s) loaded, "
            f"inserted {migration.get('inserted', 0)}, updated {migration.get('updated', 0)}, "
            f"unchanged {migration.get('unchanged', 0)}, failed {migration.get('failed', 0)}"
        )
    else:
        lines.append("  mongo before the failure: nothing loaded")
    lines.append(f"  status: reports/run={status.run_id}/pipeline_status.json")
    return "\n".join(lines)


def _summary(status: RunStatus) -> str:
    if status.failure:
        return _failed_summary(status)
    document = status.to_dict()
    quality, migration = document["quality"], document["migration"]
    lines = [
        f"run {status.run_id}: {status.status} in {document['duration_s']} s",
        f"  files: {len(status.files)} ({document['files_failed']} failed)",
    ]
    lines += [f"    FAILED {f.name}: {f.error}" for f in status.files if f.failed]
    lines += [
        f"    drift {source}: {note}"
        for source, notes in status.schema_drift().items()
        for note in notes[:10]
    ]
    lines += [
        f"  records: extracted {quality['records_extracted']}, validated {quality['records_validated']}, "
        f"rejected {quality['records_rejected']}, held {quality['records_held']}, "
        f"collapsed {quality['duplicates_collapsed']}, outside window {quality['records_outside_window']}",
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
    from blocks.names import CLI_MONGO_BLOCK
    from flows.pipeline import forecast_pipeline
    from forecast.errors import RejectionThresholdExceeded, RunFailed
    from forecast.reports import RunStatus

    if mongo_uri:
        # The URI goes into a block (stored as a secret), never into flow parameters or logs.
        save_mongo(mongo_uri, CLI_MONGO_BLOCK)
        params = params.model_copy(update={"mongo_block": CLI_MONGO_BLOCK})
    try:
        with _local_run_settings():
            status = forecast_pipeline(params)
    except RejectionThresholdExceeded as exc:
        if isinstance(exc.status, RunStatus):
            _write(sys.stdout, _summary(exc.status))
        _write(sys.stderr, f"forecast: held: {exc}")
        return EXIT_HELD
    except RunFailed as exc:
        if isinstance(exc.status, RunStatus):
            _write(sys.stdout, _summary(exc.status))
        _write(sys.stderr, f"forecast run: error: {exc}")
        return EXIT_FAILED
    _write(sys.stdout, _summary(status))
    return {"success": EXIT_OK, "partial": EXIT_PARTIAL}.get(status.status, EXIT_FAILED)


@contextmanager
def _local_run_settings() -> Iterator[None]:
    """Settings of a flow run in this process.

    Against the ephemeral API (no ``PREFECT_API_URL``) the run's heartbeats are off: they exist
    so that a server can tell a crashed run from a slow one, and this server lives and dies with
    this process. Each flow and subflow otherwise waits up to a second on exit for its heartbeat
    thread (Prefect 3.8 sleeps in one-second steps), about 5 s per run. Runs of a deployment
    against a real server keep their heartbeats.
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
    from flows.params import RunParams

    landing = (
        args.landing if args.landing.startswith("s3://") else str(Path(args.landing).resolve())
    )
    params = RunParams(
        landing=landing, start=args.start, end=args.end, lake_block=args.lake_block,
        mongo_block=args.mongo_block, latency_iterations=args.latency_iterations,
        aws_block=args.aws_block, s3_endpoint_url=args.s3_endpoint_url, max_file_bytes=args.max_file_bytes,
        infoclimat_stations=args.infoclimat_station or [], infoclimat_token_block=args.infoclimat_token_block,
        infoclimat_url=args.infoclimat_url, max_rejection_rate=args.max_rejection_rate,
        force=args.force, latency_budget_s=args.latency_budget, work_dir=args.work_dir,
        max_rows_per_sheet=args.max_rows_per_sheet,
    )  # fmt: skip
    return _execute(params, args.mongo_uri)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _requeue(args: argparse.Namespace) -> int:
    """Replay quarantines under the current rules: one pipeline run per quarantined run."""
    from flows.params import RunParams
    from forecast import zones
    from tasks.config import load_lake

    lake = load_lake(args.lake_block)
    pending = [q for q in zones.quarantines(lake, args.run) if not q.requeued_by]
    if args.list or not pending:
        for q in zones.quarantines(lake, args.run):
            state = f"requeued by {q.requeued_by}" if q.requeued_by else "pending"
            _write(sys.stdout, f"{q.run_id} ({q.run_date}): {q.rows} rows {q.rules} - {state}")
        if not pending and not args.list:
            _write(sys.stderr, "forecast requeue: nothing pending in the rejected zone")
        return EXIT_OK
    if args.run is None and not args.all:
        _write(sys.stderr, "forecast requeue: give --run RUN_ID, --all or --list")
        return EXIT_FAILED
    codes = []
    for quarantine in pending:
        _write(sys.stdout, f"requeue of run {quarantine.run_id}: {quarantine.rows} rows")
        params = RunParams(
            requeue_run=quarantine.run_id,
            start=_day(quarantine.window.get("start")), end=_day(quarantine.window.get("end")),
            lake_block=args.lake_block, mongo_block=args.mongo_block,
            max_rejection_rate=args.max_rejection_rate,
        )  # fmt: skip
        codes.append(_execute(params, args.mongo_uri))
    return max(codes)


def _setup(args: argparse.Namespace) -> int:
    from blocks.local import save_local_lake, save_mongo
    from forecast.localstack import LocalMongo

    home = _home()
    uri = args.mongo_uri
    if uri is None:
        uri = LocalMongo(home, port=args.port).start()
        _write(
            sys.stdout,
            f"local MongoDB (SecantusDB) running at {uri} with data in {home / 'mongo' / 'data'}",
        )
    save_local_lake(home / "lake")
    save_mongo(uri)
    _write(
        sys.stdout,
        f"blocks saved: forecast-lake -> {home / 'lake'}/{{raw,processed,rejected,reports}}, forecast-mongo",
    )
    return EXIT_OK


def _stop(args: argparse.Namespace) -> int:
    from forecast.localstack import LocalMongo

    stopped = LocalMongo(_home(), port=args.port).stop()
    _write(sys.stdout, "local MongoDB stopped" if stopped else "local MongoDB was not running")
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    from forecast.localstack import LocalMongo

    _write(sys.stdout, f"local MongoDB: {LocalMongo(_home(), port=args.port).status()}")
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    from prefect.blocks.system import Secret

    token = sys.stdin.readline().strip()  # stdin, not argv: keeps it out of shell history and ps
    if not token:
        _write(sys.stderr, "forecast token: error: no token on standard input")
        return EXIT_FAILED
    Secret(value=token).save(args.block, overwrite=True)
    _write(sys.stdout, f"token saved in Secret block {args.block!r}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from forecast.samples import write_demo_landing

    files = write_demo_landing(Path(args.out))
    for sample in files:
        _write(sys.stdout, f"{sample.path}: {sum(sample.rows.values())} observations")
    return EXIT_OK


def _docs(args: argparse.Namespace) -> int:
    from forecast.quality_docs import data_quality_markdown

    Path(args.out).write_text(data_quality_markdown(), encoding="utf-8")
    _write(sys.stdout, f"wrote {args.out}")
    return EXIT_OK


def _positive(text: str) -> int:
    """Argparse type of ``--iterations``: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _mongo_target(args: argparse.Namespace) -> MongoTarget:
    """Return the target of a diagnostic command: ``--mongo-uri`` as given, else the block.

    No flow runs here, so a ``--mongo-uri`` is used directly (nothing is saved) and the command
    works without the Prefect API; ``--database`` overrides the database either way.
    """
    import dataclasses

    from forecast.mongo import MongoTarget

    if args.mongo_uri:
        target = MongoTarget(uri=args.mongo_uri)
    else:
        from tasks.config import load_mongo

        target = load_mongo(args.mongo_block)
    return dataclasses.replace(target, database=args.database) if args.database else target


def _text_table(rows: list[dict[str, object]]) -> str:
    """Return rows (dicts with the same keys) as left-aligned plain-text columns."""
    header = list(rows[0])
    cells = [header, *([str(row[key]) for key in header] for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


def _crud_check(args: argparse.Namespace) -> int:
    """Create, read, update and delete a probe document; 0 when every step worked."""
    import json

    from forecast.mongo import connect, redact
    from forecast.mongo.probe import crud_check

    target = _mongo_target(args)
    with connect(target) as client:
        report = crud_check(client, target, collection=args.collection)
    if args.json:
        _write(sys.stdout, json.dumps(report.to_dict(), indent=2))
    else:
        _write(
            sys.stdout, f"CRUD check of {redact(target.uri)} {target.database}.{report.collection}"
        )
        _write(sys.stdout, _text_table(report.to_rows()))
        failed = [step.name for step in report.steps if not step.ok]
        verdict = "all steps ok" if report.ok else f"FAILED: {', '.join(failed)}"
        dropped = "dropped" if report.dropped else "kept (not empty)"
        _write(sys.stdout, f"{verdict}; scratch collection {dropped}")
    return EXIT_OK if report.ok else EXIT_FAILED


def _latency(args: argparse.Namespace) -> int:
    """Time the standard queries; print their statistics and plans (1 when there is no data)."""
    import json

    from forecast.mongo.latency import STANDARD_QUERIES, measure_latency, measuring_client
    from forecast.reports import LatencyReport

    target = _mongo_target(args)
    with measuring_client(target) as client:
        report = LatencyReport(
            args.iterations, tuple(measure_latency(client, target, args.iterations))
        )
    if not report.queries:
        _write(
            sys.stderr,
            f"forecast latency: {target.database}.{target.collection} holds no observations: "
            "nothing to measure (load data first)",
        )
        return EXIT_FAILED
    if args.json:
        _write(sys.stdout, json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    _write(sys.stdout, f"query latency of {target.display}: {args.iterations} iterations each, "
           f"ms = {report.TIMING}")  # fmt: skip
    rows = [{k: v for k, v in row.items() if k != "description"} for row in report.to_rows()]
    _write(sys.stdout, _text_table(rows))
    for query in report.queries:
        _write(sys.stdout, f"  {query.name}: {query.description}")
    measured = {query.name for query in report.queries}
    for name in (name for name in STANDARD_QUERIES if name not in measured):
        _write(sys.stdout, f"  {name}: not measured (its collection does not exist yet)")
    return EXIT_OK


def _blocks_aws(args: argparse.Namespace) -> int:
    import boto3

    from blocks.production import load_outputs, save_production_blocks

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        _write(sys.stderr, "forecast blocks-aws: error: give --region or set AWS_REGION")
        return EXIT_FAILED
    outputs = load_outputs(Path(args.terraform_outputs), region)
    saved = save_production_blocks(outputs, boto3.client("secretsmanager", region_name=region))
    _write(sys.stdout, f"blocks saved: {', '.join(saved)}")
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    from blocks.names import INFOCLIMAT_TOKEN_BLOCK, LAKE_BLOCK, MONGO_BLOCK
    from forecast.localstack import DEFAULT_PORT
    from forecast.rules import DEFAULT_MAX_REJECTION_RATE
    from forecast.sources.infoclimat_api import PRODUCTION_BASE_URL

    parser = argparse.ArgumentParser(prog="forecast", description="Forecast 2.0 weather pipeline")
    commands = parser.add_subparsers(dest="command", required=True)

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
    run.add_argument(
        "--mongo-uri", help="load into this MongoDB instead of the forecast-mongo block's"
    )
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
    requeue.add_argument("--mongo-uri", help="load into this MongoDB instead of the block's")
    requeue.add_argument("--lake-block", default=LAKE_BLOCK)
    requeue.add_argument("--mongo-block", default=MONGO_BLOCK)
    requeue.set_defaults(handler=_requeue)

    aws = commands.add_parser(
        "blocks-aws",
        help="save the production blocks (S3 zones, MongoDB URI from Secrets Manager) from "
        "`terraform output -json`",
    )
    aws.add_argument("--terraform-outputs", required=True, metavar="FILE")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION)")
    aws.set_defaults(handler=_blocks_aws)

    setup = commands.add_parser(
        "setup", help="start the local MongoDB (unless --mongo-uri) and save the local blocks"
    )
    setup.add_argument("--mongo-uri", help="use this MongoDB instead of starting the local one")
    setup.add_argument("--port", type=int, default=DEFAULT_PORT)
    setup.set_defaults(handler=_setup)

    for name, handler, text in (
        ("stop", _stop, "stop the local MongoDB"),
        ("status", _status, "show the local MongoDB's state"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--port", type=int, default=DEFAULT_PORT)
        sub.set_defaults(handler=handler)

    token = commands.add_parser(
        "token", help="save the InfoClimat API token (read from stdin) in a Secret block"
    )
    token.add_argument("--block", default=INFOCLIMAT_TOKEN_BLOCK)
    token.set_defaults(handler=_token)

    demo = commands.add_parser("demo", help="write demo inputs in the real source formats")
    demo.add_argument("--out", required=True)
    demo.set_defaults(handler=_demo)

    docs = commands.add_parser("docs", help="generate docs/data-quality.md from the rule catalogue")
    docs.add_argument("--out", default="docs/data-quality.md")
    docs.set_defaults(handler=_docs)

    crud = commands.add_parser(
        "crud-check", help="create, read, update and delete a probe document in MongoDB"
    )
    crud.add_argument("--collection", default="_forecast_crud_probe", help="scratch collection")
    latency = commands.add_parser(
        "latency", help="time the standard data-science queries and show their plans"
    )
    latency.add_argument("--iterations", type=_positive, default=5)
    for sub, handler in ((crud, _crud_check), (latency, _latency)):
        where = sub.add_mutually_exclusive_group()
        where.add_argument("--mongo-uri", help="use this MongoDB instead of the block's")
        where.add_argument("--mongo-block", default=MONGO_BLOCK)
        sub.add_argument("--database", help="database (default: the block's, or forecast_2_0)")
        sub.add_argument("--json", action="store_true", help="print the report as JSON")
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forecast`` console script."""
    from pydantic import ValidationError

    from flows.observability import use_json_logs
    from forecast.errors import ForecastError

    use_json_logs()  # FORECAST_LOG_FORMAT=json: every console handler writes JSON lines
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (ForecastError, ValidationError, OSError) as exc:
        return _fail(args, exc)
    except Exception as exc:  # top of the CLI: any other failure is still reported in one line
        if os.environ.get("FORECAST_DEBUG"):
            raise
        return _fail(args, exc)


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    reason = " ".join(str(exc).split())
    _write(
        sys.stderr,
        f"forecast {args.command}: error: {type(exc).__name__}: {reason} (FORECAST_DEBUG=1 for a traceback)",
    )
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
