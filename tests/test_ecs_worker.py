"""The ECS worker's submission path against moto's ECS, with the production job variables.

The job configuration is built the way a Prefect worker builds it: the ECS work pool's default
base job template merged with the deployment's job variables by
`ECSJobConfiguration.from_template_and_values`, then `prepare_for_flow_run`. `ECSWorker.run`
then registers the task definition and calls RunTask against moto (in process, `mock_aws`).
What was registered and requested is read back from moto (DescribeTaskDefinition,
DescribeTasks, ListTaskDefinitions, and moto's record of the RunTask network configuration,
which DescribeTasks does not return); no boto call is mocked.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import anyio
import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_LOGGING_TO_API_ENABLED, temporary_settings
from prefect_aws.credentials import _get_client_cached
from prefect_aws.workers.ecs_worker import (
    _TASK_DEFINITION_CACHE,
    ECSJobConfiguration,
    ECSWorker,
    parse_identifier,
)

REGION = "eu-west-3"
CLUSTER = "forecast-prod"
FAMILY = "forecast-pipeline"
WORK_POOL = "forecast-ecs"
FLOW_RUN_COMMAND = ["prefect", "flow-run", "execute"]

# The deployment's job variables as the production prefect.yaml sets them. The network ids
# come from Terraform in production and from moto here: see `deployment_job_variables`.
JOB_VARIABLES: dict[str, Any] = {
    "image": "123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod:2026.11.24",
    "cpu": 1024,
    "memory": 4096,
    "cluster": CLUSTER,
    "task_role_arn": "arn:aws:iam::123456789012:role/forecast-prod-task",
    "execution_role_arn": "arn:aws:iam::123456789012:role/forecast-prod-execution",
    "family": FAMILY,
    "match_latest_revision_in_family": True,
    "configure_cloudwatch_logs": True,
    "cloudwatch_logs_options": {
        "awslogs-group": "forecast-prod-flows",
        "awslogs-region": "eu-west-3",
        "awslogs-stream-prefix": "flow",
    },
    "launch_type": "FARGATE",
}


@dataclass(frozen=True)
class Network:
    vpc_id: str
    subnet_id: str
    security_group_id: str


def deployment_job_variables(network: Network, **overrides: Any) -> dict[str, Any]:
    """JOB_VARIABLES plus the network settings, which need real (here: moto) ids."""
    return {
        **JOB_VARIABLES,
        "vpc_id": network.vpc_id,
        "network_configuration": {
            "subnets": [network.subnet_id],
            "securityGroups": [network.security_group_id],
            "assignPublicIp": "DISABLED",
        },
        **overrides,
    }


_MOTO_RESOURCE_REQUIREMENTS = EC2ContainerServiceBackend._calculate_task_resource_requirements


def _fargate_resource_requirements(task_definition: Any) -> dict[str, Any]:
    """moto sums container-level memory even for Fargate, where only the task sets it.

    A container without `memory` makes moto's RunTask fail with a TypeError (int + None).
    Count it as 0 on a copy, so the definition read back from moto stays as registered.
    """
    view = copy.copy(task_definition)
    view.container_definitions = [
        {"memory": 0, **container} for container in task_definition.container_definitions
    ]
    return _MOTO_RESOURCE_REQUIREMENTS(view)


class _NoPrefectApi:
    """Stands in for the PrefectClient `from_template_and_values` would otherwise create.

    Without one it starts a temporary Prefect server (about 10 s). The client is only used to
    resolve block and variable references, which these job variables must not contain.
    """

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the job variables needed the Prefect API ({name})")


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    """moto's AWS in eu-west-3: a VPC, a subnet, a security group and the cluster."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_ECS", "AWS_ENDPOINT_URL_EC2"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        EC2ContainerServiceBackend,
        "_calculate_task_resource_requirements",
        staticmethod(_fargate_resource_requirements),
    )
    # prefect-aws caches boto clients per credentials object, and the worker caches the task
    # definition ARN per deployment for the life of the process: neither may leak between tests.
    _get_client_cached.cache_clear()
    _TASK_DEFINITION_CACHE.clear()
    # The worker's flow-run logger would ship its warnings to the (absent) Prefect API.
    with temporary_settings({PREFECT_LOGGING_TO_API_ENABLED: False}), mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        # As in infra/terraform's network module. moto needs it too: without DNS hostnames its
        # network interfaces lack `private_dns_name` and RunTask in awsvpc mode fails on it.
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24")["Subnet"]
        group = ec2.create_security_group(
            GroupName="forecast-prod-flows", Description="flow tasks", VpcId=vpc_id
        )
        boto3.client("ecs", region_name=REGION).create_cluster(clusterName=CLUSTER)
        yield Network(vpc_id, subnet["SubnetId"], group["GroupId"])
    _get_client_cached.cache_clear()
    _TASK_DEFINITION_CACHE.clear()


