"""Infrastructure checks that run here: every .tf parses (python-hcl2), checkov finds nothing,
and the names prefect.yaml and the deployment tests use are the ones Terraform creates.

These checks read the .tf files: names are derived from the templates with the root variables'
defaults. Terraform itself runs in tests/infra: fmt, init, validate and a plan against moto in
`make test` (test_terraform_plan.py, which checks the same names in the plan), apply and destroy
against moto in `make infra-apply`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import hcl2
import pytest
import yaml

from tests.test_prefect_deploy import TERRAFORM_OUTPUTS

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "infra" / "terraform"
CHECKOV = ROOT / ".venv-infra" / "bin" / "checkov"
ACCOUNT = "123456789012"
PREFECT = yaml.safe_load((ROOT / "prefect.yaml").read_text())
# Which Terraform output each deploy-time variable of prefect.yaml comes from (docs/deploy.md).
ENV_FROM_OUTPUT = {
    "FORECAST_ECS_CLUSTER": "ecs_cluster_name",
    "FORECAST_TASK_ROLE_ARN": "task_role_arn",
    "FORECAST_EXECUTION_ROLE_ARN": "execution_role_arn",
    "FORECAST_VPC_ID": "vpc_id",
    "FORECAST_SUBNET_ID_A": "subnet_ids",
    "FORECAST_SUBNET_ID_B": "subnet_ids",
    "FORECAST_SECURITY_GROUP_ID": "security_group_id",
    "FORECAST_LOG_GROUP": "log_group_name",
    "FORECAST_LANDING_BUCKET": "bucket_names",
    "FORECAST_ENVIRONMENT": "environment",
    "FORECAST_PREFECT_AUTH_STRING_SECRET_ARN": "prefect_api_auth_string_secret_arn",
    "AWS_REGION": "region",
}


def _parse(path: Path) -> dict:
    return hcl2.loads(path.read_text(encoding="utf-8"))


def _unquote(text: str) -> str:
    return text.strip('"')


def _blocks(document: dict, kind: str) -> dict[str, dict]:
    """Return ``{name: body}`` of the top-level blocks of one kind (variable, output, ...)."""
    return {_unquote(k): v for entry in document.get(kind, []) for k, v in entry.items()}


def _resource(path: Path, kind: str, name: str) -> dict:
    for entry in _parse(path).get("resource", []):
        for resource_type, bodies in entry.items():
            if _unquote(resource_type) == kind and f'"{name}"' in bodies:
                return bodies[f'"{name}"']
    raise AssertionError(f"{kind}.{name} not in {path}")


def _defaults() -> dict[str, str]:
    variables = _blocks(_parse(TERRAFORM / "variables.tf"), "variable")
    return {
        name: _unquote(body["default"])
        if isinstance(body.get("default"), str)
        else body.get("default")
        for name, body in variables.items()
    }


def _render(template: str, **values: str) -> str:
    """Render ``${var.x}`` / ``${local.x}`` references from ``values``."""
    return re.sub(r"\$\{(?:var|local)\.(\w+)\}", lambda m: values[m.group(1)], _unquote(template))


@pytest.fixture(scope="module")
def name() -> str:
    defaults = _defaults()
    return f"{defaults['name_prefix']}-{defaults['environment']}"


def test_every_terraform_file_parses():
    files = sorted(TERRAFORM.rglob("*.tf"))
    assert len(files) > 20
    for path in files:
        assert isinstance(_parse(path), dict), path


def test_checkov_finds_no_failed_check():
    assert CHECKOV.exists(), "run `make infra-tools` (make test does) to install checkov"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(TERRAFORM), "--framework", "terraform", "--compact", "--quiet",
         "--skip-download"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    summary = re.search(
        r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout
    )
    assert summary, result.stdout[-2000:] + result.stderr[-2000:]
    passed, failed, _ = (int(n) for n in summary.groups())
    assert failed == 0 and passed > 300, result.stdout[-4000:]
    documented = (TERRAFORM / "CHECKOV.md").read_text()
    for check in set(
        re.findall(
            r"#checkov:skip=(CKV2?_AWS_\d+)",
            "".join(p.read_text() for p in TERRAFORM.rglob("*.tf")),
        )
    ):
        assert check in documented, f"skip {check} is not justified in CHECKOV.md"


def test_the_ecs_work_pool_is_the_one_terraform_runs_a_worker_for():
    pools = {d["work_pool"]["name"] for d in PREFECT["deployments"] if d["name"] != "local-weekly"}
    assert pools == {_defaults()["work_pool_name"]}


def test_task_definition_families_are_allowed_by_the_worker_role():
    iam = _blocks(_parse(TERRAFORM / "modules" / "iam" / "variables.tf"), "variable")
    prefix = _unquote(iam["task_definition_family_prefix"]["default"])
    families = {d["work_pool"]["job_variables"]["family"] for d in PREFECT["deployments"]
                if "job_variables" in d["work_pool"]}  # fmt: skip
    assert families == {"forecast-pipeline", "forecast-backfill"}
    assert all(family.startswith(prefix) for family in families)


def test_deploy_time_variables_come_from_terraform_outputs():
    used = set(re.findall(r"\{\{ \$(\w+) \}\}", (ROOT / "prefect.yaml").read_text()))
    used -= {"FORECAST_REPO_DIR"}  # the laptop deployment's checkout, not AWS
    assert used == set(ENV_FROM_OUTPUT)
    outputs = set(_blocks(_parse(TERRAFORM / "outputs.tf"), "output"))
    assert set(ENV_FROM_OUTPUT.values()) - {"region"} <= outputs
    assert "region" in _defaults()


def test_the_names_the_deploy_test_uses_are_the_ones_terraform_renders(name):
    ecs = TERRAFORM / "modules" / "ecs" / "main.tf"
    iam = TERRAFORM / "modules" / "iam" / "main.tf"
    cluster = _render(_resource(ecs, "aws_ecs_cluster", "this")["name"], name=name)
    log_group = _render(_resource(ecs, "aws_cloudwatch_log_group", "flows")["name"], name=name)
    task_role = _render(_resource(iam, "aws_iam_role", "task")["name"], name=name)
    execution = _render(_resource(iam, "aws_iam_role", "execution")["name"], name=name)
    assert TERRAFORM_OUTPUTS["FORECAST_ECS_CLUSTER"] == cluster
    assert TERRAFORM_OUTPUTS["FORECAST_LOG_GROUP"] == log_group
    assert TERRAFORM_OUTPUTS["FORECAST_TASK_ROLE_ARN"] == f"arn:aws:iam::{ACCOUNT}:role/{task_role}"
    assert (
        TERRAFORM_OUTPUTS["FORECAST_EXECUTION_ROLE_ARN"]
        == f"arn:aws:iam::{ACCOUNT}:role/{execution}"
    )
    assert TERRAFORM_OUTPUTS["FORECAST_LANDING_BUCKET"] == f"{name}-landing-{ACCOUNT}"
    assert TERRAFORM_OUTPUTS["AWS_REGION"] == _defaults()["region"]


def test_every_monitoring_alarm_notifies_the_topic_and_reads_emf_metrics_not_log_text():
    main = _parse(TERRAFORM / "modules" / "monitoring" / "main.tf")
    kinds = {_unquote(kind) for entry in main["resource"] for kind in entry}
    assert "aws_cloudwatch_log_metric_filter" not in kinds
    alarms = {
        _unquote(name): body
        for entry in main["resource"]
        for kind, bodies in entry.items()
        if _unquote(kind) == "aws_cloudwatch_metric_alarm"
        for name, body in bodies.items()
    }
    assert set(alarms) == {"failed", "rejection_rate", "latency_p95", "no_success", "dlq"}
    for name, body in alarms.items():
        assert body["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"], name
    metrics = {name: _unquote(body["metric_name"]) for name, body in alarms.items()}
    assert metrics == {"failed": "RunSucceeded", "rejection_rate": "RejectionRate",
                       "latency_p95": "QueryLatencyP95", "no_success": "SuccessfulRunsLookback",
                       "dlq": "ApproximateNumberOfMessagesVisible"}  # fmt: skip
    for name in ("failed", "rejection_rate", "latency_p95", "no_success"):
        assert _unquote(alarms[name]["namespace"]) == "${local.namespace}", name
    assert (
        _unquote(alarms["rejection_rate"]["threshold"]) == "${var.rejection_rate_threshold_percent}"
    )
    assert _unquote(alarms["latency_p95"]["threshold"]) == "${var.latency_p95_slo_ms}"
    root = _parse(TERRAFORM / "main.tf")
    (monitoring,) = [m['"monitoring"'] for m in root["module"] if '"monitoring"' in m]
    assert _unquote(monitoring["latency_p95_slo_ms"]) == "${var.latency_p95_slo_ms}"
    assert _unquote(monitoring["environment"]) == "${var.environment}"
