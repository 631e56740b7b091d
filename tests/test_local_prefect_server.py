"""The local Prefect server as production runs it, and its cron schedule firing end to end.

One stack for the module, made by the bare ``forecast setup`` in a fresh FORECAST_HOME: a
SecantusDB, the Debian PostgreSQL cluster (started here if it is down) with the home's own role
and database, and ``prefect server start`` on it with basic auth. Then:

- a request without the auth string is refused (401), with it it is served; the server's state
  (the blocks setup saved, the runs) is rows of its PostgreSQL database;
- a bare ``forecast run`` finds the server and runs on it (no ephemeral API started);
- the cron: ``prefect deploy`` of prefect.yaml's ``local-weekly`` (a process pool, this checkout)
  with a ``* * * * *`` schedule added, a ``prefect worker start --type process``; the scheduler
  creates the run, the worker executes it against SecantusDB, the documents land, the run's
  artifacts are read back through the API;
- ``forecast stop`` stops both servers.

Throughout, the two generated secrets (the auth string, the database password) are looked for,
as sentinels, in every process's argv (``/proc/*/cmdline``, polled), the commands' output, the
server's and the worker's logs, PostgreSQL's log, the lake, and what the Prefect server holds
(runs and their parameters and job variables, artifacts, logs, deployments).

The server's scheduler loop runs every 10 s instead of 60 (``PREFECT_SERVER_SERVICES_SCHEDULER_
LOOP_SECONDS`` in ``forecast setup``'s environment reaches the server): a new deployment is
scheduled within 5 s by Prefect's "recent deployments" loop anyway; the faster main loop only
shortens the wait should that loop miss it on a busy machine.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from forecast.localpostgres import LocalPostgres
from forecast.localstack import LocalPrefectServer, ServerSecrets
from forecast.samples import write_demo_landing
from tests.support import DEMO_COUNTS, free_port, station_counts_of_uri

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FORECAST, PREFECT = str(BIN / "forecast"), str(BIN / "prefect")
SCHEDULER = {"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "10"}


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A command's environment as a user's shell has it: no Prefect or Forecast settings but the
    homes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FORECAST_"))}
    return env | {"FORECAST_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                  "PYTHONPATH": str(ROOT), **extra}  # fmt: skip


def _sentinels(secrets: ServerSecrets) -> dict[str, str]:
    """The secrets, and the Authorization header value the auth string makes."""
    token = base64.b64encode(secrets.auth_string.encode()).decode()
    return {"auth string": secrets.auth_string,
            "auth password": secrets.auth_string.split(":", 1)[1],
            "Authorization header": token,
            "database password": secrets.database_password}  # fmt: skip


class ArgvWatcher:
    """Polls every process's command line (``/proc/*/cmdline``) for the secrets, in a thread."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = [s.encode() for s in secrets]
        self.leaks: list[str] = []
        self.commands: set[str] = set()  # what it saw, to show it watched the right processes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                self.commands.add(argv.replace(b"\0", b" ").decode(errors="replace")[:200])
                if any(secret in argv for secret in self.secrets):
                    self.leaks.append(f"pid {entry.name}: {argv[:120]!r}")
            self._stop.wait(0.05)


@dataclass
class Stack:
    home: Path
    mongo_port: int
    prefect_port: int
    server: LocalPrefectServer
    secrets: ServerSecrets
    watcher: ArgvWatcher
    outputs: list[str] = field(default_factory=list)  # every command's stdout and stderr
    lakes: list[Path] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.prefect_port}/api"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    def client_env(self, **extra: str) -> dict[str, str]:
        settings = self.server.client_settings()
        assert settings is not None, "the local Prefect server is not running"
        return _env(self.home, **settings, **extra)

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
        done = subprocess.run(argv, env=env or _env(self.home), cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout)  # fmt: skip
        self.outputs += [done.stdout, done.stderr]
        return done

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        updates = {PREFECT_API_URL: self.api, PREFECT_API_AUTH_STRING: self.secrets.auth_string}
        with temporary_settings(updates=updates), get_client(sync_client=True) as client:
            yield client