@pytest.fixture
def ecs(network: Network):
    return boto3.client("ecs", region_name=REGION)


def make_flow_run(deployment_id: UUID | None = None) -> FlowRun:
    return FlowRun(flow_id=uuid4(), deployment_id=deployment_id or uuid4(), name="eager-otter")


def submit(values: dict[str, Any], flow_run: FlowRun) -> tuple[ECSJobConfiguration, str]:
    """Build the job configuration as a worker does and submit the flow run.

    Returns the configuration and the ARN of the ECS task the worker started.
    """

    async def main() -> tuple[ECSJobConfiguration, str]:
        configuration = await ECSJobConfiguration.from_template_and_values(
            base_job_template=ECSWorker.get_default_base_job_template(),
            values=values,
            client=_NoPrefectApi(),  # type: ignore[arg-type]
        )
        configuration.prepare_for_flow_run(flow_run, worker_name="forecast-ecs-worker")
        # Not entered as a context manager: that would start the ECS task observer and sync
        # with the Prefect API, neither of which the submission path needs.
        worker = ECSWorker(work_pool_name=WORK_POOL)
        result = await worker.run(flow_run, configuration)
        cluster, task_arn = parse_identifier(result.identifier)
        assert cluster == CLUSTER
        return configuration, task_arn

    return anyio.run(main)


def describe_task(ecs, task_arn: str) -> dict[str, Any]:
    return ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn], include=["TAGS"])["tasks"][0]


def run_task_network_configuration(task_arn: str) -> dict[str, Any]:
    """The networkConfiguration of the RunTask request, as moto recorded it on the task."""
    return ecs_backends[DEFAULT_ACCOUNT_ID][REGION].tasks[CLUSTER][task_arn].network_configuration


def family_revisions(ecs) -> list[str]:
    return ecs.list_task_definitions(familyPrefix=FAMILY)["taskDefinitionArns"]


def revision_arn(revision: int) -> str:
    return f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT_ID}:task-definition/{FAMILY}:{revision}"


def assert_no_secrets(environment: dict[str, str]) -> None:
    for name, value in environment.items():
        assert "mongodb://" not in value.lower(), name
        assert "password" not in value.lower(), name
        assert "password" not in name.lower(), name


def test_job_variables_render_a_valid_configuration_without_secrets(network: Network) -> None:
    flow_run = make_flow_run()

    async def build() -> ECSJobConfiguration:
        configuration = await ECSJobConfiguration.from_template_and_values(
            base_job_template=ECSWorker.get_default_base_job_template(),
            values=deployment_job_variables(network),
            client=_NoPrefectApi(),  # type: ignore[arg-type]
        )
        configuration.prepare_for_flow_run(flow_run)
        return configuration

    configuration = anyio.run(build)

    assert configuration.task_definition == {
        "containerDefinitions": [{"image": JOB_VARIABLES["image"]}],
        "cpu": 1024,
        "executionRoleArn": JOB_VARIABLES["execution_role_arn"],
        "family": FAMILY,
        "memory": 4096,
    }
    assert configuration.container_name is None  # the worker names the container "prefect"
    assert configuration.cluster == CLUSTER
    assert configuration.vpc_id == network.vpc_id
    assert configuration.match_latest_revision_in_family is True
    assert configuration.configure_cloudwatch_logs is True
    assert configuration.cloudwatch_logs_options == JOB_VARIABLES["cloudwatch_logs_options"]
    assert configuration.task_run_request["launchType"] == "FARGATE"
    assert (
        configuration.task_run_request["overrides"]["taskRoleArn"]
        == (JOB_VARIABLES["task_role_arn"])
    )
    assert configuration.command == " ".join(FLOW_RUN_COMMAND)
    assert configuration.env["PREFECT__FLOW_RUN_ID"] == str(flow_run.id)
    assert_no_secrets(configuration.env)


