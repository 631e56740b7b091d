"""`terraform apply` of the whole stack against a moto server on loopback, what matters read back
from moto with boto3, then `terraform destroy`.

Run by `make infra-apply` (six to eight minutes here: moto makes the provider wait on S3
lifecycle, SQS attribute propagation and the RDS instance's modifications), not collected by
`make test`. The stack is applied with the defaults, so the self-hosted Prefect server
(modules/prefect_server) is in it. The two resources moto 5.2.5 cannot create are left out by
address through `moto_unsupported` (infra/moto/apply.tfvars, with the reasons);
tests/infra/test_terraform_plan.py checks their planned content instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import hcl2
import pytest
from botocore.exceptions import ClientError

from tests.infra.support import LAMBDA_ZIP, MOTO_DIR, REGION, MotoServer, report

ACCOUNT = "123456789012"  # moto's account
NAME = "forecast-prod"
ZONES = ("landing", "raw", "processed", "rejected", "reports")
APPLY_TFVARS = MOTO_DIR / "apply.tfvars"
WORKER_IMAGE = "123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod-flows:moto"
MOTO_UNSUPPORTED = {
    "module.worker.aws_sqs_queue_redrive_allow_policy.dlq[0]",
    "module.mongodb[0].aws_backup_selection.volumes[0]",
}
SERVER = f"{NAME}-prefect"  # the Prefect server's RDS instance, ALB, target group, secrets' prefix
OPERATORS = "192.168.10.0/24"  # prefect_server_operator_cidrs in apply.tfvars


@dataclass
class Applied:
    planned_in_full: set[str]
    planned_for_moto: set[str]
    apply_summary: str
    in_state: set[str]
    outputs: dict[str, Any]
    moto: MotoServer
    terraform: Any
    args: list[str]

    def client(self, service: str) -> Any:
        return self.moto.client(service)


def _addresses(plan: dict) -> set[str]:
    return {c["address"] for c in plan["resource_changes"] if c["mode"] == "managed"}


def _state_addresses(module: dict) -> set[str]:
    found = {r["address"] for r in module.get("resources", []) if r["mode"] == "managed"}
    for child in module.get("child_modules", []):
        found |= _state_addresses(child)
    return found


@pytest.fixture(scope="module")
def applied(stack, moto, request) -> Applied:
    terraform = stack.terraform
    args = ["-input=false", f"-var=moto_endpoint={moto.url}", f"-var-file={APPLY_TFVARS}"]
    # The same variables without the exclusions: what AWS would get.
    terraform("plan", *args, "-var=moto_unsupported=[]", "-out=full.tfplan")
    terraform("plan", *args, "-out=moto.tfplan")
    full, for_moto = terraform.show_json("full.tfplan"), terraform.show_json("moto.tfplan")
    result = terraform("apply", "-input=false", "-auto-approve", "moto.tfplan", timeout=1800)
    summary = re.search(r"^Apply complete! .*$", result.stdout, flags=re.MULTILINE)
    report(request, f"terraform apply (moto): {summary.group(0) if summary else 'no summary line'}")
    state = terraform.show_json()
    outputs = {k: v["value"] for k, v in json.loads(terraform("output", "-json").stdout).items()}
    return Applied(
        planned_in_full=_addresses(full), planned_for_moto=_addresses(for_moto),
        apply_summary=summary.group(0) if summary else result.stdout[-2000:],
        in_state=_state_addresses(state["values"]["root_module"]), outputs=outputs, moto=moto,
        terraform=terraform, args=args,
    )  # fmt: skip


def _plan_args_for(moto_url: str, *extra: str) -> list[str]:
    return ["-input=false", f"-var=moto_endpoint={moto_url}", *extra]


def test_plan_refuses_a_missing_lambda_zip_and_undocumented_moto_exclusions(stack, moto):
    """Two refusals in one targeted plan (here rather than in `make test`: each plan costs
    seconds): the zip built outside Terraform is missing, and moto_unsupported names a resource
    outside the documented two."""
    tfvars = hcl2.loads((MOTO_DIR / "apply.tfvars").read_text())
    assert {address.strip('"') for address in tfvars["moto_unsupported"]} == {
        a.removesuffix("[0]") for a in MOTO_UNSUPPORTED
    }
    built = stack.terraform.dir / LAMBDA_ZIP
    aside = built.with_suffix(".aside")
    built.rename(aside)
    try:
        result = stack.terraform(
            "plan", *_plan_args_for(moto.url, '-var=moto_unsupported=["module.network.aws_vpc.this[0]"]',
                                "-target=module.monitoring.aws_lambda_function.last_success",
                                "-target=module.worker.aws_sqs_queue_redrive_allow_policy.dlq"),
            check=False,
        )  # fmt: skip
    finally:
        aside.rename(built)
    errors = " ".join(result.stderr.split())
    assert result.returncode == 1
    assert "Resource precondition failed" in errors and "run `make lambda-zip`" in errors, errors
    assert "moto_unsupported lists only" in errors, errors


def _statements(document: dict) -> dict[str, dict]:
    def listed(value: Any) -> list:
        return value if isinstance(value, list) else [value]

    return {
        s["Sid"]: {**s, "Action": sorted(listed(s["Action"])), "Resource": sorted(listed(s["Resource"]))}
        for s in document["Statement"]
    }  # fmt: skip


def _role_policy(applied: Applied, role: str, policy: str) -> dict[str, dict]:
    document = applied.client("iam").get_role_policy(RoleName=role, PolicyName=policy)
    return _statements(document["PolicyDocument"])


def _key_arn(applied: Applied, alias: str) -> str:
    return applied.client("kms").describe_key(KeyId=f"alias/{alias}")["KeyMetadata"]["Arn"]


def _queue(applied: Applied, name: str) -> dict[str, str]:
    sqs = applied.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _secret_arns(applied: Applied) -> list[str]:
    return sorted(
        applied.outputs[name] for name in ("mongo_uri_secret_arn", "infoclimat_token_secret_arn")
    )


def _secret_arn(applied: Applied, name: str) -> str:
    return applied.client("secretsmanager").describe_secret(SecretId=f"{NAME}/{name}")["ARN"]


def test_apply_creates_every_planned_resource_but_the_two_moto_cannot(applied):
    # 180 with the defaults, plus the operators' rule of apply.tfvars
    assert applied.apply_summary == "Apply complete! Resources: 179 added, 0 changed, 0 destroyed."
    assert len(applied.planned_in_full) == 181
    assert applied.planned_in_full - applied.planned_for_moto == MOTO_UNSUPPORTED
    assert applied.planned_for_moto <= applied.planned_in_full
    assert applied.in_state == applied.planned_for_moto


def test_zone_buckets_are_kms_encrypted_versioned_private_and_tls_only(applied):
    s3 = applied.client("s3")
    buckets = {zone: f"{NAME}-{zone}-{ACCOUNT}" for zone in ZONES}
    logs = f"{NAME}-s3-access-logs-{ACCOUNT}"
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {*buckets.values(), logs}
    assert applied.outputs["bucket_names"] == buckets
    data_key = _key_arn(applied, f"{NAME}-data")
    for zone, bucket in buckets.items():
        (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ]
        assert rule["ApplyServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": data_key,
        }, zone  # fmt: skip
        assert rule["BucketKeyEnabled"] is True
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert set(
            s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values()
        ) == {True}
        (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
        assert (deny["Sid"], deny["Effect"], deny["Condition"]) == (
            "DenyInsecureTransport", "Deny", {"Bool": {"aws:SecureTransport": "false"}},
        )  # fmt: skip
        logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        assert (logging["TargetBucket"], logging["TargetPrefix"]) == (logs, f"{zone}/")
    landing_rules = s3.get_bucket_lifecycle_configuration(Bucket=buckets["landing"])["Rules"]
    assert landing_rules[0]["Expiration"] == {"Days": 30}
    (raw_rule,) = s3.get_bucket_lifecycle_configuration(Bucket=buckets["raw"])["Rules"]
    assert "Expiration" not in raw_rule  # raw keeps every input
    assert raw_rule["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER_IR"}]
    # The access-log bucket: SSE-S3 (log delivery cannot use SSE-KMS), versioned, private.
    (rule,) = s3.get_bucket_encryption(Bucket=logs)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_bucket_versioning(Bucket=logs)["Status"] == "Enabled"
    assert set(
        s3.get_public_access_block(Bucket=logs)["PublicAccessBlockConfiguration"].values()
    ) == {True}


def test_the_flow_task_role_reads_landing_writes_the_lake_and_reads_two_secrets(applied):
    statements = _role_policy(applied, f"{NAME}-flow-task", "flow-run")
    bucket = {zone: f"arn:aws:s3:::{NAME}-{zone}-{ACCOUNT}" for zone in ZONES}
    assert statements["ReadLanding"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadLanding"]["Resource"] == [f"{bucket['landing']}/*"]
    assert statements["ReadWriteLakeZones"]["Resource"] == sorted(
        f"{bucket[z]}/*" for z in ("raw", "processed", "rejected", "reports")
    )
    assert "s3:DeleteObject" not in statements["ReadWriteLakeZones"]["Action"]
    assert statements["DeleteDerivedZones"]["Resource"] == sorted(
        f"{bucket[z]}/*" for z in ("processed", "rejected", "reports")
    )  # never raw (every input kept once) nor landing
    assert statements["ReadPipelineSecrets"] == {
        "Sid": "ReadPipelineSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
        "Resource": _secret_arns(applied),
    }  # fmt: skip
    assert statements["WriteFlowLogs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{NAME}/flows:*"
    ]
    for statement in statements.values():
        assert statement["Effect"] == "Allow" and "*" not in statement["Resource"], statement
        assert not any(action.endswith(":*") for action in statement["Action"]), statement


def test_the_worker_role_runs_only_forecast_tasks_on_the_cluster_and_passes_only_the_flow_roles(
    applied,
):
    statements = _role_policy(applied, f"{NAME}-prefect-worker", "prefect-ecs-worker")
    cluster_arn = applied.outputs["ecs_cluster_arn"]
    run = statements["RunFlowTasksOnCluster"]
    assert run["Action"] == ["ecs:RunTask"]
    assert run["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/forecast-*"]
    assert run["Condition"] == {"ArnEquals": {"ecs:cluster": cluster_arn}}
    assert statements["PassFlowRoles"]["Resource"] == sorted(
        [applied.outputs["task_role_arn"], applied.outputs["execution_role_arn"]]
    )
    assert statements["PassFlowRoles"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    # The queue ARN IAM was given (computed from the name) is the queue Terraform created.
    events_arn = _queue(applied, f"{NAME}-ecs-task-events")["QueueArn"]
    assert statements["ConsumeTaskEvents"]["Resource"] == [events_arn]
    execution = _role_policy(applied, f"{NAME}-task-execution", "task-execution")
    repository = applied.client("ecr").describe_repositories(repositoryNames=[NAME])[
        "repositories"
    ][0]
    assert execution["EcrPull"]["Resource"] == [repository["repositoryArn"]]
    # the flow runs' and the worker's PREFECT_API_AUTH_STRING (prefect.yaml's job variable)
    auth = applied.outputs["prefect_api_auth_string_secret_arn"]
    assert auth == _secret_arn(applied, "prefect-api-auth-string")
    assert execution["InjectSecrets"]["Resource"] == sorted([*_secret_arns(applied), auth])


def test_the_aws_managed_policies_are_attached(applied):
    iam = applied.client("iam")
    attached = {
        role: [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
        for role in (f"{NAME}-last-success-check", f"{NAME}-mongodb-ebs", f"{NAME}-mongodb-backup")
    }  # fmt: skip
    assert attached == {
        f"{NAME}-last-success-check": ["arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"],
        f"{NAME}-mongodb-ebs": ["arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes"],
        f"{NAME}-mongodb-backup": ["arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"],
    }  # fmt: skip


def test_the_cluster_runs_one_worker_service_polling_the_work_pool(applied):
    ecs = applied.client("ecs")
    cluster_name = applied.outputs["ecs_cluster_name"]
    (cluster,) = ecs.describe_clusters(clusters=[cluster_name], include=["SETTINGS"])["clusters"]
    assert (
        cluster["status"] == "ACTIVE"
        and cluster["clusterArn"] == applied.outputs["ecs_cluster_arn"]
    )
    assert {"name": "containerInsights", "value": "enabled"} in cluster["settings"]
    (service,) = ecs.describe_services(cluster=cluster_name, services=[f"{NAME}-prefect-worker"])[
        "services"
    ]
    assert (service["desiredCount"], service["launchType"]) == (1, "FARGATE")
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert sorted(network["subnets"]) == sorted(applied.outputs["subnet_ids"])  # a set for AWS
    assert network["securityGroups"] == [applied.outputs["security_group_id"]]
    assert network["assignPublicIp"] == "DISABLED"
    # (moto keeps no deploymentConfiguration: the single-poller 0/100 % bounds are not read back)

    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    worker_role = applied.client("iam").get_role(RoleName=f"{NAME}-prefect-worker")["Role"]["Arn"]
    assert (task["family"], task["cpu"], task["memory"], task["networkMode"]) == (
        f"{NAME}-prefect-worker", "512", "1024", "awsvpc",
    )  # fmt: skip
    assert task["requiresCompatibilities"] == ["FARGATE"]
    assert (task["taskRoleArn"], task["executionRoleArn"]) == (
        worker_role,
        applied.outputs["execution_role_arn"],
    )
    (container,) = task["containerDefinitions"]
    assert container["image"] == WORKER_IMAGE
    assert container["command"] == [
        "prefect",
        "worker",
        "start",
        "--pool",
        "forecast-ecs",
        "--type",
        "ecs",
    ]
    assert container["readonlyRootFilesystem"] is True
    environment = {item["name"]: item["value"] for item in container["environment"]}
    # the stack's own Prefect server, through its ALB
    (alb,) = applied.client("elbv2").describe_load_balancers(Names=[SERVER])["LoadBalancers"]
    assert applied.outputs["prefect_api_url"] == f"http://{alb['DNSName']}/api"
    assert environment == {
        "PREFECT_API_URL": applied.outputs["prefect_api_url"], "PREFECT_HOME": "/tmp/prefect",
        "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME": f"{NAME}-ecs-task-events",
        "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
    }  # fmt: skip
    assert container["secrets"] == [
        {"name": "PREFECT_API_AUTH_STRING", "valueFrom": applied.outputs["prefect_api_auth_string_secret_arn"]}
    ]  # fmt: skip
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{NAME}/worker"


def test_task_state_events_reach_the_worker_queue_whose_failures_go_to_the_dlq(applied):
    events_queue, dlq = (
        _queue(applied, f"{NAME}-ecs-task-events"),
        _queue(applied, f"{NAME}-ecs-task-events-dlq"),
    )
    platform_key = _key_arn(applied, f"{NAME}-platform")
    assert json.loads(events_queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert (events_queue["KmsMasterKeyId"], dlq["KmsMasterKeyId"]) == (platform_key, platform_key)
    assert (events_queue["MessageRetentionPeriod"], dlq["MessageRetentionPeriod"]) == (
        "86400",
        "1209600",
    )

    events = applied.client("events")
    rule = events.describe_rule(Name=f"{NAME}-ecs-task-state")
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [applied.outputs["ecs_cluster_arn"]]},
    }  # fmt: skip
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [
        ("prefect-worker-queue", events_queue["QueueArn"])
    ]
    (allow,) = json.loads(events_queue["Policy"])["Statement"]
    assert (allow["Effect"], allow["Action"], allow["Principal"]) == (
        "Allow", "sqs:SendMessage", {"Service": "events.amazonaws.com"},
    )  # fmt: skip
    assert allow["Resource"] == events_queue["QueueArn"]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}


def test_secrets_exist_encrypted_with_the_platform_key_and_without_a_value(applied):
    secrets = applied.client("secretsmanager")
    platform_key = _key_arn(applied, f"{NAME}-platform")
    names = {}
    for output in ("mongo_uri_secret_arn", "infoclimat_token_secret_arn"):
        secret = secrets.describe_secret(SecretId=applied.outputs[output])
        names[output] = secret["Name"]
        assert secret["KmsKeyId"] == platform_key
        # Values are set out of band (docs/deploy.md), never by Terraform or in its state.
        assert not secret.get("VersionIdsToStages"), secret
    assert names == {
        "mongo_uri_secret_arn": f"{NAME}/mongodb-uri", "infoclimat_token_secret_arn": f"{NAME}/infoclimat-token",
    }  # fmt: skip
    listed = {s["Name"] for s in secrets.list_secrets()["SecretList"]}
    assert listed == {f"{NAME}/mongodb-uri", f"{NAME}/infoclimat-token", f"{NAME}/mongodb-keyfile",
                      f"{NAME}/prefect-db-password", f"{NAME}/prefect-api-auth-string"}  # fmt: skip


def test_the_alarms_watch_the_emf_metrics_and_the_check_sums_run_succeeded(applied):
    zip_path = applied.terraform.dir / LAMBDA_ZIP
    digest = base64.b64encode(hashlib.sha256(zip_path.read_bytes()).digest()).decode()
    function = applied.client("lambda").get_function(FunctionName=f"{NAME}-last-success-check")[
        "Configuration"
    ]
    assert (function["CodeSha256"], function["Handler"], function["Runtime"]) == (
        digest, "last_success.handler", "python3.12",
    )  # fmt: skip
    assert function["Environment"]["Variables"] == {
        "LOOKBACK_DAYS": "8", "METRIC_NAMESPACE": "Forecast/Pipeline", "ENVIRONMENT": "prod",
        "SOURCE_METRIC": "RunSucceeded", "METRIC_NAME": "SuccessfulRunsLookback",
    }  # fmt: skip
    policy = applied.client("iam").get_role_policy(
        RoleName=f"{NAME}-last-success-check", PolicyName="last-success-check"
    )["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    actions = {s["Sid"]: s["Action"] for s in policy["Statement"]}
    assert actions["ReadRunMetric"] == "cloudwatch:GetMetricData"
    assert "logs:FilterLogEvents" not in json.dumps(policy)  # it no longer reads log text
    alarms = {
        a["AlarmName"]: a for a in applied.client("cloudwatch").describe_alarms()["MetricAlarms"]
    }
    topic = applied.outputs["sns_topic_arn"]
    prod = [{"Name": "Environment", "Value": "prod"}]
    expected = {  # name: (metric, statistic, operator, threshold, dimensions)
        f"{NAME}-flow-run-failed": ("RunSucceeded", "Minimum", "LessThanThreshold", 1.0, prod),
        f"{NAME}-rejection-rate-high": ("RejectionRate", "Maximum", "GreaterThanThreshold", 5.0, prod),
        f"{NAME}-no-successful-run-8d": ("SuccessfulRunsLookback", "Minimum", "LessThanThreshold",
                                         1.0, prod),
    } | {
        f"{NAME}-latency-p95-{query.replace('_', '-')}": (
            "QueryLatencyP95", "Maximum", "GreaterThanThreshold", 500.0,
            [*prod, {"Name": "Query", "Value": query}])
        for query in ("station_day", "network_week", "near_point", "daily_means_month",
                      "count_station")
    }  # fmt: skip
    assert set(alarms) == set(expected) | {
        f"{NAME}-worker-dlq-not-empty",
        f"{SERVER}-no-healthy-server",
    }
    for name, (metric, statistic, operator, threshold, dimensions) in expected.items():
        alarm = alarms[name]
        assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"],
                alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Forecast/Pipeline", metric, statistic, operator, threshold), name  # fmt: skip
        assert sorted(alarm["Dimensions"], key=lambda d: d["Name"]) == dimensions, name
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], name
    no_success = alarms[f"{NAME}-no-successful-run-8d"]
    assert (no_success["TreatMissingData"], no_success["Period"],
            no_success["EvaluationPeriods"]) == ("breaching", 3600, 2)  # fmt: skip
    assert alarms[f"{NAME}-worker-dlq-not-empty"]["AlarmActions"] == [topic]
    assert not applied.client("logs").describe_metric_filters()["metricFilters"]
    hourly = applied.client("events").list_targets_by_rule(Rule=f"{NAME}-last-success-check")[
        "Targets"
    ]
    assert [t["Arn"] for t in hourly] == [function["FunctionArn"]]


# --- the self-hosted Prefect server (modules/prefect_server) --------------------------------------


def _security_groups(applied: Applied) -> dict[str, str]:
    groups = applied.client("ec2").describe_security_groups()["SecurityGroups"]
    return {g["GroupName"]: g["GroupId"] for g in groups}


def _rules(applied: Applied, group_id: str) -> set[tuple]:
    """(direction, protocol, from, to, CIDR or referenced group) of one security group."""
    rules = applied.client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [group_id]}]
    )["SecurityGroupRules"]
    return {
        ("egress" if r["IsEgress"] else "ingress", r["IpProtocol"], r["FromPort"], r["ToPort"],
         r.get("CidrIpv4") or r["ReferencedGroupInfo"]["GroupId"])
        for r in rules
    }  # fmt: skip


def test_the_prefect_database_is_private_encrypted_backed_up_and_protected(applied):
    rds = applied.client("rds")
    (db,) = rds.describe_db_instances(DBInstanceIdentifier=SERVER)["DBInstances"]
    assert (db["Engine"], db["EngineVersion"], db["DBInstanceClass"], db["DBName"],
            db["MasterUsername"]) == ("postgres", "16", "db.t4g.small", "prefect", "prefect")  # fmt: skip
    assert db["StorageEncrypted"] is True
    assert db["KmsKeyId"] == _key_arn(applied, f"{NAME}-platform")
    assert (db["PubliclyAccessible"], db["MultiAZ"], db["DeletionProtection"]) == (
        False,
        False,
        True,
    )
    assert (db["BackupRetentionPeriod"], db["PreferredBackupWindow"]) == (7, "02:00-02:30")
    assert db["EnabledCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [
        _security_groups(applied)[f"{SERVER}-db"]
    ]
    (group,) = rds.describe_db_subnet_groups(DBSubnetGroupName=SERVER)["DBSubnetGroups"]
    assert db["DBSubnetGroup"]["DBSubnetGroupName"] == SERVER
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(
        applied.outputs["subnet_ids"]
    )  # the private subnets
    assert group["VpcId"] == applied.outputs["vpc_id"]
    parameters = rds.describe_db_parameters(DBParameterGroupName=SERVER)["Parameters"]
    assert {p["ParameterName"]: p["ParameterValue"] for p in parameters} == {
        "rds.force_ssl": "1", "log_statement": "ddl", "log_min_duration_statement": "1000",
    }  # fmt: skip
    logs = applied.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/rds/instance/{SERVER}/"
    )
    assert {(g["logGroupName"].rsplit("/", 1)[1], g["retentionInDays"], g["kmsKeyId"])
            for g in logs["logGroups"]} == {
        (export, 90, _key_arn(applied, f"{NAME}-platform")) for export in ("postgresql", "upgrade")
    }  # fmt: skip
    # Deletion protection is enforced (moto refuses like RDS does)
    with pytest.raises(ClientError, match="Cannot delete protected DB Instance"):
        rds.delete_db_instance(DBInstanceIdentifier=SERVER, SkipFinalSnapshot=True)


def test_the_generated_secrets_hold_values_that_are_in_neither_the_state_nor_the_plans(applied):
    secrets = applied.client("secretsmanager")
    platform_key = _key_arn(applied, f"{NAME}-platform")
    values = {}
    for name in ("prefect-db-password", "prefect-api-auth-string"):
        assert secrets.describe_secret(SecretId=f"{NAME}/{name}")["KmsKeyId"] == platform_key
        values[name] = secrets.get_secret_value(SecretId=f"{NAME}/{name}")["SecretString"]
    password, auth = values["prefect-db-password"], values["prefect-api-auth-string"]
    assert re.fullmatch(r"[A-Za-z0-9]{40}", password), "40 letters and digits"
    user, _, auth_password = auth.partition(":")
    assert user == "admin" and re.fullmatch(r"[A-Za-z0-9]{40}", auth_password)
    assert auth_password != password  # two generated values
    terraform = applied.terraform
    kept = [(terraform.dir / "terraform.tfstate").read_text(), json.dumps(terraform.show_json())]
    kept += [json.dumps(terraform.show_json(plan)) for plan in ("full.tfplan", "moto.tfplan")]
    for text in kept:
        assert password not in text and auth_password not in text


def test_the_internal_alb_forwards_to_the_server_and_checks_its_health(applied):
    elbv2 = applied.client("elbv2")
    (alb,) = elbv2.describe_load_balancers(Names=[SERVER])["LoadBalancers"]
    groups = _security_groups(applied)
    assert (alb["Scheme"], alb["Type"], alb["VpcId"]) == (
        "internal",
        "application",
        applied.outputs["vpc_id"],
    )
    assert alb["SecurityGroups"] == [groups[f"{SERVER}-alb"]]
    assert sorted(z["SubnetId"] for z in alb["AvailabilityZones"]) == sorted(
        applied.outputs["subnet_ids"]
    )
    assert applied.outputs["prefect_server_alb_dns_name"] == alb["DNSName"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elbv2.describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])[
            "Attributes"
        ]
    }
    assert (attributes["deletion_protection.enabled"],
            attributes["routing.http.drop_invalid_header_fields.enabled"],
            attributes["idle_timeout.timeout_seconds"]) == ("true", "true", "60")  # fmt: skip
    (group,) = elbv2.describe_target_groups(Names=[SERVER])["TargetGroups"]
    assert (group["Protocol"], group["Port"], group["TargetType"], group["VpcId"]) == (
        "HTTP",
        4200,
        "ip",
        applied.outputs["vpc_id"],
    )
    assert (group["HealthCheckPath"], group["Matcher"], group["HealthCheckIntervalSeconds"]) == (
        "/api/health",
        {"HttpCode": "200"},
        15,
    )
    assert group["LoadBalancerArns"] == [alb["LoadBalancerArn"]]
    (listener,) = elbv2.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")  # no certificate given
    assert [(a["Type"], a["TargetGroupArn"]) for a in listener["DefaultActions"]] == [
        ("forward", group["TargetGroupArn"])
    ]
    alarm = applied.client("cloudwatch").describe_alarms(AlarmNames=[f"{SERVER}-no-healthy-server"])
    (alarm,) = alarm["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == (
        "AWS/ApplicationELB",
        "HealthyHostCount",
        1.0,
    )
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        "LoadBalancer": alb["LoadBalancerArn"].split(":loadbalancer/")[1],
        "TargetGroup": group["TargetGroupArn"].split(":")[-1],
    }
    assert alarm["AlarmActions"] == [applied.outputs["sns_topic_arn"]]


def test_only_the_tasks_and_the_operators_reach_the_alb_only_the_alb_the_server_and_only_the_server_the_database(
    applied,
):
    groups = _security_groups(applied)
    tasks, alb, server, db = (
        groups[n] for n in (f"{NAME}-tasks", f"{SERVER}-alb", f"{SERVER}-server", f"{SERVER}-db")
    )
    assert _rules(applied, alb) == {
        ("ingress", "tcp", 80, 80, tasks),
        ("ingress", "tcp", 80, 80, OPERATORS),
        ("egress", "tcp", 4200, 4200, server),
    }
    assert _rules(applied, server) == {
        ("ingress", "tcp", 4200, 4200, alb),
        ("egress", "tcp", 5432, 5432, db),
        ("egress", "tcp", 443, 443, "0.0.0.0/0"),
    }
    assert _rules(applied, db) == {("ingress", "tcp", 5432, 5432, server)}  # and no egress
    # The worker and the flow runs reach the ALB over HTTP inside the VPC.
    assert ("egress", "tcp", 80, 80, "10.42.0.0/16") in _rules(applied, tasks)
    assert applied.outputs["security_group_id"] == tasks


def test_one_server_task_runs_prefect_server_start_with_its_database_and_auth_from_secrets_manager(
    applied,
):
    ecs = applied.client("ecs")
    (service,) = ecs.describe_services(
        cluster=applied.outputs["ecs_cluster_name"], services=[f"{NAME}-prefect-server"]
    )["services"]
    (group,) = applied.client("elbv2").describe_target_groups(Names=[SERVER])["TargetGroups"]
    assert (service["desiredCount"], service["launchType"]) == (1, "FARGATE")
    assert service["loadBalancers"] == [
        {
            "targetGroupArn": group["TargetGroupArn"],
            "containerName": "prefect-server",
            "containerPort": 4200,
        }
    ]
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["securityGroups"] == [_security_groups(applied)[f"{SERVER}-server"]]
    assert sorted(network["subnets"]) == sorted(applied.outputs["subnet_ids"])
    assert network["assignPublicIp"] == "DISABLED"

    task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    execution_role = applied.client("iam").get_role(RoleName=f"{SERVER}-execution")["Role"]["Arn"]
    assert (task["family"], task["cpu"], task["memory"], task["executionRoleArn"]) == (
        f"{NAME}-prefect-server",
        "1024",
        "2048",
        execution_role,
    )
    assert "taskRoleArn" not in task  # the server calls no AWS API
    (container,) = task["containerDefinitions"]
    assert container["image"] == "prefecthq/prefect:3.8.8-python3.11"
    assert container["command"] == ["prefect", "server", "start"]
    assert container["portMappings"] == [{"containerPort": 4200, "protocol": "tcp"}]
    assert container["readonlyRootFilesystem"] is True
    (db,) = applied.client("rds").describe_db_instances(DBInstanceIdentifier=SERVER)["DBInstances"]
    assert {e["name"]: e["value"] for e in container["environment"]} == {
        "PREFECT_SERVER_API_HOST": "0.0.0.0", "PREFECT_SERVER_API_PORT": "4200",
        "PREFECT_SERVER_API_KEEPALIVE_TIMEOUT": "75",
        "PREFECT_UI_API_URL": applied.outputs["prefect_api_url"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "INFO",
        "PREFECT_SERVER_DATABASE_DRIVER": "postgresql+asyncpg",
        "PREFECT_SERVER_DATABASE_HOST": db["Endpoint"]["Address"], "PREFECT_SERVER_DATABASE_PORT": "5432",
        "PREFECT_SERVER_DATABASE_USER": "prefect", "PREFECT_SERVER_DATABASE_NAME": "prefect",
        "PREFECT_HOME": "/tmp/prefect", "PREFECT_UI_STATIC_DIRECTORY": "/tmp/prefect-ui",
    }  # no password, no auth string, no connection URL  # fmt: skip
    password_arn, auth_arn = (
        _secret_arn(applied, n) for n in ("prefect-db-password", "prefect-api-auth-string")
    )
    assert container["secrets"] == [
        {"name": "PREFECT_SERVER_DATABASE_PASSWORD", "valueFrom": password_arn},
        {"name": "PREFECT_SERVER_API_AUTH_STRING", "valueFrom": auth_arn},
    ]
    health = container["healthCheck"]
    assert (
        health["command"][:3] == ["CMD", "python", "-c"] and "/api/health" in health["command"][3]
    )
    assert (health["startPeriod"], health["retries"]) == (120, 3)
    assert (
        container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{NAME}/prefect-server"
    )
    statements = _role_policy(applied, f"{SERVER}-execution", "prefect-server-execution")
    assert statements["InjectSecrets"]["Resource"] == sorted([password_arn, auth_arn])
    assert statements["WriteLogs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/ecs/{NAME}/prefect-server:*"
    ]
    assert statements["DecryptSecrets"]["Resource"] == [_key_arn(applied, f"{NAME}-platform")]


def test_destroy_removes_what_apply_created(applied):
    """Last in this module: the stack is gone from moto afterwards.

    As an operator would in prod: first turn the Prefect database's and ALB's deletion
    protection off (`prefect_server_deletion_protection=false`, a targeted apply), since
    DeleteDBInstance refuses a protected instance (moto too, see the database's test).

    moto delivers S3 server access logs like S3 does (every request to a zone bucket, the
    destroy's own included), and Terraform does not delete a bucket holding objects (no
    force_destroy, on purpose for an audit bucket). So, as an operator would: stop the access
    logging, empty the log bucket, then destroy the rest. The log bucket's policy goes with the
    logging: moto evaluates its DenyInsecureTransport statement without the aws:SecureTransport
    condition (moto checks only StringEquals conditions) and refuses every object call on the
    bucket whatever the transport, so the bucket could not be emptied under it.
    """
    unprotected = [*applied.args, "-var=prefect_server_deletion_protection=false"]
    unprotect = applied.terraform(
        "apply", "-auto-approve", *unprotected, "-target=module.prefect_server[0].aws_db_instance.this",
        "-target=module.prefect_server[0].aws_lb.this", timeout=1200,
    )  # fmt: skip
    assert "Apply complete!" in unprotect.stdout and "0 added" in unprotect.stdout
    (db,) = applied.client("rds").describe_db_instances(DBInstanceIdentifier=SERVER)["DBInstances"]
    elbv2 = applied.client("elbv2")
    (alb,) = elbv2.describe_load_balancers(Names=[SERVER])["LoadBalancers"]
    attributes = elbv2.describe_load_balancer_attributes(LoadBalancerArn=alb["LoadBalancerArn"])
    protected = {a["Key"]: a["Value"] for a in attributes["Attributes"]}[
        "deletion_protection.enabled"
    ]
    assert (db["DeletionProtection"], protected) == (False, "false")

    first = applied.terraform(
        "destroy", "-auto-approve", *unprotected,
        "-target=module.storage.aws_s3_bucket_logging.zone",
        "-target=module.storage.aws_s3_bucket_policy.logs",
    )  # fmt: skip
    assert "Destroy complete! Resources: 6 destroyed." in first.stdout, first.stdout[-3000:]
    s3, logs = applied.client("s3"), f"{NAME}-s3-access-logs-{ACCOUNT}"
    delivered = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=logs):
        delivered += [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
    assert delivered and {entry["Key"].split("/")[0] for entry in delivered} <= set(ZONES)
    for entry in delivered:
        s3.delete_object(Bucket=logs, Key=entry["Key"], VersionId=entry["VersionId"])

    rest = applied.terraform("destroy", "-auto-approve", *unprotected, timeout=1800)
    assert "Destroy complete! Resources: 173 destroyed." in rest.stdout, rest.stdout[-3000:]
    assert "values" not in applied.terraform.show_json()  # the state is empty
    assert s3.list_buckets()["Buckets"] == []
    roles = applied.client("iam").list_roles()["Roles"]
    assert [r["RoleName"] for r in roles if r["RoleName"].startswith(NAME)] == []
    assert applied.client("sqs").list_queues().get("QueueUrls", []) == []
    cluster = applied.outputs["ecs_cluster_name"]
    described = applied.client("ecs").describe_clusters(clusters=[cluster])["clusters"]
    assert [c["status"] for c in described] in ([], ["INACTIVE"])
    kms = applied.client("kms")
    states = {kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
              for k in kms.list_keys()["Keys"]}  # fmt: skip
    assert states == {"PendingDeletion"}  # the 30-day deletion window, as on AWS
    # prod: the Prefect database leaves a final snapshot, encrypted with the platform key
    rds = applied.client("rds")
    assert rds.describe_db_instances()["DBInstances"] == []
    (snapshot,) = rds.describe_db_snapshots()["DBSnapshots"]
    assert (snapshot["DBSnapshotIdentifier"], snapshot["DBInstanceIdentifier"], snapshot["Encrypted"]) == (
        f"{SERVER}-final", SERVER, True,
    )  # fmt: skip
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
