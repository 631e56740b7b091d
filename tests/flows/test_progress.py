"""Progress of a run: the load's progress artifact, and `forecast run`'s stage and counter lines
on stderr (plain lines in a pipe, one rewritten line on a terminal)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.settings import PREFECT_API_URL

from flows.cli import main
from flows.pipeline import forecast_pipeline
from forecast.run import progress
from forecast.samples import write_demo_landing
from tasks.progress import LOAD_PROGRESS_KEY
from tests.support import DEMO_COUNTS

TOTAL = sum(DEMO_COUNTS.values())
STAGES = ("ingest", "transform", "validate", "load", "report")


@pytest.fixture
def landing(tmp_path):
    directory = tmp_path / "landing"
    write_demo_landing(directory)
    return directory


async def _load_progress_artifacts():
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[LOAD_PROGRESS_KEY]))
        )


async def _latest_subflow_parameters(name: str) -> dict:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        (run,) = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[name])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1,
        )  # fmt: skip
        return run.parameters


def test_the_subflows_get_handoffs_not_the_data_as_parameters(stack, landing):
    """Prefect refuses flow-run parameters over 512 KiB: what grows with the input is handed over
    as a file reference (seen at 2.3 M rows: the load's parameters were 1.3 MB)."""
    forecast_pipeline(stack(landing, partition_rows=1_000))
    load = asyncio.run(_latest_subflow_parameters("forecast-load"))
    assert set(load) == {"checked_run", "staged_run", "outcomes", "raw", "params", "run_id"}
    assert load["checked_run"]["summary"].endswith(f"validated partitions, {TOTAL} rows")
    assert load["raw"]["summary"] == "3 raw objects"
    for name in ("forecast-transform", "forecast-validate", "forecast-load"):
        parameters = asyncio.run(_latest_subflow_parameters(name))
        assert len(json.dumps(parameters, default=str)) < 4096, name


def test_the_load_counts_documents_per_partition_and_its_artifact_reaches_100(stack, landing):
    out = io.StringIO()
    before = {a.id for a in asyncio.run(_load_progress_artifacts())}
    with progress.reporting(progress.Reporter(out, tty=False, min_interval_s=0)):
        forecast_pipeline(stack(landing, partition_rows=1_000))
    counts = [
        line
        for line in out.getvalue().splitlines()
        if line.startswith("stage load: ") and "/" in line
    ]
    done = [int(line.split(": ")[1].split(" / ")[0].replace(",", "")) for line in counts]
    assert done[0] == 0 and done[-1] == TOTAL and len(done) >= 3  # several partitions
    assert done == sorted(done)
    assert counts[-1] == f"stage load: {TOTAL:,} / {TOTAL:,} documents loaded (100%)"
    assert "stage transform: 3 / 3 files parsed (100%)" in out.getvalue()
    created = [a for a in asyncio.run(_load_progress_artifacts()) if a.id not in before]
    assert len(created) == 1 and created[0].type == "progress"
    assert float(created[0].data) == 100.0


def test_forecast_run_in_a_pipe_writes_plain_stage_lines_and_the_documents_count(
    stack, landing, capsys
):
    params = stack(landing)
    code = main(
        ["run", "--landing", str(landing), "--lake-block", params.lake_block,
         "--mongo-block", params.mongo_block, "--latency-iterations", "1"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0
    lines = err.splitlines()
    for stage in STAGES:
        assert f"stage {stage}: started" in lines
        assert any(line.startswith(f"stage {stage}: done in ") for line in lines)
    assert f"stage load: {TOTAL:,} / {TOTAL:,} documents loaded (100%)" in lines
    assert "\r" not in err
    assert "stage " not in out  # stdout keeps the summary only
    assert f"inserted {TOTAL}" in out


def _run_on_a_terminal(command: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run ``command`` with stderr on a pseudo-terminal; return its exit code and that output."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env
    )
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed its end
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, b"".join(chunks).decode()


def test_forecast_run_on_a_terminal_rewrites_its_progress_line(stack, landing):
    params = stack(landing)
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    command = [str(Path(sys.executable).with_name("forecast")), "run", "--landing", str(landing),
               "--lake-block", params.lake_block, "--mongo-block", params.mongo_block,
               "--latency-iterations", "1"]  # fmt: skip
    code, terminal = _run_on_a_terminal(command, env, timeout=240)
    assert code == 0, terminal[-2000:]
    assert f"\r\x1b[Kstage load: {TOTAL:,} / {TOTAL:,} documents loaded (100%)" in terminal
    assert "\r\x1b[Kstage transform: 3 / 3 files parsed (100%)" in terminal
    assert "stage load: done in " in terminal
    assert "stage report: started" in terminal