@pytest.fixture(scope="module")
def local(tmp_path_factory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("local-server")
    prefect_port, mongo_port = free_port(), free_port()
    server = LocalPrefectServer(home, port=prefect_port)
    secrets = server.secrets()  # what setup would generate, made first so the watch covers setup
    with ArgvWatcher(list(_sentinels(secrets).values())) as watcher:
        stack = Stack(
            home, mongo_port, prefect_port, server, secrets, watcher, lakes=[home / "lake"]
        )
        try:
            setup = stack.run([FORECAST, "setup", "--port", str(mongo_port),
                               "--prefect-port", str(prefect_port)],
                              env=_env(home, **SCHEDULER))  # fmt: skip
            assert setup.returncode == 0, setup.stdout + setup.stderr
            stack.evidence["setup"] = setup.stdout
            yield stack
        finally:
            with contextlib.suppress(Exception):
                stack.run([FORECAST, "stop", "--port", str(mongo_port)], timeout=120)
            server.forget()  # the server stopped, its database and role dropped
    (home / "evidence.json").write_text(json.dumps(stack.evidence, indent=2, default=str))


def _request(url: str, auth: str | None = None, body: bytes | None = b"{}") -> int:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    pytest.fail(f"{what}: not seen within {timeout:.0f} s")


def test_setup_starts_the_server_on_postgresql_and_refuses_a_request_without_the_auth_string(
    local,
):
    runs = f"{local.api}/flow_runs/filter"
    refused = _request(runs)
    local.evidence["unauthenticated POST /api/flow_runs/filter"] = refused
    assert refused == 401
    assert _request(runs, auth="admin:not-the-password") == 401
    assert _request(runs, auth=local.secrets.auth_string) == 200
    assert _request(f"{local.api}/health", body=None) == 200  # the liveness probe only

    # Its state is PostgreSQL's: the blocks setup saved are rows of the home's database.
    database = local.server.database
    blocks = {row[0] for row in LocalPostgres().query(database, "SELECT name FROM block_document")}
    assert {"forecast-lake", "forecast-mongo"} <= blocks
    assert not list(local.home.rglob("*.db"))  # no SQLite database anywhere in the home
    for private in (local.server.secrets_file, local.server.client_file):
        assert private.stat().st_mode & 0o777 == 0o600
    assert f"PostgreSQL database {database}" in local.evidence["setup"]
    assert "basic auth on" in local.evidence["setup"]


def test_a_bare_forecast_run_runs_on_the_server_without_an_ephemeral_api(local, tmp_path):
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    done = local.run([FORECAST, "run", "--landing", str(landing), "--latency-budget", "1"])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = re.search(r"^run ([0-9a-f-]{36}): success", done.stdout, re.MULTILINE).group(1)

    with local.client() as client:
        run = client.read_flow_run(run_id)
    assert run.state is not None and run.state.type.value == "COMPLETED"
    (row,) = LocalPostgres().query(
        local.server.database, f"SELECT state_type FROM flow_run WHERE id = '{run_id}'"
    )
    assert row == ["COMPLETED"]
    assert not (local.home / "prefect" / "ephemeral-api.log").exists()

    status = local.run([FORECAST, "status", "--port", str(local.mongo_port)])
    assert f"Prefect API: {local.api} (the local Prefect server)" in status.stdout
    assert f"local Prefect server: running (pid {local.server.running()['pid']})" in status.stdout
    assert "local MongoDB: running" in status.stdout


def _deployment_runs(client: Any, deployment_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])), limit=200
    )
    return sorted(runs, key=lambda r: r.expected_start_time)


def test_the_cron_schedule_fires_and_a_process_worker_runs_the_pipeline(local, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    from blocks.local import save_local_lake, save_mongo

    landing = tmp_path / "landing"
    write_demo_landing(landing, seed=21)
    # The run's own lake and database, so that nothing an earlier test loaded is skipped.
    updates = {PREFECT_API_URL: local.api, PREFECT_API_AUTH_STRING: local.secrets.auth_string}
    local.lakes.append(tmp_path / "lake")
    with temporary_settings(updates=updates):
        save_local_lake(tmp_path / "lake", name="cron-lake")
        save_mongo(local.mongo_uri, name="cron-mongo", database="forecast_cron")
    env = local.client_env(FORECAST_REPO_DIR=str(ROOT), PREFECT_CLI_PROMPT="false")
    pool = local.run([PREFECT, "work-pool", "create", "forecast-local", "--type", "process"], env)
    assert pool.returncode == 0, pool.stdout + pool.stderr

    worker_log = (local.home / "worker.log").open("w")
    worker = subprocess.Popen(
        [PREFECT, "worker", "start", "--pool", "forecast-local", "--type", "process",
         "--name", "cron-e2e"],
        env=env | {"PREFECT_WORKER_QUERY_SECONDS": "2"}, cwd=ROOT,
        stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        params = {"params": {"landing": str(landing), "lake_block": "cron-lake",
                             "mongo_block": "cron-mongo", "latency_iterations": 1}}  # fmt: skip
        deployed = local.run(
            [PREFECT, "deploy", "--prefect-file", "prefect.yaml", "--name", "local-weekly",
             "--cron", "* * * * *", "--params", json.dumps(params)], env,
        )  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
        deployed_at = datetime.now(UTC)
        with local.client() as client:
            deployment = client.read_deployment_by_name("forecast-pipeline/local-weekly")
            crons = sorted(s.schedule.cron for s in deployment.schedules)
            assert crons == ["* * * * *", "0 22 * * 3"]  # prefect.yaml's, and the one due now
            # Created by the scheduler: no run was asked for.
            first = _wait_for(
                "the scheduler's runs",
                lambda: (_deployment_runs(client, deployment.id) or [None])[0],
                timeout=90,
            )
            assert first.auto_scheduled is True
            assert first.created_by.type == "SCHEDULE"
            assert (first.expected_start_time - deployed_at).total_seconds() <= 75
            _wait_for(
                "the worker taking the run",
                lambda: client.read_flow_run(first.id).state.type.value != "SCHEDULED",
                timeout=150,
            )
            client.pause_deployment(deployment.id)  # one run is enough: the next minute's go
            finished = _wait_for(
                "the end of the run",
                lambda: (run := client.read_flow_run(first.id)).state.is_final() and run,
                timeout=300,
                every=2,
            )
            artifacts = client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[first.id]))
            )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        worker_log.close()

    counts = station_counts_of_uri(local.mongo_uri, "forecast_cron")
    local.evidence["cron run"] = {
        "id": str(first.id), "name": finished.name, "state": finished.state.type.value,
        "expected_start_time": first.expected_start_time.isoformat(),
        "start_time": str(finished.start_time), "end_time": str(finished.end_time),
        "auto_scheduled": first.auto_scheduled, "created_by": first.created_by.model_dump(mode="json"),
        "documents": sum(counts.values()), "artifacts": sorted(a.key for a in artifacts if a.key),
    }  # fmt: skip
    assert finished.state.type.value == "COMPLETED", (local.home / "worker.log").read_text()[-3000:]
    assert counts == DEMO_COUNTS  # 1,619 documents in SecantusDB
    by_key = {a.key: a for a in artifacts if a.key}
    assert {"forecast-run-status", "forecast-quality-summary", "forecast-migration",
            "forecast-latency", "forecast-quality", "forecast-completeness"} <= set(by_key)  # fmt: skip
    status = str(by_key["forecast-run-status"].data)
    assert status.startswith("# Run success") and f"run id: `{first.id}`" in status
    (migration,) = _table(by_key["forecast-migration"].data)
    assert (migration["inserted"], migration["failed"]) == (sum(DEMO_COUNTS.values()), 0)
    assert finished.work_pool_name == "forecast-local"


