"""Terraform checked by terraform itself: fmt, init from the local mirror only, validate, and a
plan of the whole stack with the root variables' defaults against a moto server on loopback
(the self-hosted Prefect server included), then a plan with an external Prefect API URL.

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
# Managed resources per module with the defaults (create_vpc, mongodb_mode = "ecs", no e-mail,
# no prefect_api_url: the self-hosted Prefect server): 180 in all. A change to the stack changes
# these on purpose.
PLANNED_PER_MODULE = {
    "module.ecs": 7,
    "module.iam": 6,
    "module.kms": 2,
    "module.mongodb": 29,
    "module.monitoring": 18,
    "module.network": 32,
    "module.prefect_server": 27,
    "module.secrets": 2,
    "module.storage": 49,
    "module.worker": 8,
}
SERVER = "module.prefect_server[0]"


def _plan_args(moto_url: str, *extra: str) -> list[str]:
    return ["-input=false", f"-var=moto_endpoint={moto_url}", *extra]


def _planned(stack, moto, request, name: str, *extra: str) -> dict:
    result = stack.terraform("plan", *_plan_args(moto.url, *extra, f"-out={name}.tfplan"))
    document = stack.terraform.show_json(f"{name}.tfplan")
    document["summary"] = re.search(r"^Plan: .*$", result.stdout, flags=re.MULTILINE).group(0)
    report(request, f"terraform plan ({name}, moto): {document['summary']}")
    return document


@pytest.fixture(scope="module")
def plan(stack, moto, request) -> dict:
    """`terraform plan` with every root variable at its default, as JSON."""
    return _planned(stack, moto, request, "defaults")


@pytest.fixture(scope="module")
def plan_external(stack, moto, request) -> dict:
    """The same with an external Prefect API (Prefect Cloud or a server run elsewhere)."""
    return _planned(stack, moto, request, "external", f"-var=prefect_api_url={PREFECT_API_URL}")


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
    assert plan["summary"] == "Plan: 180 to add, 0 to change, 0 to destroy."
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


# --- the self-hosted Prefect server (modules/prefect_server) ------------------------------------
# The containers' definitions name the ALB's and the database's addresses, which only exist after
# apply: the plan holds them as unknown, so their environment and secrets are checked here through
# the configuration's references and read back for real by `make infra-apply`.

CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f1e2d3c-prefect"
DOMAIN = "prefect.forecast.internal"
SERVER_RESOURCES = {
    'aws_cloudwatch_log_group.db["postgresql"]', 'aws_cloudwatch_log_group.db["upgrade"]',
    "aws_cloudwatch_log_group.server", "aws_cloudwatch_metric_alarm.unhealthy",
    "aws_db_instance.this", "aws_db_parameter_group.this", "aws_db_subnet_group.this",
    "aws_ecs_service.server", "aws_ecs_task_definition.server",
    "aws_iam_role.execution", "aws_iam_role_policy.execution",
    "aws_lb.this", "aws_lb_listener.this", "aws_lb_target_group.this",
    "aws_secretsmanager_secret.auth_string", "aws_secretsmanager_secret.db_password",
    "aws_secretsmanager_secret_version.auth_string", "aws_secretsmanager_secret_version.db_password",
    "aws_security_group.alb", "aws_security_group.db", "aws_security_group.server",
    "aws_vpc_security_group_egress_rule.alb_to_server", "aws_vpc_security_group_egress_rule.server_https",
    "aws_vpc_security_group_egress_rule.server_to_db", "aws_vpc_security_group_ingress_rule.alb_from_clients",
    "aws_vpc_security_group_ingress_rule.db_from_server", "aws_vpc_security_group_ingress_rule.server_from_alb",
}  # fmt: skip


def _server_call(plan: dict) -> dict:
    return plan["configuration"]["root_module"]["module_calls"]["prefect_server"]


def _server_config(plan: dict) -> dict[str, dict]:
    """The prefect_server module's resources as configured: ``{address: expressions}``."""
    return {
        r["address"]: r.get("expressions", {}) for r in _server_call(plan)["module"]["resources"]
    }


def _refs(expression: dict) -> set[str]:
    """The attributes an expression reads (Terraform also lists each attribute's parent)."""
    refs = set(expression.get("references", []))
    return {r for r in refs if not any(other.startswith(f"{r}.") for other in refs)}


