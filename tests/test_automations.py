"""Alerting automations against a real local Prefect server (`prefect server start`, its own
PREFECT_HOME, triggers and actions services on): `forecast automations apply` and `list`, then a
failed run of a deployment: the server records its `prefect.flow-run.Failed` event, the
automation fires and the notification arrives at a webhook served by the test."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.settings import PREFECT_API_URL, temporary_settings

from blocks.local import save_local_lake, save_mongo
from flows.automations import FAILED_EVENTS, apply, notification_block_id
from flows.cli import main
from flows.pipeline import forecast_pipeline
from tests.http_server import Recorded, Reply, ScriptedServer
from tests.support import PrefectServer, free_port

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("forecast-run-failed", "forecast-no-completed-run")
SECRET_PATH = f"/hooks/{uuid.uuid4().hex}"  # stands for the token part of a Slack webhook URL


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[PrefectServer]:
    prefect = PrefectServer(tmp_path_factory.mktemp("prefect-automations"))
    prefect.start()
    try:
        with temporary_settings({PREFECT_API_URL: prefect.url}):
            yield prefect
    finally:
        prefect.stop()


@pytest.fixture(scope="module")
def webhook() -> Iterator[ScriptedServer]:
    with ScriptedServer() as receiver:
        receiver.script(*[Reply(200, b"ok")] * 50)
        yield receiver


def _cli(monkeypatch, capsys, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _wait_for(what: str, probe: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not seen within {timeout:.0f} s")


def _posts(webhook: ScriptedServer, text: str) -> list[Recorded]:
    return [
        r
        for r in webhook.requests
        if r.method == "POST" and r.path == SECRET_PATH and text in r.body.decode()
    ]


def test_apply_creates_the_automations_once_and_list_shows_triggers_and_block(
    server, webhook, monkeypatch, capsys
):
    url = webhook.url(SECRET_PATH)
    code, out, _ = _cli(monkeypatch, capsys, "automations", "webhook", stdin=url + "\n")
    assert code == 0 and "forecast-alerts" in out
    code, out, _ = _cli(monkeypatch, capsys, "automations", "apply")
    assert code == 0
    assert out.splitlines() == [f"{name}: created (notifies forecast-alerts)" for name in NAMES]
    code, out, _ = _cli(
        monkeypatch, capsys, "automations", "apply", "--notify-block", "forecast-alerts"
    )
    assert out.splitlines() == [f"{name}: unchanged (notifies forecast-alerts)" for name in NAMES]

    code, listing, err = _cli(monkeypatch, capsys, "automations", "list")
    (server.home / "automations-list.txt").write_text(listing)
    assert code == 0, err
    assert SECRET_PATH not in listing + err
    blocks = [line for line in listing.splitlines() if line.startswith("  action: ")]
    assert blocks == ["  action: send-notification -> block forecast-alerts"] * 2
    assert "Reactive, expect prefect.flow-run.Crashed, prefect.flow-run.Failed" in listing
    assert "Proactive, expect prefect.flow-run.Completed, threshold 1, within 8 days" in listing

    block_id = notification_block_id("forecast-alerts")
    with get_client(sync_client=True) as client:
        stored = {name: client.read_automations_by_name(name) for name in NAMES}
    assert all(len(found) == 1 for found in stored.values())  # idempotent: one of each
    failed = stored["forecast-run-failed"][0]
    assert failed.trigger.expect == set(FAILED_EVENTS) and failed.trigger.posture == "Reactive"
    flows = [spec for spec in failed.trigger.match_related if "prefect.resource.name" in spec]
    assert flows[0]["prefect.resource.name"] == ["forecast-pipeline", "forecast-backfill"]
    stale = stored["forecast-no-completed-run"][0].trigger
    assert stale.posture == "Proactive" and stale.within == timedelta(days=8)
    assert [a.block_document_id for f in stored.values() for a in f[0].actions] == [block_id] * 2


def test_a_failed_deployment_run_is_recorded_and_notified(server, webhook, tmp_path):
    suffix = uuid.uuid4().hex[:8]
    save_local_lake(tmp_path / "lake", name=f"lake-{suffix}")
    save_mongo(
        f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200", name=f"mongo-{suffix}"
    )
    params = {"landing": str(tmp_path / "no-such-landing"), "lake_block": f"lake-{suffix}",
              "mongo_block": f"mongo-{suffix}"}  # fmt: skip
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(forecast_pipeline)
        deployment_id = client.create_deployment(
            flow_id=flow_id, name=f"weekly-{suffix}", path=str(ROOT),
            entrypoint="flows/pipeline.py:forecast_pipeline",
        )  # fmt: skip
        run = client.create_flow_run_from_deployment(deployment_id, parameters={"params": params})
    # What a worker does with the run: execute it in a process of its own.
    env = {**os.environ, "PREFECT_API_URL": server.url, "PYTHONPATH": str(ROOT)}
    executed = subprocess.run(
        [str(Path(sys.executable).with_name("prefect")), "flow-run", "execute", str(run.id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run.id).state
    assert state is not None and state.type.value == "FAILED", executed.stderr[-3000:]

    def failed_events() -> list[Any]:
        with get_client(sync_client=True) as client:
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["prefect.flow-run.Failed"]),
                    resource=EventResourceFilter(id=[f"prefect.flow-run.{run.id}"]),
                ),
                limit=50,  # the client's default (100) is above the 3.8.8 server's maximum
            )
        return page.events

    (event,) = _wait_for("the Failed event of the run", failed_events)
    related = {(r.role, r.id) for r in event.related}
    assert ("deployment", f"prefect.deployment.{deployment_id}") in related
    assert ("flow", f"prefect.flow.{flow_id}") in related

    (post,) = _wait_for("the notification at the webhook", lambda: _posts(webhook, str(run.id)))
    payload = json.loads(post.body)
    (server.home / "notification.json").write_bytes(post.body)  # kept for a look after the run
    assert payload["subject"] == f"Forecast 2.0: forecast-pipeline run {run.name} Failed"
    assert f"of deployment weekly-{suffix} entered Failed" in payload["body"]
    assert "no-such-landing" in payload["body"]  # the state message: why it failed
    assert payload["text"] == f"{payload['subject']}\n{payload['body']}"


def test_no_completed_run_within_the_window_notifies(server, webhook):
    # The production window is 8 days; the same definition with the 10 s minimum Prefect allows
    # for a proactive trigger shows it fires on the absence of a Completed run.
    assert dict(apply(stale_after=timedelta(seconds=10)))["forecast-no-completed-run"] == "updated"
    try:
        posts = _wait_for(
            "the no-completed-run notification",
            lambda: _posts(webhook, "no completed forecast-pipeline run in 10 s"),
            timeout=120,
        )
        assert "Check the schedule" in json.loads(posts[0].body)["body"]
    finally:
        assert dict(apply())["forecast-no-completed-run"] == "updated"
