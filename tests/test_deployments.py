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


def test_weekly_schedule_is_wednesday_22_utc():
    schedules = {d["name"]: d["schedules"] for d in DEPLOYMENTS}
    assert schedules["local-weekly"] == [{"cron": "0 22 * * 3", "timezone": "UTC", "active": True}]
