"""The tests' artifact reader sees every artifact: Prefect's API answers one page of 200."""

from __future__ import annotations

import asyncio

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from tests.support import artifacts


@flow
def _publish(count: int) -> str:
    for i in range(count):
        create_markdown_artifact(markdown=f"# artifact {i}", key=f"page-test-{i % 3}")
    return flow_run.id


def test_every_page_is_read_and_the_filters_apply(prefect_harness):
    run_id = _publish(210)

    async def one_page() -> int:
        async with get_client() as client:
            return len(await client.read_artifacts())

    assert asyncio.run(one_page()) == 200  # what a bare read_artifacts() returns
    mine = artifacts(run_id)
    assert len(mine) == 210 and {str(a.flow_run_id) for a in mine} == {run_id}
    assert len(artifacts(run_id, "page-test-1")) == 70
    assert len(artifacts()) >= 210
