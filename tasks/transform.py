"""Transform tasks: parse each raw object into staged chunks on disk (cached by content)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from forecast.lake.ingest import RawObject, Span, local_raw, read_span, write_manifest, write_span
from forecast.lake.staging import StagedContent, stage_raw_file
from forecast.quality.validate import Window
from forecast.run import progress
from forecast.run.reports import FileOutcome, file_outcome, staged_outcome
from forecast.sources.limits import Limits
from tasks.config import domain_fingerprint, load_lake, retry_transient, run_directory
from tasks.ledger import LedgerQuery, ledger_lookup


# Not a Prefect cache: the staged chunks on disk, named by content sha256 and code fingerprint,
# are the cache (a staged content is reused as it is, a failed parse leaves nothing), and what
# this task returns is only their manifest, never the rows.
@task(
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_transient,
)
def stage_raw_object(
    record: RawObject,
    lake_block: str,
    work_dir: str | None,
    run_id: str,
    limits: Limits,
    streams: dict[str, str] | None = None,
) -> StagedContent:
    """Parse one raw object into staged chunks of canonical observations (or reuse them)."""
    scratch = run_directory(work_dir, run_id) / "raw"
    path = local_raw(load_lake(lake_block), record, scratch)
    staged, parsed_now = stage_raw_file(
        path, root=run_directory(work_dir, run_id), fingerprint=domain_fingerprint(),
        record=record, limits=limits, streams=streams or {},
    )  # fmt: skip
    get_run_logger().info(
        "%s %s: %d observations of %d stations",
        "parsed" if parsed_now else "already staged", record.name, staged.rows,
        len(staged.station_rows),
    )  # fmt: skip
    return staged


def staged_outcomes(
    records: list[RawObject], futures: list[PrefectFuture[StagedContent]]
) -> tuple[list[StagedContent], list[FileOutcome]]:
    """Wait for staging futures; return the staged contents and every file's outcome.

    A file that failed to parse does not stop the others: its error is kept in its outcome.
    """
    staged, outcomes = [], []
    for done, (record, future) in enumerate(zip(records, futures, strict=True), start=1):
        future.wait()
        progress.counted("transform", done, len(records), "files parsed")
        result = future.state.result(raise_on_failure=False)
        if isinstance(result, StagedContent):
            staged.append(result)
            outcomes.append(staged_outcome(record, result))
        else:
            outcomes.append(file_outcome(record, error=str(result)))
    return staged, outcomes


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def select_for_window(
    records: list[RawObject], window: Window, lake_block: str, ledger: LedgerQuery | None
) -> tuple[list[RawObject], list[FileOutcome]]:
    """Return the raw objects to parse, and outcomes for those that need no parsing.

    Refused, ignored and unrecognised inputs are reported as such; a content parsed before
    whose recorded span lies
    outside the window is skipped, so a weekly run does not reprocess history; a content the
    load ledger says an earlier run loaded for the same code and window is skipped (unless
    ``ledger`` is None: ``--force``, requeues).
    """
    lake = load_lake(lake_block)
    selected, skipped = [], []
    for record in records:
        if not record.stored or record.error:  # refused, ignored, or stored but not recognised
            skipped.append(file_outcome(record))
            continue
        span = read_span(lake, record.sha256) if (window.start or window.end) else None
        if span is not None and not span.overlaps(window.start, window.end):
            skipped.append(file_outcome(record, status="outside_window"))
        else:
            selected.append(record)
    loaded = ledger_lookup(ledger, selected, window) if ledger else {}
    skipped += [
        file_outcome(r, status="already_loaded", loaded_by=loaded[r.content_key])
        for r in selected
        if r.content_key in loaded
    ]
    selected = [r for r in selected if r.content_key not in loaded]
    get_run_logger().info(
        "%d raw objects to parse, %d skipped (refused, outside the window, or already loaded "
        "by an earlier run: %d)",
        len(selected), len(skipped), len(loaded),
    )  # fmt: skip
    return selected, skipped


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def record_outcomes(outcomes: list[FileOutcome], lake_block: str, run_id: str) -> str:
    """Record each parsed content's span and write the run's manifest to the raw zone."""
    lake = load_lake(lake_block)
    for outcome in outcomes:
        if outcome.status == "parsed":
            first = (
                datetime.fromisoformat(outcome.first_observation)
                if outcome.first_observation
                else None
            )
            last = (
                datetime.fromisoformat(outcome.last_observation)
                if outcome.last_observation
                else None
            )
            write_span(lake, outcome.sha256, Span(outcome.stations, first, last))
    now = datetime.now(UTC)
    key = write_manifest(lake, [asdict(o) for o in outcomes], run_id=run_id, now=now)
    get_run_logger().info("manifest raw/%s: %d files", key, len(outcomes))
    return key
