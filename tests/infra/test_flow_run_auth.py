"""The flow runs' credentials for the self-hosted Prefect server, through prefect-aws's own code.

The ECS worker passes its own settings to every flow-run container. With the server's basic
auth, that includes PREFECT_API_AUTH_STRING: unless the deployment names the secret it comes
from (job variable `prefect_api_auth_string_secret_arn`, set in prefect.yaml from the Terraform
output `prefect_api_auth_string_secret_arn`), prefect-aws sends the value in clear in the
RunTask request's container overrides (kept by ECS: DescribeTasks, the console, CloudTrail).
These tests build what the worker would send, with prefect-aws 0.7.12's ECSJobConfiguration and
ECSWorker, from prefect.yaml's job variables: the task definition it registers and the
environment of the RunTask overrides (the request itself also resolves the subnets through EC2,
which is not needed here).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import yaml
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect_aws.workers.ecs_worker import ECSJobConfiguration, ECSWorker

from tests.infra.support import REGION, ROOT

SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:forecast-prod/prefect-api-auth-string-AbCdEf"
AUTH_STRING = "admin:sentinel-auth-string-0123456789"
API_URL = "http://internal-forecast-prod-prefect-1.eu-west-3.elb.amazonaws.com/api"
PREFECT = yaml.safe_load((ROOT / "prefect.yaml").read_text())


class _NoAPI:
    """Stands for the Prefect client: the job variables hold no block or variable reference,
    so building the configuration must not call the API (any call fails the test)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected Prefect API call: {name}")


def _flow_run_container(secret_arn: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment the worker sends in RunTask's overrides, and the flow-run container of
    the task definition it registers."""
    variables = copy.deepcopy(PREFECT["definitions"]["ecs_job_variables"])
    variables |= {"image": "forecast:test", "prefect_api_auth_string_secret_arn": secret_arn}
    template = ECSWorker.get_default_base_job_template()
    with temporary_settings({PREFECT_API_URL: API_URL, PREFECT_API_AUTH_STRING: AUTH_STRING}):
        configuration = asyncio.run(
            ECSJobConfiguration.from_template_and_values(template, variables, client=_NoAPI())
        )
        flow_run = FlowRun(flow_id="7f1c6a5e-7c57-4a8e-9a8f-0e2b7f3a9d11", name="weekly-run")
        configuration.prepare_for_flow_run(flow_run)
        task_definition = ECSWorker(work_pool_name="forecast-ecs")._prepare_task_definition(
            configuration, REGION, flow_run
        )
    (container,) = task_definition["containerDefinitions"]
    return configuration.env, container


def test_prefect_yaml_takes_the_secret_arn_from_the_terraform_output():
    variables = PREFECT["definitions"]["ecs_job_variables"]
    assert variables["prefect_api_auth_string_secret_arn"] == (
        "{{ $FORECAST_PREFECT_AUTH_STRING_SECRET_ARN }}"
    )


def test_with_the_secret_arn_the_auth_string_is_injected_from_secrets_manager():
    environment, container = _flow_run_container(SECRET_ARN)
    assert {"name": "PREFECT_API_AUTH_STRING", "valueFrom": SECRET_ARN} in container["secrets"]
    assert "PREFECT_API_AUTH_STRING" not in environment
    assert environment["PREFECT_API_URL"] == API_URL  # the worker's server, passed on
    assert AUTH_STRING not in repr(environment) + repr(container)


def test_without_it_the_worker_would_send_the_auth_string_in_clear():
    """Why the job variable is set: an empty value (no FORECAST_PREFECT_AUTH_STRING_SECRET_ARN
    at deploy time, as with an external server) leaves the worker's value in the overrides."""
    environment, container = _flow_run_container("")
    assert environment["PREFECT_API_AUTH_STRING"] == AUTH_STRING
    assert not container.get("secrets")
