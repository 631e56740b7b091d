"""Backfill: one ``forecast-pipeline`` deployment run per source and week, in parallel.

Each partition is a flow run of the pipeline's deployment (on ECS: its own task), started with
``run_deployment`` and not awaited (``timeout=0``): the backfill returns the runs it created and
the work pool's concurrency decides how many run at once.
"""

from __future__ import annotations

import inspect
from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment

from blocks.names import LAKE_BLOCK, MONGO_BLOCK
from forecast.run.backfill import Partition, partitions


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def start_partition(partition: Partition, deployment: str, base: dict[str, Any]) -> str:
    """Create the pipeline run of one partition; return its flow-run id."""
    params = base | {
        "landing": partition.landing,
        "start": partition.start.isoformat(),
        "end": partition.end.isoformat(),
    }
    run = run_deployment(
        deployment, parameters={"params": params}, timeout=0, flow_run_name=partition.name,
        as_subflow=True,
    )  # fmt: skip
    # run_deployment is sync-compatible: called from a sync task it returns the FlowRun itself.
    assert not inspect.isawaitable(run), "run_deployment returned a coroutine in a sync task"
    return str(run.id)


@flow(name="forecast-backfill")
def forecast_backfill(
    start: date,
    end: date,
    landings: dict[str, str],
    deployment: str = "forecast-pipeline/weekly",
    lake_block: str = LAKE_BLOCK,
    mongo_block: str = MONGO_BLOCK,
    days_per_run: int = 7,
) -> list[str]:
    """Start one pipeline run per source (``landings``: source -> prefix) and week of
    [start, end]; return the flow-run ids."""
    plan = partitions(start, end, landings, days=days_per_run)
    get_run_logger().info("backfill %s..%s: %d partitions", start, end, len(plan))
    base = {"lake_block": lake_block, "mongo_block": mongo_block}
    return [start_partition(p, deployment, base) for p in plan]
