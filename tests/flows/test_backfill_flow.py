"""The backfill flow creates one pipeline deployment run per partition (not awaited)."""

from __future__ import annotations

import asyncio
from datetime import date

from prefect.client.orchestration import get_client

from flows.backfill import forecast_backfill

LANDINGS = {"infoclimat": "s3://landing/airbyte-sync/infoclimat/",
            "wunderground": "s3://landing/airbyte-sync/wunderground/"}  # fmt: skip


async def _deployment() -> None:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("forecast-pipeline")
        await client.create_deployment(flow_id=flow_id, name="weekly-backfill-target")


async def _runs(ids: list[str]) -> list:
    async with get_client() as client:
        return [await client.read_flow_run(i) for i in ids]


def test_backfill_starts_one_pipeline_run_per_source_and_week():
    asyncio.run(_deployment())
    ids = forecast_backfill(
        date(2024, 9, 30), date(2024, 10, 13), LANDINGS,
        deployment="forecast-pipeline/weekly-backfill-target", lake_block="lake-x", mongo_block="mongo-x",
    )  # fmt: skip
    runs = asyncio.run(_runs(ids))
    assert len(runs) == 4
    assert sorted((r.name, r.parameters["params"]["landing"], r.parameters["params"]["start"],
                   r.parameters["params"]["end"]) for r in runs) == [
        ("backfill-infoclimat-2024-09-30", LANDINGS["infoclimat"], "2024-09-30", "2024-10-06"),
        ("backfill-infoclimat-2024-10-07", LANDINGS["infoclimat"], "2024-10-07", "2024-10-13"),
        ("backfill-wunderground-2024-09-30", LANDINGS["wunderground"], "2024-09-30", "2024-10-06"),
        ("backfill-wunderground-2024-10-07", LANDINGS["wunderground"], "2024-10-07", "2024-10-13"),
    ]  # fmt: skip
    assert all(r.parameters["params"]["lake_block"] == "lake-x" for r in runs)
    assert all(r.state.is_scheduled() for r in runs)  # created, left to the work pool
