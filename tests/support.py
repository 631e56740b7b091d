"""Test helpers that run real things: a SecantusDB server process, a Prefect server process, a
directory filesystem."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pymongo

from forecast.localstack import PrefectServer as PrefectServer  # re-exported for the tests
from forecast.localstack import free_port

REAL_COUNTS = {
    "ILAMAD25": 1908,
    "IICHTE19": 1899,
    "07015": 60,
    "00052": 361,
    "000R5": 361,
    "STATIC0010": 361,
}
"""Observations per station in ../shared/data/raw (FORMATS.md: 4,950 in all)."""

DEMO_COUNTS = {
    "07015": 36,
    "00052": 217,
    "000R5": 217,
    "STATIC0010": 217,
    "ILAMAD25": 468,
    "IICHTE19": 464,
}
"""Observations per station written by ``forecast.samples.write_demo_landing`` (1,619 in all)."""


class SecantusServer:
    """A SecantusDB server on loopback with an ephemeral store, started and stopped by tests."""

    def __init__(
        self,
        workdir: Path,
        *,
        storage: str = ":memory:",
        port: int | None = None,
        test_commands: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.storage = storage
        self.port = port or free_port()
        self.test_commands = test_commands  # configureFailPoint for fault injection
        self.extra_args = list(extra_args)  # e.g. --auth, --tls-cert-file
        self.probe_uri: str | None = None  # readiness ping URI when auth or TLS is on
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        program = shutil.which("secantusd-py") or str(
            Path(sys.executable).with_name("secantusd-py")
        )
        log = (self.workdir / f"secantusd-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                program,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                self.storage,
                *(["--enable-test-commands"] if self.test_commands else []),
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                probe = self.probe_uri or self.uri
                pymongo.MongoClient(probe, serverSelectionTimeoutMS=200).admin.command("ping")
                return
            except pymongo.errors.PyMongoError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"secantusd-py exited with {self.process.returncode}"
                    ) from None
                time.sleep(0.1)
        raise RuntimeError("secantusd-py did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def client(self) -> pymongo.MongoClient:
        return pymongo.MongoClient(self.uri, tz_aware=True)


class DirectoryFS:
    """A real directory with the two methods the lake needs (for domain tests without Prefect)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.basepath = str(root)  # the lake treats it like a LocalFileSystem block

    def read_path(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def write_path(self, path: str, content: bytes) -> str:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return str(target)


def without_progress(stderr: str) -> str:
    """Return ``forecast run``'s stderr without its progress lines (``stage <name>: ...``)."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("stage "))


def station_counts_of_uri(uri: str, database: str) -> dict[str, int]:
    """Documents per station in ``database`` of the MongoDB at ``uri``."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        collection = client[database]["weather_measurements"]
        pipeline = [{"$group": {"_id": "$station.id", "n": {"$sum": 1}}}]
        return {row["_id"]: row["n"] for row in collection.aggregate(pipeline)}


def artifacts(run_id: str | None = None, key: str | None = None) -> list:
    """Every Prefect artifact of the current API (of flow run ``run_id``, of ``key``), page by page.

    A bare ``read_artifacts()`` returns at most PREFECT_SERVER_API_DEFAULT_LIMIT (200) artifacts,
    sorted by their random (uuid4) ids: once a session's test harness holds more, a test that
    read one page found its own run's artifact only by chance.
    """
    import asyncio
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    selected = ArtifactFilter(
        flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(run_id))]) if run_id else None,
        key=ArtifactFilterKey(any_=[key]) if key else None,
    )
    page = 200

    async def read() -> list:
        found: list = []
        async with get_client() as client:
            while True:  # ids are unique: a stable order to page through
                batch = await client.read_artifacts(
                    artifact_filter=selected, sort=ArtifactSort.ID_DESC, limit=page,
                    offset=len(found),
                )  # fmt: skip
                found += batch
                if len(batch) < page:
                    return found

    return asyncio.run(read())