def _table(data: Any) -> list[dict[str, Any]]:
    """A table artifact's rows (the API returns them as a JSON string)."""
    return json.loads(data) if isinstance(data, str) else list(data)


def _server_holds(local: Stack) -> str:
    """Everything the Prefect server keeps that a secret could leak into, as text."""
    with local.client() as client:
        runs = client.read_flow_runs(limit=200)
        texts = [r.model_dump_json() for r in runs]  # parameters, job variables, states
        texts += [a.model_dump_json() for a in client.read_artifacts(limit=200)]
        texts += [d.model_dump_json() for d in client.read_deployments()]
        offset = 0
        while page := client.read_logs(limit=200, offset=offset):
            texts += [log.model_dump_json() for log in page]
            offset += len(page)
    return "\n".join(texts)


def test_stop_stops_both_and_no_secret_was_ever_in_argv_output_logs_or_the_server(local):
    held = _server_holds(local)
    assert "forecast-pipeline" in held and '"params"' in held
    server_pid = int(str(local.server.running()["pid"]))

    stopped = local.run([FORECAST, "stop", "--port", str(local.mongo_port)], timeout=120)
    assert stopped.stdout.splitlines() == ["local MongoDB stopped", "local Prefect server stopped"]
    assert not _listening(local.prefect_port) and not _listening(local.mongo_port)
    assert (
        not Path(f"/proc/{server_pid}").exists()
        or b"server" not in Path(f"/proc/{server_pid}/cmdline").read_bytes()
    )
    assert not local.server.client_file.exists() and local.server.secrets_file.exists()
    status = local.run([FORECAST, "status", "--port", str(local.mongo_port)])
    assert "local Prefect server: stopped" in status.stdout
    assert "Prefect API: ephemeral" in status.stdout

    local.watcher.__exit__()
    watched = "\n".join(local.watcher.commands)
    for seen in ("prefect server start", "secantusd-py", "prefect worker start", "prefect.engine"):
        assert seen in watched, f"the argv watch never saw {seen!r}"
    assert local.watcher.leaks == []
    lake = "\n".join(
        p.read_bytes().decode("utf-8", "replace")
        for root in local.lakes for p in root.rglob("*") if p.is_file()
    )  # fmt: skip
    postgres_logs = "\n".join(  # the cluster's logs, where this user may read them (root: all)
        p.read_text(errors="replace")
        for p in Path("/var/log/postgresql").glob("*.log")
        if os.access(p, os.R_OK)
    )
    places = {
        "the commands' output": "\n".join(local.outputs),
        "the server log": local.server.log_file.read_text(errors="replace"),
        "the worker log": (local.home / "worker.log").read_text(errors="replace"),
        "PostgreSQL's log": postgres_logs,
        "the lake": lake,
        "the Prefect server's runs, artifacts, logs and deployments": held,
    }
    for secret, value in _sentinels(local.secrets).items():
        for place, text in places.items():
            assert value not in text, f"the {secret} is in {place}"
