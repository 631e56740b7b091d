"""`prefect deploy --all` against a local Prefect server: deployments, pools, schedules, params.

The build step runs for real but deploys an already pushed image (FORECAST_IMAGE), since there is
no Docker engine here; the Terraform outputs are given as the environment variables an operator
exports (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod:abc123"
TERRAFORM_OUTPUTS = {
    "FORECAST_IMAGE": IMAGE,
    "FORECAST_ECS_CLUSTER": "forecast-prod-cluster",
    "FORECAST_TASK_ROLE_ARN": "arn:aws:iam::123456789012:role/forecast-prod-flow-task",
    "FORECAST_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/forecast-prod-task-execution",
    "FORECAST_VPC_ID": "vpc-0abc",
    "FORECAST_SUBNET_ID_A": "subnet-0a",
    "FORECAST_SUBNET_ID_B": "subnet-0b",
    "FORECAST_SECURITY_GROUP_ID": "sg-0task",
    "FORECAST_LOG_GROUP": "/ecs/forecast-prod/flows",
    "FORECAST_LANDING_BUCKET": "forecast-prod-landing-123456789012",
    "FORECAST_ENVIRONMENT": "prod",
    "AWS_REGION": "eu-west-3",
}


def _prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("prefect")), *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


async def _deployments(names: set[str]) -> dict[str, object]:
    """Return the deployments named in prefect.yaml (other tests share the server)."""
    async with get_client() as client:
        return {d.name: d for d in await client.read_deployments() if d.name in names}


@pytest.fixture(scope="module")
def deployed(prefect_harness, tmp_path_factory):
    env = {**os.environ, **TERRAFORM_OUTPUTS, "PREFECT_API_URL": PREFECT_API_URL.value(),
           "FORECAST_REPO_DIR": str(ROOT), "PREFECT_CLI_PROMPT": "false"}  # fmt: skip
    for pool, kind in (("forecast-ecs", "ecs"), ("forecast-local", "process")):
        created = _prefect("work-pool", "create", pool, "--type", kind, env=env)
        assert created.returncode == 0, created.stdout + created.stderr
    result = _prefect("deploy", "--all", "--prefect-file", "prefect.yaml", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    names = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    return asyncio.run(_deployments(names))


def test_three_deployments_on_their_pools(deployed):
    assert {name: d.work_pool_name for name, d in deployed.items()} == {
        "weekly": "forecast-ecs", "backfill": "forecast-ecs", "local-weekly": "forecast-local",
    }  # fmt: skip


def test_weekly_runs_wednesdays_at_22_utc_over_the_last_7_days(deployed):
    weekly = deployed["weekly"]
    (schedule,) = weekly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (
        "0 22 * * 3",
        "UTC",
        True,
    )
    assert weekly.parameters["params"] == {
        "landing": "s3://forecast-prod-landing-123456789012/airbyte-sync/", "lake_block": "forecast-lake",
        "mongo_block": "forecast-mongo", "latency_iterations": 5, "max_rejection_rate": 0.05,
        "last_days": 7,
    }  # fmt: skip


def test_ecs_job_variables_come_from_the_build_and_the_terraform_outputs(deployed):
    variables = deployed["weekly"].job_variables
    assert variables["image"] == IMAGE
    assert (variables["cluster"], variables["cpu"], variables["memory"]) == (
        "forecast-prod-cluster",
        1024,
        4096,
    )
    assert variables["task_role_arn"].endswith(":role/forecast-prod-flow-task")
    assert variables["network_configuration"] == {
        "subnets": ["subnet-0a", "subnet-0b"], "securityGroups": ["sg-0task"], "assignPublicIp": "DISABLED",
    }  # fmt: skip
    assert (
        variables["family"] == "forecast-pipeline" and variables["match_latest_revision_in_family"]
    )
    assert variables["cloudwatch_logs_options"]["awslogs-group"] == "/ecs/forecast-prod/flows"
    assert variables["env"] == {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "FORECAST_ENVIRONMENT": "prod",
        "FORECAST_EMF": "stdout",
        "FORECAST_LOG_FORMAT": "json",
        "PREFECT_LOGGING_SETTINGS_PATH": "/opt/forecast/flows/logging.yml",
    }


def test_backfill_has_no_schedule_and_targets_the_weekly_deployment(deployed):
    backfill = deployed["backfill"]
    assert backfill.schedules == []
    assert backfill.parameters["deployment"] == "forecast-pipeline/weekly"
    assert (
        backfill.parameters["landings"]["wunderground"]
        == "s3://forecast-prod-landing-123456789012/airbyte-sync/wunderground/"
    )
    assert backfill.job_variables["family"] == "forecast-backfill"


def test_the_local_deployment_runs_from_the_checkout_without_building(deployed):
    local = deployed["local-weekly"]
    assert local.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}
    ]
    assert local.parameters["params"]["landing"] == f"{ROOT}/.forecast/demo"
