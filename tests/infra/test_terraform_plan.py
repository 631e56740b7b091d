"""Terraform checked by terraform itself: fmt, init from the local mirror only, validate, and a
plan of the whole stack with the root variables' defaults against a moto server on loopback.

One copy of infra/terraform, one `terraform init` and one moto server serve the session
(tests/infra/conftest.py). The plan sees moto's account (123456789012), the same account id the
deployment tests use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

import hcl2
import pytest

from forecast.run import metrics
from tests.infra.support import (
    CLI_CONFIG,
    LAMBDA_ZIP,
    PREFECT_API_URL,
    REGION,
    ROOT,
    TERRAFORM_DIR,
    report,
    run,
)  # fmt: skip
from tests.test_prefect_deploy import TERRAFORM_OUTPUTS

ACCOUNT = "123456789012"
# Managed resources per module with the defaults (create_vpc, mongodb_mode = "ecs", no e-mail):
# 153 in all. A change to the stack changes these on purpose.
PLANNED_PER_MODULE = {
    "module.ecs": 7,
    "module.iam": 6,
    "module.kms": 2,
    "module.mongodb": 29,
    "module.monitoring": 18,
    "module.network": 32,
    "module.secrets": 2,
    "module.storage": 49,
    "module.worker": 8,
}


def _plan_args(moto_url: str, *extra: str) -> list[str]:
    return ["-input=false", f"-var=moto_endpoint={moto_url}",
            f"-var=prefect_api_url={PREFECT_API_URL}", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def plan(stack, moto, request) -> dict:
    """`terraform plan` with the defaults (only the required prefect_api_url given), as JSON."""
    result = stack.terraform("plan", *_plan_args(moto.url, "-out=defaults.tfplan"))
    document = stack.terraform.show_json("defaults.tfplan")
    document["summary"] = re.search(r"^Plan: .*$", result.stdout, flags=re.MULTILINE).group(0)
    report(request, f"terraform plan (defaults, moto): {document['summary']}")
    return document


def _managed(plan: dict) -> list[dict]:
    return [change for change in plan["resource_changes"] if change["mode"] == "managed"]


def _after(plan: dict, address: str) -> dict:
    (change,) = (c for c in plan["resource_changes"] if c["address"] == address)
    return change["change"]["after"]


def test_terraform_files_are_formatted(terraform_binary):
    result = run(
        [terraform_binary, "fmt", "-check", "-recursive", "-diff", "-no-color", "infra"],
        cwd=ROOT, env={"TF_CLI_CONFIG_FILE": str(CLI_CONFIG), "PATH": "/usr/bin:/bin"},
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_init_installs_only_the_aws_provider_from_the_mirror(stack):
    assert "Installing hashicorp/aws v5.100.0" in stack.init_output, stack.init_output
    assert "Terraform has been successfully initialized!" in stack.init_output
    lock = hcl2.loads((stack.terraform.dir / ".terraform.lock.hcl").read_text())
    providers = {
        name.strip('"'): body for entry in lock["provider"] for name, body in entry.items()
    }
    assert list(providers) == ["registry.terraform.io/hashicorp/aws"]
    assert providers["registry.terraform.io/hashicorp/aws"]["version"].strip('"') == "5.100.0"


def test_validate_reports_a_valid_configuration_without_warnings(stack):
    report = json.loads(stack.validate_json)
    assert (report["valid"], report["error_count"], report["warning_count"]) == (True, 0, 0), report


def test_plan_with_the_default_variables_creates_the_whole_stack(plan):
    assert plan["summary"] == "Plan: 153 to add, 0 to change, 0 to destroy."
    managed = _managed(plan)
    assert {tuple(c["change"]["actions"]) for c in managed} == {("create",)}
    per_module = Counter(c["module_address"].split("[")[0] for c in managed)
    assert dict(per_module) == PLANNED_PER_MODULE
    assert {c["provider_name"] for c in plan["resource_changes"]} == {
        "registry.terraform.io/hashicorp/aws"
    }


def test_the_names_prefect_yaml_and_the_deploy_test_use_are_the_planned_ones(plan):
    outputs = {
        name: output.get("value") for name, output in plan["planned_values"]["outputs"].items()
    }
    assert outputs["ecs_cluster_name"] == TERRAFORM_OUTPUTS["FORECAST_ECS_CLUSTER"]
    assert outputs["log_group_name"] == TERRAFORM_OUTPUTS["FORECAST_LOG_GROUP"]
    assert outputs["bucket_names"]["landing"] == TERRAFORM_OUTPUTS["FORECAST_LANDING_BUCKET"]
    assert outputs["work_pool_name"] == "forecast-ecs"
    for role, variable in (
        ("task", "FORECAST_TASK_ROLE_ARN"),
        ("execution", "FORECAST_EXECUTION_ROLE_ARN"),
    ):
        name = _after(plan, f"module.iam.aws_iam_role.{role}")["name"]
        assert TERRAFORM_OUTPUTS[variable] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    assert TERRAFORM_OUTPUTS["AWS_REGION"] == REGION
    assert outputs["environment"] == TERRAFORM_OUTPUTS["FORECAST_ENVIRONMENT"]
    assert outputs["metric_namespace"] == metrics.NAMESPACE  # the flows' default namespace


def test_what_moto_cannot_create_is_planned_in_full(plan):
    """The two resources the moto apply leaves out (infra/moto/apply.tfvars) are checked here."""
    allow = _after(plan, "module.worker.aws_sqs_queue_redrive_allow_policy.dlq[0]")
    assert json.loads(allow["redrive_allow_policy"]) == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:forecast-prod-ecs-task-events"],
    }
    events = _after(plan, "module.worker.aws_sqs_queue.events")
    assert events["name"] == "forecast-prod-ecs-task-events"
    selection = _after(plan, "module.mongodb[0].aws_backup_selection.volumes[0]")
    assert selection["name"] == "forecast-prod-mongodb-volumes"
    assert selection["resources"] == ["arn:aws:ec2:*:*:volume/*"]
    assert selection["selection_tag"] == [
        {"type": "STRINGEQUALS", "key": "Backup", "value": "forecast-prod-mongodb"}
    ]
    services = [a for a in (c["address"] for c in _managed(plan)) if "aws_ecs_service.member" in a]
    assert len(services) == 3  # the volumes the selection picks are tagged by these services


def _zip_hash(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def test_the_check_lambda_is_deployed_from_the_reproducible_zip(plan, stack, tmp_path):
    built = stack.terraform.dir / LAMBDA_ZIP
    function = _after(plan, "module.monitoring.aws_lambda_function.last_success")
    assert function["source_code_hash"] == _zip_hash(built)
    again = tmp_path / "again.zip"
    run([sys.executable, str(ROOT / "infra" / "build-lambda-zip.py"), str(again)])
    assert again.read_bytes() == built.read_bytes()
    source = TERRAFORM_DIR / "modules" / "monitoring" / "lambda" / "last_success.py"
    with zipfile.ZipFile(built) as archive:
        assert archive.namelist() == ["last_success.py"]
        assert archive.read("last_success.py") == source.read_bytes()
    assert function["handler"] == "last_success.handler"


# What each alarm on the pipeline's EMF metrics watches (names with the defaults).
EMF_ALARMS = {
    "failed": ("forecast-prod-flow-run-failed", "RunSucceeded", "Minimum", "LessThanThreshold", 1),
    "rejection_rate": ("forecast-prod-rejection-rate-high", "RejectionRate", "Maximum",
                       "GreaterThanThreshold", 5),
    "no_success": ("forecast-prod-no-successful-run-8d", "SuccessfulRunsLookback", "Minimum",
                   "LessThanThreshold", 1),
}  # fmt: skip
LATENCY_QUERIES = ("station_day", "network_week", "near_point", "daily_means_month",
                   "count_station")  # fmt: skip


def _alarms(plan: dict) -> dict[str, dict]:
    return {
        c["address"]: c
        for c in _managed(plan)
        if c["type"] == "aws_cloudwatch_metric_alarm" and c["module_address"] == "module.monitoring"
    }


def test_the_alarms_read_the_pipelines_emf_metrics_in_its_namespace_and_environment(plan):
    alarms = _alarms(plan)
    module = plan["configuration"]["root_module"]["module_calls"]["monitoring"]["module"]
    configured = {r["address"]: r for r in module["resources"]}
    expected = {f"module.monitoring.aws_cloudwatch_metric_alarm.{key}": spec
                for key, spec in EMF_ALARMS.items()} | {
        f'module.monitoring.aws_cloudwatch_metric_alarm.latency_p95["{query}"]': (
            f"forecast-prod-latency-p95-{query.replace('_', '-')}", "QueryLatencyP95", "Maximum",
            "GreaterThanThreshold", 500)
        for query in LATENCY_QUERIES
    }  # fmt: skip
    assert set(alarms) == set(expected) | {"module.monitoring.aws_cloudwatch_metric_alarm.dlq"}
    for address, (name, metric, statistic, operator, threshold) in expected.items():
        after = alarms[address]["change"]["after"]
        assert (after["alarm_name"], after["metric_name"], after["statistic"],
                after["comparison_operator"], after["threshold"]) == (
            name, metric, statistic, operator, threshold), address  # fmt: skip
        assert after["namespace"] == metrics.NAMESPACE, address
        query = address.split('"')[1] if "[" in address else None
        assert after["dimensions"] == (
            {"Environment": "prod"} | ({"Query": query} if query else {})
        ), address
        assert after["period"] * after["evaluation_periods"] <= 604_800  # PutMetricAlarm's limit
        # the topic's ARN is known after apply; the configuration says it is the alarm topic
        resource = address.removeprefix("module.monitoring.").split("[")[0]
        actions = configured[resource]["expressions"]["alarm_actions"]["references"]
        assert "aws_sns_topic.alarms.arn" in actions, address
    no_success = alarms["module.monitoring.aws_cloudwatch_metric_alarm.no_success"]["change"]
    assert no_success["after"]["treat_missing_data"] == "breaching"
    assert {a["change"]["after"]["treat_missing_data"] for k, a in alarms.items()
            if not k.endswith((".no_success", ".dlq"))} == {"notBreaching"}  # fmt: skip
    # no alarm matches log text any more
    assert not [c for c in _managed(plan) if c["type"] == "aws_cloudwatch_log_metric_filter"
                and c["module_address"] == "module.monitoring"]  # fmt: skip


def test_the_thresholds_are_the_root_variables(stack, moto, tmp_path):
    """A targeted plan with other thresholds: the alarms take them."""
    result = stack.terraform(
        "plan", *_plan_args(moto.url, "-var=rejection_rate_threshold_percent=2.5",
                            "-var=latency_p95_slo_ms=120",
                            "-target=module.monitoring.aws_cloudwatch_metric_alarm.rejection_rate",
                            '-target=module.monitoring.aws_cloudwatch_metric_alarm.latency_p95["near_point"]',
                            "-out=thresholds.tfplan"),
    )  # fmt: skip
    assert "Plan: " in result.stdout
    alarms = _alarms(stack.terraform.show_json("thresholds.tfplan"))
    thresholds = {a["change"]["after"]["alarm_name"]: a["change"]["after"]["threshold"]
                  for a in alarms.values()}  # fmt: skip
    assert thresholds == {"forecast-prod-rejection-rate-high": 2.5,
                          "forecast-prod-latency-p95-near-point": 120}  # fmt: skip


def test_the_check_lambda_sums_run_succeeded_of_the_environment(plan):
    function = _after(plan, "module.monitoring.aws_lambda_function.last_success")
    assert function["environment"][0]["variables"] == {
        "LOOKBACK_DAYS": "8", "METRIC_NAMESPACE": metrics.NAMESPACE, "ENVIRONMENT": "prod",
        "SOURCE_METRIC": "RunSucceeded", "METRIC_NAME": "SuccessfulRunsLookback",
    }  # fmt: skip
