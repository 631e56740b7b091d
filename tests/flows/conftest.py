"""Flow-tier tests all talk to the session's Prefect test API."""

import pytest


@pytest.fixture(autouse=True)
def _prefect_api(prefect_harness):
    return prefect_harness