def test_worker_registers_task_definition_and_runs_task(network: Network, ecs) -> None:
    flow_run = make_flow_run()
    configuration, task_arn = submit(deployment_job_variables(network), flow_run)

    assert family_revisions(ecs) == [revision_arn(1)]
    task = describe_task(ecs, task_arn)
    assert task["taskDefinitionArn"] == revision_arn(1)
    taskdef = ecs.describe_task_definition(taskDefinition=revision_arn(1))["taskDefinition"]
    assert {key: taskdef.get(key) for key in ("family", "revision", "status")} == {
        "family": FAMILY,
        "revision": 1,
        "status": "ACTIVE",
    }
    assert taskdef["cpu"] == "1024"
    assert taskdef["memory"] == "4096"
    assert taskdef["requiresCompatibilities"] == ["FARGATE"]
    assert taskdef["networkMode"] == "awsvpc"
    assert taskdef["executionRoleArn"] == JOB_VARIABLES["execution_role_arn"]
    # The default template sends the task role with each RunTask (overrides.taskRoleArn,
    # asserted below); it is not part of the registered task definition.
    assert "taskRoleArn" not in taskdef
    [container] = taskdef["containerDefinitions"]
    assert container["name"] == "prefect"
    assert container["image"] == JOB_VARIABLES["image"]
    assert container["environment"] == []
    assert "secrets" not in container
    # prefect-aws adds awslogs-create-group: the execution role needs logs:CreateLogGroup.
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {"awslogs-create-group": "true", **JOB_VARIABLES["cloudwatch_logs_options"]},
    }

    assert task["clusterArn"] == f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT_ID}:cluster/{CLUSTER}"
    assert task["launchType"] == "FARGATE"
    assert run_task_network_configuration(task_arn) == {
        "awsvpcConfiguration": {
            "subnets": [network.subnet_id],
            "securityGroups": [network.security_group_id],
            "assignPublicIp": "DISABLED",
        }
    }
    [attachment] = task["attachments"]
    details = {item["name"]: item["value"] for item in attachment["details"]}
    assert details["subnetId"] == network.subnet_id
    [eni] = boto3.client("ec2", region_name=REGION).describe_network_interfaces(
        NetworkInterfaceIds=[details["networkInterfaceId"]]
    )["NetworkInterfaces"]
    assert [group["GroupId"] for group in eni["Groups"]] == [network.security_group_id]

    overrides = task["overrides"]
    assert overrides["taskRoleArn"] == JOB_VARIABLES["task_role_arn"]
    assert (overrides["cpu"], overrides["memory"]) == ("1024", "4096")
    [override] = overrides["containerOverrides"]
    assert override["name"] == "prefect"
    assert override["command"] == FLOW_RUN_COMMAND
    environment = {item["name"]: item["value"] for item in override["environment"]}
    assert environment == {k: v for k, v in configuration.env.items() if v is not None}
    assert environment["PREFECT__FLOW_RUN_ID"] == str(flow_run.id)
    assert environment["PREFECT__DEPLOYMENT_ID"] == str(flow_run.deployment_id)
    assert_no_secrets(environment)
    assert {"key": "prefect.io/flow-run-id", "value": str(flow_run.id)} in task["tags"]


def test_latest_revision_in_family_is_reused_until_the_definition_changes(
    network: Network, ecs
) -> None:
    values = deployment_job_variables(network)
    _, first = submit(values, make_flow_run())
    assert family_revisions(ecs) == [revision_arn(1)]

    # Another deployment (so the worker's per-deployment ARN cache cannot answer) with the
    # same definition: the latest revision in the family matches and is reused.
    _, second = submit(values, make_flow_run())
    assert family_revisions(ecs) == [revision_arn(1)]
    assert describe_task(ecs, second)["taskDefinitionArn"] == revision_arn(1)

    # A new image is a different definition: revision 2 is registered and used.
    new_image = "123456789012.dkr.ecr.eu-west-3.amazonaws.com/forecast-prod:2026.12.01"
    _, third = submit({**values, "image": new_image}, make_flow_run())
    assert family_revisions(ecs) == [revision_arn(1), revision_arn(2)]
    assert describe_task(ecs, third)["taskDefinitionArn"] == revision_arn(2)
    taskdef = ecs.describe_task_definition(taskDefinition=revision_arn(2))["taskDefinition"]
    assert taskdef["containerDefinitions"][0]["image"] == new_image
    assert describe_task(ecs, first)["taskDefinitionArn"] == revision_arn(1)


def test_without_match_latest_revision_each_deployment_registers_its_own(
    network: Network, ecs
) -> None:
    """Control for the test above: the reuse comes from match_latest_revision_in_family."""
    values = deployment_job_variables(network, match_latest_revision_in_family=False)
    submit(values, make_flow_run())
    _, second = submit(values, make_flow_run())
    assert family_revisions(ecs) == [revision_arn(1), revision_arn(2)]
    assert describe_task(ecs, second)["taskDefinitionArn"] == revision_arn(2)
