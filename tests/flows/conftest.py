"""Flow-tier fixtures: Prefect's test harness, and blocks pointing at a temp lake and test DB."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from blocks.local import save_local_lake, save_mongo
from flows.params import RunParams


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def stack(tmp_path: Path, mongo_server) -> Callable[..., RunParams]:
    """Return a factory of RunParams whose blocks point at a fresh lake and a fresh database."""
    suffix = uuid.uuid4().hex[:10]
    database = f"test_{suffix}"
    save_local_lake(tmp_path / "lake", name=f"lake-{suffix}")
    save_mongo(mongo_server.uri, name=f"mongo-{suffix}", database=database)

    def params(landing: Path, **overrides) -> RunParams:
        return RunParams(
            landing=str(landing),
            lake_block=f"lake-{suffix}",
            mongo_block=f"mongo-{suffix}",
            latency_iterations=2,
            **overrides,
        )

    params.database = database  # type: ignore[attr-defined]
    params.lake = tmp_path / "lake"  # type: ignore[attr-defined]
    return params