def _server_changes(plan: dict) -> dict[str, dict]:
    return {c["address"].removeprefix(f"{SERVER}."): c["change"]["after"] for c in _managed(plan)
            if c["module_address"] == SERVER}  # fmt: skip


def test_the_prefect_server_is_planned_by_default_and_not_with_an_external_api_url(
    plan, plan_external
):
    assert set(_server_changes(plan)) == SERVER_RESOURCES
    outputs = plan["output_changes"]
    assert outputs["prefect_api_url"]["after_unknown"] is True  # the ALB's name, after apply
    assert outputs["prefect_api_auth_string_secret_arn"]["after_unknown"] is True

    assert plan_external["summary"] == "Plan: 153 to add, 0 to change, 0 to destroy."
    assert not [c for c in _managed(plan_external) if "prefect_server" in c["module_address"]]
    external = {k: v.get("value") for k, v in plan_external["planned_values"]["outputs"].items()}
    assert (external["prefect_api_url"], external["prefect_api_auth_string_secret_arn"]) == (
        PREFECT_API_URL, "",
    )  # fmt: skip
    worker = _after(plan_external, "module.worker.aws_ecs_task_definition.worker")
    (container,) = json.loads(worker["container_definitions"])
    assert {e["name"]: e["value"] for e in container["environment"]}["PREFECT_API_URL"] == (
        PREFECT_API_URL
    )
    assert container["secrets"] == []  # neither an API key nor an auth string was given
    egress = _after(plan_external, "module.network.aws_security_group.tasks")["egress"]
    assert sorted(rule["from_port"] for rule in egress) == [53, 443, 27017]


