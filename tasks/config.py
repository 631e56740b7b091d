"""Resolve blocks into domain objects; the retry predicate shared by every task."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect_aws import AwsCredentials

from blocks.lake import ForecastLake
from blocks.mongo import ForecastMongo
from forecast.errors import ConfigurationError, is_transient
from forecast.lake.landing import Landing, LandingConfig, LocalLanding, S3Landing, split_uri
from forecast.lake.store import Lake
from forecast.mongo import MongoTarget

SETUP_HINT = "create it with `forecast setup` (local stack) or see docs/deploy.md (AWS)"


_RUN_BLOCKS: ContextVar[dict[tuple[str, str], Any] | None] = ContextVar(
    "forecast_run_blocks", default=None
)


@contextmanager
def blocks_of_this_run() -> Iterator[None]:
    """Load each block once per pipeline run (tasks and subflows share the loads).

    A block load is a few HTTP round trips to the Prefect API; a run loads the lake's five
    blocks and the MongoDB block in most of its tasks (about 3 s of a rerun on the ephemeral
    API). Within the block, a run also sees one configuration, even if a block is edited while it
    runs. Tasks run in copies of the flow's context, so they see the same cache.
    """
    token = _RUN_BLOCKS.set({})
    try:
        yield
    finally:
        _RUN_BLOCKS.reset(token)


def _load(block_type: type[Any], name: str) -> Any:
    cache, key = _RUN_BLOCKS.get(), (block_type.__name__, name)
    if cache is not None and key in cache:
        return cache[key]
    try:
        block = block_type.load(name)
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise ConfigurationError(
            f"block {name!r} ({block_type.__name__}) not found: {SETUP_HINT}"
        ) from exc
    if cache is not None:
        cache[key] = block
    return block


def load_lake(name: str) -> Lake:
    """Return the lake described by the ``ForecastLake`` block ``name`` and its zone blocks."""
    references = _load(ForecastLake, name).references()
    return Lake({zone: _load(Block, reference) for zone, reference in references.items()})


def load_secret(name: str) -> str:
    """Return the value of the Prefect ``Secret`` block ``name`` (never logged)."""
    return str(_load(Secret, name).get())


def load_mongo(name: str) -> MongoTarget:
    """Return the MongoDB target described by the ``ForecastMongo`` block ``name``."""
    block: ForecastMongo = _load(ForecastMongo, name)
    return MongoTarget(
        uri=block.uri.get_secret_value(),
        database=block.database,
        collection=block.collection,
        stations_collection=block.stations_collection,
        batch_size=block.batch_size,
        batch_bytes=block.batch_bytes,
        write_w=block.write_w,
        journal=block.journal,
        wtimeout_ms=block.wtimeout_ms,
        attempts=block.attempts,
        backoff_s=block.backoff_s,
        validation=block.validation,
        network_index=block.network_index,
        geo_index=block.geo_index,
    )


def aws_credentials(aws_block: str | None, endpoint_url: str | None = None) -> AwsCredentials:
    """Return the AwsCredentials block ``aws_block``, or the default AWS chain, with an optional
    endpoint override (a moto server, MinIO, a VPC endpoint)."""
    credentials: AwsCredentials = (
        _load(AwsCredentials, aws_block) if aws_block else AwsCredentials()
    )
    if endpoint_url:
        parameters = credentials.aws_client_parameters.model_copy(
            update={"endpoint_url": endpoint_url}
        )
        credentials = credentials.model_copy(update={"aws_client_parameters": parameters})
    return credentials


def load_landing(config: LandingConfig) -> Landing:
    """Return the landing area a run reads: a local directory or an S3 prefix."""
    kind, location, prefix = split_uri(config.uri)
    if kind == "s3":
        client = aws_credentials(config.aws_block, config.endpoint_url).get_s3_client()
        return S3Landing(client, location, prefix)
    return LocalLanding(Path(location))


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only failures caused by a TransientError (``retry_condition_fn``)."""
    exception = state.result(raise_on_failure=False)
    return isinstance(exception, BaseException) and is_transient(exception)


@cache
def domain_fingerprint() -> str:
    """Return a hash of the domain package's code and data, part of every parse cache key.

    A change to any parser, rule or the station registry invalidates cached parse results.
    """
    root = Path(__file__).resolve().parent.parent / "forecast"
    digest = hashlib.sha256()
    for path in sorted([*root.rglob("*.py"), *root.rglob("*.toml")]):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def work_root(work_dir: str | None) -> Path:
    """The local directory of staged contents and run scratch space (``work_dir``, default the
    system temporary directory's ``forecast-work``)."""
    return Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / "forecast-work"


def run_directory(work_dir: str | None, run_id: str) -> Path:
    """A run's own scratch directory under the work root (removed when the run succeeds)."""
    return work_root(work_dir) / f"run={run_id}"
