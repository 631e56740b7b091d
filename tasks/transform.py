"""Transform tasks: parse each raw object (cached by content), then combine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow as pa
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE, TASK_SOURCE, CacheKeyFnPolicy
from prefect.futures import PrefectFuture

from forecast.ingest import RawObject, read_raw
from forecast.reports import FileOutcome
from forecast.schema import OBSERVATIONS, STATIONS
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import Parsed, RawFile
from tasks.config import domain_fingerprint, load_lake, retry_transient

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
        error = str(result) if isinstance(result, BaseException) else None
        if isinstance(result, Parsed):
            parsed.append(result)
        outcomes.append(
            FileOutcome(
                record.name, record.source, record.sha256, record.raw_key, record.status, error
            )
        )
    return parsed, outcomes


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
