"""Ingest tasks: list the landing area, copy each file into the raw zone."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from forecast.errors import ConfigurationError, one_line
from forecast.lake import ingest, zones
from forecast.lake.ingest import RawObject
from forecast.lake.landing import Ignored, LandingConfig, LandingFile
from forecast.quality.validate import Window
from forecast.sources.infoclimat.api import (
    REDACTED,
    ApiRequest,
    InfoClimatClient,
    plan_requests,
    request_url,
)
from forecast.sources.limits import DEFAULT_LIMITS, Limits
from tasks.config import load_lake, load_landing, load_secret, retry_transient, run_directory


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def discover_landing(config: LandingConfig) -> tuple[list[LandingFile], list[Ignored]]:
    """List the objects of the landing area (directory or S3 prefix), and the names it does not
    read with why."""
    landing = load_landing(config)
    files, ignored = landing.list()
    get_run_logger().info(
        "landing %s: %d objects to read; %d ignored %s",
        landing.uri, len(files), len(ignored), [f"{name} ({why})" for name, why in ignored[:5]],
    )  # fmt: skip
    return files, ignored


# Not cached: whether a file is already in the raw zone must be checked every time (idempotent
# by sha256 with conditional writes). Retried only on transient storage errors.
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def copy_to_raw(
    landing_file: LandingFile,
    config: LandingConfig,
    lake_block: str,
    run_id: str,
    work_dir: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    streams: dict[str, str] | None = None,
) -> RawObject:
    """Copy one landing object into the raw zone unless its content is already there (streamed
    through the run's scratch directory), and say what it is."""
    record = ingest.ingest_file(
        load_lake(lake_block), load_landing(config), landing_file, run_id=run_id,
        now=datetime.now(UTC), scratch=run_directory(work_dir, run_id) / "landing",
        max_bytes=config.max_file_bytes, limits=limits, streams=streams or {},
    )  # fmt: skip
    get_run_logger().info(
        "%s %s -> raw/%s %s", record.status, record.name, record.raw_key, record.error or ""
    )
    return record


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def quarantined_sources(requeue_run: str, lake_block: str) -> list[RawObject]:
    """Return the raw contents of a run's quarantine, to replay them under the current rules."""
    found = zones.quarantines(load_lake(lake_block), requeue_run)
    if not found:
        raise ConfigurationError(
            f"no quarantine of run {requeue_run!r} in the rejected zone (rejected/date=*/"
            f"run={requeue_run}.json); `forecast requeue --list` shows what can be requeued"
        )
    quarantine = found[0]
    if quarantine.requeued_by:
        raise ConfigurationError(
            f"the quarantine of run {requeue_run!r} was already requeued by run "
            f"{quarantine.requeued_by!r}; requeue that run's quarantine instead"
        )
    get_run_logger().info(
        "requeue of run %s: %d quarantined rows, %d raw contents to replay",
        requeue_run, quarantine.rows, len(quarantine.raw_objects),
    )  # fmt: skip
    return list(quarantine.raw_objects)


@task(cache_policy=NO_CACHE, retries=0)
def plan_api_requests(stations: list[str], window: Window) -> list[ApiRequest]:
    """Split the window into API requests (7 days each, all stations per request)."""
    if not stations or window.start is None or window.end is None:
        return []
    requests = plan_requests(stations, window.start, window.end)
    get_run_logger().info(
        "InfoClimat API: %d requests for %d stations", len(requests), len(stations)
    )
    return requests


# The client retries 429/5xx/timeouts itself (backoff with jitter); the task adds one more try
# for a transient failure of the whole exchange. The body is stored exactly as received.
@task(
    cache_policy=NO_CACHE, retries=1, retry_delay_seconds=[30], retry_condition_fn=retry_transient
)
def fetch_infoclimat(
    request: ApiRequest, api_url: str, token_block: str, lake_block: str, run_id: str
) -> RawObject:
    """Fetch one API window and store the response body in the raw zone."""
    with InfoClimatClient(api_url, load_secret(token_block)) as client:
        response = client.fetch(request)
    record = ingest.ingest_bytes(
        load_lake(lake_block), response.body, source="infoclimat", name=response.file_name(),
        origin=response.url, run_id=run_id, now=datetime.now(UTC),
    )  # fmt: skip
    get_run_logger().info(
        "%s %s (%d bytes) -> raw/%s", record.status, response.url, record.size, record.raw_key
    )
    return record


def ignored_records(ignored: list[Ignored], landing: str, run_id: str) -> list[RawObject]:
    """The records of the landing names the run does not read: each kept with why."""
    now = datetime.now(UTC)
    base = landing.rstrip("/")
    return [ingest.ignored(name, f"{base}/{name}", run_id, now, why) for name, why in ignored]


def landing_records(
    files: list[LandingFile], futures: list[PrefectFuture[RawObject]], run_id: str
) -> list[RawObject]:
    """Wait for the landing copies; one that failed (after its retries) becomes a refused record
    carrying its error, so one object that cannot be read never stops the others."""

    def refusal(file: LandingFile, error: str) -> RawObject:
        where = file.relative or file.name
        return ingest.refused(
            where, file.location, run_id, datetime.now(UTC), f"cannot be read: {error}"
        )

    return _settled(files, futures, refusal, run_level=(ConfigurationError,))


def api_records(
    requests: list[ApiRequest], futures: list[PrefectFuture[RawObject]], api_url: str, run_id: str
) -> list[RawObject]:
    """Wait for API fetches; a failed request becomes a refused record carrying its error."""

    def refusal(request: ApiRequest, error: str) -> RawObject:
        name = f"infoclimat-api_{'-'.join(sorted(request.stations))}_{request.start}_{request.end}"
        origin = request_url(api_url, request, REDACTED)
        return ingest.refused(name, origin, run_id, datetime.now(UTC), error, source="infoclimat")

    return _settled(requests, futures, refusal)


def _settled(
    inputs: Sequence[Any],
    futures: list[PrefectFuture[RawObject]],
    refusal: Callable[[Any, str], RawObject],
    run_level: tuple[type[BaseException], ...] = (),
) -> list[RawObject]:
    """Each input's record once its future is done: its result, or ``refusal`` of its error;
    an error of ``run_level`` (the lake's configuration, say) fails the run instead."""
    records = []
    for item, future in zip(inputs, futures, strict=True):
        future.wait()
        result = future.state.result(raise_on_failure=False)
        if isinstance(result, RawObject):
            records.append(result)
        elif isinstance(result, run_level):
            raise result
        else:
            error = one_line(result) if isinstance(result, BaseException) else str(result)
            records.append(refusal(item, error))
    return records
