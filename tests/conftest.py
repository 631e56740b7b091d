"""Test session setup: an isolated Prefect home, and shared fixtures for every tier.

PREFECT_HOME must point at a fresh directory before Prefect is imported: cached task results
under $PREFECT_HOME/storage would otherwise survive between sessions and give false cache hits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="forecast-tests-"))
# The session's own FORECAST_HOME too: a `forecast` command run in-process would otherwise find
# the developer's local Prefect server (`make run` leaves it running) and talk to it.
os.environ["FORECAST_HOME"] = str(_SESSION_HOME / "forecast")
os.environ["PREFECT_HOME"] = str(_SESSION_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_AUTH_STRING", None)
os.environ.pop("AWS_ENDPOINT_URL", None)

import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402

import pytest  # noqa: E402
from prefect.settings import (  # noqa: E402
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness  # noqa: E402

from blocks.local import save_local_lake, save_mongo  # noqa: E402
from flows.params import RunParams  # noqa: E402
from tests.support import SecantusServer  # noqa: E402

SHARED_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"


@pytest.fixture(scope="session")
def mongo_server() -> SecantusServer:
    """A SecantusDB server (MongoDB wire protocol) on 127.0.0.1 for the whole session."""
    server = SecantusServer(_SESSION_HOME / "secantus")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def shared_raw() -> Path:
    """The real input files, read in place from ../shared/data/raw."""
    if not SHARED_RAW.is_dir():
        pytest.fail(
            f"the real input files are expected at {SHARED_RAW} (../shared beside the clone)"
        )
    return SHARED_RAW


@pytest.fixture(scope="session")
def prefect_harness():
    """A throw-away Prefect API (its own SQLite database) for the session.

    Flow-run heartbeats are off, as ``forecast run`` has them against an ephemeral API: nothing
    watches for crashed runs here, and each flow would wait up to a second on exit.
    """
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def stack(tmp_path: Path, mongo_server, prefect_harness) -> Callable[..., RunParams]:
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
            latency_iterations=1,
            **overrides,
        )

    params.database = database  # type: ignore[attr-defined]
    params.lake = tmp_path / "lake"  # type: ignore[attr-defined]
    params.lake_block = f"lake-{suffix}"  # type: ignore[attr-defined]
    return params
