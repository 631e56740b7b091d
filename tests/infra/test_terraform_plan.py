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
# 149 in all. A change to the stack changes these on purpose.
PLANNED_PER_MODULE = {
    "module.ecs": 7,
    "module.iam": 6,
    "module.kms": 2,
    "module.mongodb": 29,
    "module.monitoring": 14,
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
    assert plan["summary"] == "Plan: 149 to add, 0 to change, 0 to destroy."
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
