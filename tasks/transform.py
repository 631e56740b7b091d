"""Transform tasks: parse each raw object (cached by content), then combine."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy
from prefect.futures import PrefectFuture

from forecast.ingest import RawObject, Span, read_raw, read_span, write_manifest, write_span
from forecast.reports import FileOutcome, file_outcome
from forecast.schema import OBSERVATIONS, STATIONS
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import Parsed, RawFile
from forecast.validate import Window
from tasks.config import (
    LedgerQuery,
    domain_fingerprint,
    ledger_lookup,
    load_lake,
    retry_transient,
)

PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}


def _content_identity(context: Any, parameters: dict[str, Any]) -> str:
    """Cache key of a parse: what the bytes are and which code parses them, never the table."""
    record: RawObject = parameters["record"]
    return f"parse-{record.source}-{record.sha256}-{record.raw_key}-{domain_fingerprint()}"


@task(
    cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_content_identity),
    cache_expiration=timedelta(days=30),
    persist_result=True,
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=retry_transient,
)
def parse_raw_object(record: RawObject, lake_block: str) -> Parsed:
    """Parse one raw object into canonical observations and stations."""
    content = read_raw(load_lake(lake_block), record)
    parsed = PARSERS[record.source](RawFile(record.name, content, record.raw_key, record.sha256))
    get_run_logger().info(
        "parsed %s: %d observations, %d stations",
        record.name,
        parsed.observations.num_rows,
        parsed.stations.num_rows,
    )
    return parsed


def file_outcomes(
    records: list[RawObject], futures: list[PrefectFuture[Parsed]]
) -> tuple[list[Parsed], list[FileOutcome]]:
    """Wait for parse futures; return the parsed files and every file's outcome.

    A file that failed to parse does not stop the others: its error is kept in its outcome.
    """
    parsed, outcomes = [], []
    for record, future in zip(records, futures, strict=True):
        future.wait()
        result = future.state.result(raise_on_failure=False)
        if isinstance(result, Parsed):
            parsed.append(result)
            outcomes.append(file_outcome(record, result))
        else:
            outcomes.append(file_outcome(record, error=str(result)))
    return parsed, outcomes


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

    Refused files are reported as such; a content parsed before whose recorded span lies
    outside the window is skipped, so a weekly run does not reprocess history; a content the
    load ledger says an earlier run loaded for the same code and window is skipped (unless
    ``ledger`` is None: ``--force``, requeues).
    """
    lake = load_lake(lake_block)
    selected, skipped = [], []
    for record in records:
        if record.status == "refused":
            skipped.append(file_outcome(record))
            continue
        span = read_span(lake, record.sha256) if (window.start or window.end) else None
        if span is not None and not span.overlaps(window.start, window.end):
            skipped.append(file_outcome(record, status="outside_window"))
        else:
            selected.append(record)
    loaded = ledger_lookup(ledger, selected, window) if ledger else {}
    skipped += [
        file_outcome(r, status="already_loaded", loaded_by=loaded[r.sha256])
        for r in selected
        if r.sha256 in loaded
    ]
    selected = [r for r in selected if r.sha256 not in loaded]
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


@task(cache_policy=NO_CACHE, retries=0)
def combine(parsed: list[Parsed]) -> Parsed:
    """Concatenate parsed files into one observations table and one stations table."""
    observations = (
        pa.concat_tables([p.observations for p in parsed]) if parsed else OBSERVATIONS.empty_table()
    )
    stations = pa.concat_tables([p.stations for p in parsed]) if parsed else STATIONS.empty_table()
    if stations.num_rows:
        # The same station may come from several files: keep its last description.
        ids = stations.column("station_id").to_pylist()
        last = {station_id: index for index, station_id in enumerate(ids)}
        stations = stations.take(sorted(last.values()))
    get_run_logger().info(
        "combined %d files: %d observations, %d stations",
        len(parsed),
        observations.num_rows,
        stations.num_rows,
    )
    return Parsed(observations, stations)
