"""The flow-run image, run the way the ECS worker runs it, against a local stack.

`make image-test` (after `make image`): a Prefect server, a SecantusDB with SCRAM auth and a moto
server, all on 127.0.0.1, started and stopped here. Then, as in production:

- the `forecast-ecs` work pool and `prefect deploy --name weekly` from prefect.yaml (the build
  step deploys the local image: FORECAST_IMAGE), with the Terraform outputs the deploy test uses;
- the production blocks made by `blocks.production.save_production_blocks` from those outputs:
  `s3-bucket` blocks on the zone buckets (here on moto) and the MongoDB URI read from Secrets
  Manager (here moto's), a URI whose password is a sentinel;
- a flow run of `weekly` whose parameters are the deployment's own except the window: the demo
  inputs are dated 2024-10-14/15 (local time in Europe, so from 2024-10-13 22:00 UTC), so
  `last_days: 7` becomes `start: 2024-10-13, end: 2024-10-15`;
- the job configuration built by prefect-aws's ECSJobConfiguration from the pool's template and
  the deployment's job variables (what the worker sends to RunTask), and the container started
  with that command and environment, `--network=host`, plus the AWS endpoint and dummy keys.

The run must complete, load the 1,619 demo observations into MongoDB, and the sentinel must
appear nowhere: image env and history, container env and logs, the run's logs in Prefect.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import pytest
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect_aws.workers.ecs_worker import ECSJobConfiguration

from blocks.production import Outputs, save_production_blocks
from forecast.samples import write_demo_landing
from tests.infra.support import MotoServer, moto_server, report, require_tool, run
from tests.s3_support import AIRBYTE_FOLDERS, AIRBYTE_PREFIX
from tests.support import DEMO_COUNTS, PrefectServer, SecantusServer, free_port
from tests.test_prefect_deploy import TERRAFORM_OUTPUTS

ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("FORECAST_TEST_IMAGE", "forecast-pipeline:local")
BASE_IMAGE = os.environ.get("FORECAST_TEST_BASE_IMAGE", "localhost/forecast-base:bookworm")
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
REGION = TERRAFORM_OUTPUTS["AWS_REGION"]
ACCOUNT = "123456789012"
ZONES = ("landing", "raw", "processed", "rejected", "reports")
BUCKETS = {zone: f"forecast-prod-{zone}-{ACCOUNT}" for zone in ZONES}
DATABASE = "forecast_2_0"  # the ForecastMongo block's default, as in production
WINDOW = {"start": "2024-10-13", "end": "2024-10-15"}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}  # fmt: skip


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run([*PODMAN, *args], timeout=timeout, check=check)


@dataclass
class Stack:
    prefect: PrefectServer
    mongo: SecantusServer
    moto: MotoServer
    sentinel: str


@pytest.fixture(scope="module")
def image() -> str:
    require_tool("podman", "apt-get install podman runc debootstrap (.ci/run does)")
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {IMAGE} is not built: run `make image`", pytrace=False)
    return IMAGE


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("image-run")
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    # SecantusDB with SCRAM auth: the user is created before auth is switched on (no localhost
    # exception), then the server restarts on the same storage with --auth.
    storage, port = str(home / "mongo"), free_port()
    setup = SecantusServer(home / "mongo-setup", storage=storage, port=port)
    setup.start()
    setup.client().admin.command(
        "createUser", "loader", pwd=sentinel, roles=[{"role": "readWrite", "db": DATABASE},
                                                     {"role": "dbAdmin", "db": DATABASE}],
    )  # fmt: skip
    setup.stop()
    mongo = SecantusServer(home / "mongo-run", storage=storage, port=port, extra_args=["--auth"])
    mongo.probe_uri = _mongo_uri(port, sentinel)
    prefect = PrefectServer(home / "prefect-home")
    prefect.home.mkdir()
    mongo.start()
    try:
        prefect.start()
        with moto_server(home) as moto:
            yield Stack(prefect, mongo, moto, sentinel)
    finally:
        prefect.stop()
        mongo.stop()


def _mongo_uri(port: int, password: str) -> str:
    return f"mongodb://loader:{password}@127.0.0.1:{port}/?authSource=admin&serverSelectionTimeoutMS=5000"


def _prefect_cli(stack: Stack, *args: str, extra_env: dict[str, str] | None = None) -> str:
    env = {
        **os.environ,
        **(extra_env or {}),
        "PREFECT_API_URL": stack.prefect.url,
        "PREFECT_CLI_PROMPT": "false",
    }
    result = run(
        [str(Path(sys.executable).with_name("prefect")), *args], cwd=ROOT, env=env, timeout=300
    )
    return result.stdout


def _landing_and_blocks(stack: Stack, tmp_path: Path) -> None:
    """The buckets Terraform would create, the demo inputs where Airbyte writes them, the URI in
    Secrets Manager, and the production blocks made from those outputs."""
    s3 = stack.moto.client("s3")
    for bucket in BUCKETS.values():
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    for path in write_demo_landing(tmp_path / "demo"):
        s3.upload_file(
            str(path.path),
            BUCKETS["landing"],
            f"{AIRBYTE_PREFIX}{AIRBYTE_FOLDERS[path.path.suffix]}/{path.path.name}",
        )
    secrets = stack.moto.client("secretsmanager")
    secret = secrets.create_secret(
        Name="forecast-prod/mongodb-uri", SecretString=_mongo_uri(stack.mongo.port, stack.sentinel)
    )
    outputs = Outputs(
        region=REGION, buckets=dict(BUCKETS), mongo_secret=secret["ARN"], token_secret=None
    )
    with temporary_settings({PREFECT_API_URL: stack.prefect.url}):
        saved = save_production_blocks(outputs, secrets)
    assert "forecast-mongo" in saved and "forecast-lake" in saved


async def _worker_configuration() -> tuple[Any, Any, ECSJobConfiguration]:
    """The weekly deployment, a flow run of it, and the job configuration the ECS worker builds."""
    async with get_client() as client:
        deployment = await client.read_deployment_by_name("forecast-pipeline/weekly")
        params = {k: v for k, v in deployment.parameters["params"].items() if k != "last_days"}
        flow_run = await client.create_flow_run_from_deployment(
            deployment.id, parameters={"params": {**params, **WINDOW}}
        )
        pool = await client.read_work_pool(deployment.work_pool_name)
        flow = await client.read_flow(deployment.flow_id)
        configuration = await ECSJobConfiguration.from_template_and_values(
            base_job_template=pool.base_job_template, values=deployment.job_variables, client=client
        )
        configuration.prepare_for_flow_run(flow_run, deployment=deployment, flow=flow, work_pool=pool,
                                           worker_name="forecast-ecs-worker")  # fmt: skip
        return deployment, flow_run, configuration


async def _run_state_and_logs(flow_run_id: uuid.UUID) -> tuple[Any, list[str]]:
    """The run as the server has it, and every log line the server holds (this run, its
    subflows and tasks: nothing else ran on this server)."""
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)
        messages: list[str] = []
        while page := await client.read_logs(limit=200, offset=len(messages)):
            messages += [log.message for log in page]
        return flow_run, messages


@dataclass
class Ran:
    deployment: Any
    flow_run: Any
    environment: dict[str, str]
    command: list[str]
    returncode: int
    output: str
    container_inspect: str
    container_logs: str
    final_run: Any
    api_logs: list[str]
    seconds: float


@pytest.fixture(scope="module")
def ran(image, stack, tmp_path_factory, request) -> Iterator[Ran]:
    tmp_path = tmp_path_factory.mktemp("image-inputs")
    _prefect_cli(stack, "work-pool", "create", "forecast-ecs", "--type", "ecs")
    deploy_env = {**TERRAFORM_OUTPUTS, "FORECAST_IMAGE": image, "FORECAST_REPO_DIR": str(ROOT)}
    _prefect_cli(
        stack, "deploy", "--name", "weekly", "--prefect-file", "prefect.yaml", extra_env=deploy_env
    )
    _landing_and_blocks(stack, tmp_path)
    with temporary_settings({PREFECT_API_URL: stack.prefect.url}):
        deployment, flow_run, configuration = asyncio.run(_worker_configuration())
    environment = {k: v for k, v in configuration.env.items() if v is not None}
    # The worker passes its own settings on; on ECS PREFECT_HOME is the worker service's
    # /tmp/prefect (modules/worker), here it would be this test session's directory on the host.
    # What the task's IAM role and region give it on ECS: here the moto endpoint and dummy keys.
    # INFO logging (the test session runs at WARNING) so that the run's summary shows.
    environment |= {**AWS_ENV, "AWS_ENDPOINT_URL": stack.moto.url, "PREFECT_HOME": "/tmp/prefect",
                    "PREFECT_LOGGING_LEVEL": "INFO"}  # fmt: skip
    command = configuration.command.split()
    report(request, f"container environment (names): {', '.join(sorted(environment))}")
    name = f"forecast-flow-run-{flow_run.id}"
    started = time.monotonic()
    result = podman(
        "run", f"--name={name}", "--network=host", *LIMITS,
        *(f"--env={key}={value}" for key, value in sorted(environment.items())), image, *command,
        timeout=900, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    try:
        inspect = podman("container", "inspect", name).stdout
        logged = podman("logs", name)
        logs = logged.stdout + logged.stderr
    finally:
        podman("rm", "--force", name, check=False)
    with temporary_settings({PREFECT_API_URL: stack.prefect.url}):
        final_run, api_logs = asyncio.run(_run_state_and_logs(flow_run.id))
    finished = [
        line for line in (result.stdout + result.stderr).splitlines() if "Finished in state" in line
    ]
    (tmp_path / "container-output.log").write_text(result.stdout + result.stderr)
    report(request, f"container run ({seconds:.0f} s, exit {result.returncode}): "
                    f"{finished[-1] if finished else '-'}; output in {tmp_path / 'container-output.log'}")  # fmt: skip
    yield Ran(deployment, flow_run, environment, command, result.returncode, result.stdout + result.stderr,
              inspect, logs, final_run, api_logs, seconds)  # fmt: skip


def test_the_container_runs_the_weekly_flow_run_to_completion(ran):
    assert ran.command == ["prefect", "flow-run", "execute"]  # the worker's command
    assert ran.environment["PREFECT__FLOW_RUN_ID"] == str(ran.flow_run.id)
    assert ran.returncode == 0, ran.output[-6000:]
    assert ran.final_run.state.type.value == "COMPLETED", ran.output[-6000:]
    assert ran.deployment.job_variables["image"] == IMAGE
    assert ran.final_run.parameters["params"] == {
        **{k: v for k, v in ran.deployment.parameters["params"].items() if k != "last_days"}, **WINDOW,
    }  # fmt: skip
    assert re.search(r"Finished in state Completed\(\)", ran.output), ran.output[-3000:]


def test_the_demo_observations_are_in_mongodb(ran, stack):
    client = pymongo.MongoClient(_mongo_uri(stack.mongo.port, stack.sentinel), tz_aware=True)
    collection = client[DATABASE]["weather_measurements"]
    counts = {
        row["_id"]: row["n"]
        for row in collection.aggregate([{"$group": {"_id": "$station.id", "n": {"$sum": 1}}}])
    }
    assert counts == DEMO_COUNTS
    assert sum(counts.values()) == 1619
    assert client[DATABASE]["stations"].count_documents({}) == len(DEMO_COUNTS)


def test_the_lake_zones_on_s3_hold_the_run(ran, stack):
    s3 = stack.moto.client("s3")

    def keys(zone: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKETS[zone]).get("Contents", [])]

    raw = [
        k
        for k in keys("raw")
        if re.fullmatch(r"source=\w+/ingest_date=[\d-]+/[0-9a-f]{64}\.\w+", k)
    ]
    assert len(raw) == 3
    assert any(k.endswith(".parquet") for k in keys("processed"))
    status = json.loads(
        s3.get_object(Bucket=BUCKETS["reports"], Key="latest/pipeline_status.json")["Body"].read()
    )
    assert (status["run_id"], status["status"]) == (str(ran.flow_run.id), "success")


def test_the_container_runs_as_the_unprivileged_user(image):
    assert (
        podman("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
        == "forecast"
    )
    ids = podman("run", "--rm", "--network=host", *LIMITS, image, "id", "-u", "-n").stdout.split()
    uid = podman("run", "--rm", "--network=host", *LIMITS, image, "id", "-u").stdout.strip()
    assert (ids, uid) == (["forecast"], "10001")


def _environment(image: str) -> dict[str, str]:
    (config,) = json.loads(podman("image", "inspect", image).stdout)
    return dict(item.split("=", 1) for item in config["Config"]["Env"])


def test_no_secret_in_the_image_the_container_or_the_logs(ran, stack, image, request):
    image_inspect = podman("image", "inspect", image).stdout
    history = podman("history", "--no-trunc", image).stdout
    places = {
        "image inspect": image_inspect, "image history": history,
        "container inspect (env, command)": ran.container_inspect, "container logs": ran.container_logs,
        "run output": ran.output, "flow run logs in Prefect": "\n".join(ran.api_logs),
        "flow run parameters": json.dumps(ran.final_run.parameters),
    }  # fmt: skip
    leaks = [place for place, text in places.items() if stack.sentinel in text]
    assert leaks == [], f"the MongoDB password appears in: {leaks}"
    assert any(line.startswith("load: {'input': 1619, 'inserted': 1619") for line in ran.api_logs)
    assert "mongodb://" not in ran.container_inspect  # the URI travels only inside the block
    (config,) = json.loads(image_inspect)
    report(request, f"image {image}: {int(config['Size']) / 1e6:.0f} MB")


def test_the_image_sets_only_its_own_runtime_variables_over_the_base(image):
    base, built = _environment(BASE_IMAGE), _environment(image)
    added = {k: v for k, v in built.items() if base.get(k) != v}
    assert added == {
        "PATH": f"/opt/venv/bin:{base['PATH']}", "PYTHONUNBUFFERED": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }  # fmt: skip


def test_the_build_time_ca_mount_left_no_trace_in_the_image(image):
    """`make image` mounts the host's CA certificates for pip during the build only: the image
    keeps the base's bundle, and no layer records the build argument."""
    bundle = "/etc/ssl/certs/ca-certificates.crt"

    def digest(name: str) -> str:
        return podman(
            "run", "--rm", "--network=host", *LIMITS, name, "sha256sum", bundle
        ).stdout.split()[0]

    assert digest(image) == digest(BASE_IMAGE)
    history = podman("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    assert "PIP_CA_BUNDLE" not in history and "/etc/ssl/certs" not in history
