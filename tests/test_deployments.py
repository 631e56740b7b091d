"""Every prefect.yaml entrypoint imports and is a Prefect flow with the parameters it is given."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from prefect import Flow

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENTS = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


def _flow(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=[d["name"] for d in DEPLOYMENTS])
def test_entrypoint_imports_and_is_a_flow_accepting_its_parameters(deployment):
    flow = _flow(deployment["entrypoint"])
    assert isinstance(flow, Flow)
    assert set(deployment.get("parameters", {})) <= set(flow.parameters.properties)


def test_weekly_schedules_are_wednesday_22_utc_and_the_backfill_has_none():
    schedules = {d["name"]: d.get("schedules") for d in DEPLOYMENTS}
    weekly = [{"cron": "0 22 * * 3", "timezone": "UTC", "active": True}]
    assert schedules == {"weekly": weekly, "backfill": None, "local-weekly": weekly}


def test_no_secret_is_a_job_variable_or_a_parameter():
    text = (ROOT / "prefect.yaml").read_text().lower()
    for word in ("mongodb://", "password", "token:", "secret_access_key", "api_key"):
        assert word not in text