def test_the_database_is_private_encrypted_with_the_platform_key_backed_up_and_protected_in_prod(
    plan,
):
    db = _server_changes(plan)["aws_db_instance.this"]
    assert (db["engine"], db["engine_version"], db["instance_class"], db["storage_type"]) == (
        "postgres", "16", "db.t4g.small", "gp3",
    )  # fmt: skip
    assert (db["storage_encrypted"], db["publicly_accessible"], db["multi_az"]) == (
        True,
        False,
        False,
    )
    assert db["backup_retention_period"] >= 7 and db["backup_window"] == "02:00-02:30"
    assert (db["deletion_protection"], db["skip_final_snapshot"], db["final_snapshot_identifier"]) == (
        True, False, "forecast-prod-prefect-final",
    )  # fmt: skip
    assert (db["db_name"], db["username"], db["port"]) == ("prefect", "prefect", 5432)
    assert db["performance_insights_enabled"] is True
    assert db["enabled_cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    # The password is write-only: generated at apply, in neither the plan nor the state.
    assert db.get("password") is None and db.get("password_wo") is None
    assert db["password_wo_version"] == 1 and db.get("manage_master_user_password") is None
    config, call = _server_config(plan)["aws_db_instance.this"], _server_call(plan)["expressions"]
    assert (
        _refs(config["kms_key_id"])
        == _refs(config["performance_insights_kms_key_id"])
        == {"var.kms_key_arn"}
    )
    assert _refs(call["kms_key_arn"]) == {"module.kms.key_arn"}  # the platform key
    assert _refs(config["vpc_security_group_ids"]) == {"aws_security_group.db.id"}
    subnets = _server_config(plan)["aws_db_subnet_group.this"]["subnet_ids"]
    assert _refs(subnets) == {"var.subnet_ids"} and _refs(call["subnet_ids"]) == {
        "module.network.subnet_ids"
    }  # the private subnets
    parameters = _server_changes(plan)["aws_db_parameter_group.this"]
    assert parameters["family"] == "postgres16"
    assert {p["name"]: p["value"] for p in parameters["parameter"]} == {
        "rds.force_ssl": "1", "log_statement": "ddl", "log_min_duration_statement": "1000",
    }  # fmt: skip


def test_the_generated_secrets_are_written_only_and_reach_the_containers_through_secrets_manager(
    plan,
):
    changes = _server_changes(plan)
    names = {}
    for secret in ("db_password", "auth_string"):
        version = changes[f"aws_secretsmanager_secret_version.{secret}"]
        assert version.get("secret_string") is None and version.get("secret_string_wo") is None
        assert version["secret_string_wo_version"] == 1
        names[secret] = changes[f"aws_secretsmanager_secret.{secret}"]["name"]
        config = _server_config(plan)[f"aws_secretsmanager_secret.{secret}"]
        assert _refs(config["kms_key_id"]) == {"var.kms_key_arn"}
    assert names == {"db_password": "forecast-prod/prefect-db-password",
                     "auth_string": "forecast-prod/prefect-api-auth-string"}  # fmt: skip
    # no planned resource anywhere carries a password or a secret value
    for change in _managed(plan):
        after = change["change"]["after"] or {}
        for attribute in ("password", "password_wo", "secret_string", "secret_string_wo"):
            assert after.get(attribute) is None, (change["address"], attribute)
    server = _refs(_server_config(plan)["aws_ecs_task_definition.server"]["container_definitions"])
    assert {"aws_secretsmanager_secret.db_password.arn",
            "aws_secretsmanager_secret.auth_string.arn"} <= server  # fmt: skip
    execution = _refs(_server_config(plan)["aws_iam_role_policy.execution"]["policy"])
    assert execution == {"data.aws_iam_policy_document.execution.json"}


def test_only_the_worker_the_flow_runs_and_the_operators_reach_the_server(plan):
    rules = {address: after for address, after in _server_changes(plan).items()
             if address.startswith("aws_vpc_security_group_")}  # fmt: skip
    config = _server_config(plan)
    found = {
        address: (_refs(config[address]["security_group_id"]), rule["ip_protocol"],
                  rule["from_port"], rule["to_port"],
                  rule.get("cidr_ipv4") or _refs(config[address]["referenced_security_group_id"]))
        for address, rule in rules.items()
    }  # fmt: skip
    alb, server, db = ({f"aws_security_group.{n}.id"} for n in ("alb", "server", "db"))
    assert found == {  # ingress and egress of each group; no operator CIDR by default
        "aws_vpc_security_group_ingress_rule.alb_from_clients": (alb, "tcp", 80, 80,
                                                                 {"var.client_security_group_id"}),
        "aws_vpc_security_group_egress_rule.alb_to_server": (alb, "tcp", 4200, 4200, server),
        "aws_vpc_security_group_ingress_rule.server_from_alb": (server, "tcp", 4200, 4200, alb),
        "aws_vpc_security_group_egress_rule.server_to_db": (server, "tcp", 5432, 5432, db),
        "aws_vpc_security_group_egress_rule.server_https": (server, "tcp", 443, 443, "0.0.0.0/0"),
        "aws_vpc_security_group_ingress_rule.db_from_server": (db, "tcp", 5432, 5432, server),
    }  # fmt: skip
    call = _server_call(plan)["expressions"]
    assert _refs(call["client_security_group_id"]) == {"module.network.task_security_group_id"}
    # The worker and the flow runs (task security group) may leave on 80 inside the VPC only.
    http = [r for r in _after(plan, "module.network.aws_security_group.tasks")["egress"]
            if r["from_port"] == 80]  # fmt: skip
    assert [(r["to_port"], r["protocol"], r["cidr_blocks"]) for r in http] == [
        (80, "tcp", ["10.42.0.0/16"])
    ]


def test_the_internal_alb_forwards_to_one_server_task_and_checks_api_health(plan):
    changes = _server_changes(plan)
    lb = changes["aws_lb.this"]
    assert (lb["name"], lb["internal"], lb["load_balancer_type"]) == (
        "forecast-prod-prefect", True, "application",
    )  # fmt: skip
    assert lb["drop_invalid_header_fields"] is True and lb["enable_deletion_protection"] is True
    group = changes["aws_lb_target_group.this"]
    assert (group["port"], group["protocol"], group["target_type"]) == (4200, "HTTP", "ip")
    (health,) = group["health_check"]
    assert (health["path"], health["matcher"], health["protocol"]) == ("/api/health", "200", "HTTP")
    listener = changes["aws_lb_listener.this"]
    assert (listener["port"], listener["protocol"], listener.get("certificate_arn")) == (
        80, "HTTP", None,
    )  # fmt: skip
    assert [a["type"] for a in listener["default_action"]] == ["forward"]
    service = changes["aws_ecs_service.server"]
    assert (service["desired_count"], service["launch_type"]) == (1, "FARGATE")
    # One task at a time: its background services keep state in memory.
    assert (service["deployment_minimum_healthy_percent"], service["deployment_maximum_percent"]) == (
        0, 100,
    )  # fmt: skip
    assert [(b["container_name"], b["container_port"]) for b in service["load_balancer"]] == [
        ("prefect-server", 4200)
    ]
    assert service["network_configuration"][0]["assign_public_ip"] is False
    task = changes["aws_ecs_task_definition.server"]
    assert (task["family"], task["cpu"], task["memory"], task["network_mode"]) == (
        "forecast-prod-prefect-server", "1024", "2048", "awsvpc",
    )  # fmt: skip
    alarm = changes["aws_cloudwatch_metric_alarm.unhealthy"]
    assert (alarm["namespace"], alarm["metric_name"], alarm["comparison_operator"],
            alarm["threshold"], alarm["treat_missing_data"]) == (
        "AWS/ApplicationELB", "HealthyHostCount", "LessThanThreshold", 1, "breaching",
    )  # fmt: skip


@pytest.fixture(scope="module")
def plan_https(stack, moto, request) -> dict:
    """A targeted plan with a certificate, its domain name and an operators' CIDR."""
    return _planned(
        stack, moto, request, "https", f"-var=prefect_server_certificate_arn={CERTIFICATE}",
        f"-var=prefect_server_domain_name={DOMAIN}", '-var=prefect_server_operator_cidrs=["10.8.0.0/16"]',
        f"-target={SERVER}.aws_lb_listener.this", "-target=module.network.aws_security_group.tasks",
        f"-target={SERVER}.aws_vpc_security_group_ingress_rule.alb_from_clients",
        f"-target={SERVER}.aws_vpc_security_group_ingress_rule.alb_from_operators",
    )  # fmt: skip


def test_with_a_certificate_the_alb_listens_on_https_for_its_domain_only(plan_https):
    changes = _server_changes(plan_https)
    listener = changes["aws_lb_listener.this"]
    assert (listener["port"], listener["protocol"], listener["certificate_arn"],
            listener["ssl_policy"]) == (443, "HTTPS", CERTIFICATE,
                                        "ELBSecurityPolicy-TLS13-1-2-2021-06")  # fmt: skip
    operators = changes['aws_vpc_security_group_ingress_rule.alb_from_operators["10.8.0.0/16"]']
    clients = changes["aws_vpc_security_group_ingress_rule.alb_from_clients"]
    assert [(r["from_port"], r["to_port"], r.get("cidr_ipv4")) for r in (clients, operators)] == [
        (443, 443, None), (443, 443, "10.8.0.0/16"),
    ]  # fmt: skip
    egress = _after(plan_https, "module.network.aws_security_group.tasks")["egress"]
    assert 80 not in {rule["from_port"] for rule in egress}  # 443 anywhere was open already
    outputs = plan_https["planned_values"]["outputs"]
    assert outputs["prefect_api_url"]["value"] == f"https://{DOMAIN}/api"


def test_a_certificate_without_its_domain_name_is_refused(stack, moto):
    result = stack.terraform(
        "plan", *_plan_args(moto.url, f"-var=prefect_server_certificate_arn={CERTIFICATE}",
                            f"-target={SERVER}.aws_lb_listener.this"),
        check=False,
    )  # fmt: skip
    errors = " ".join(result.stderr.split())
    assert result.returncode == 1 and "Resource precondition failed" in errors, errors
    assert "prefect_server_certificate_arn needs prefect_server_domain_name" in errors, errors


def test_outside_prod_the_database_and_alb_are_unprotected_and_no_final_snapshot_is_kept(
    stack, moto, request
):
    dev = _planned(stack, moto, request, "dev", "-var=environment=dev",
                   f"-target={SERVER}.aws_db_instance.this", f"-target={SERVER}.aws_lb.this")  # fmt: skip
    db, lb = _after(dev, f"{SERVER}.aws_db_instance.this"), _after(dev, f"{SERVER}.aws_lb.this")
    assert (db["identifier"], db["deletion_protection"], lb["enable_deletion_protection"]) == (
        "forecast-dev-prefect", False, False,
    )  # fmt: skip
    assert (db["skip_final_snapshot"], db.get("final_snapshot_identifier")) == (True, None)
