"""The InfoClimat API as a pipeline source, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime

import pytest
from prefect.blocks.system import Secret

from flows.pipeline import forecast_pipeline
from forecast.samples import write_infoclimat_json
from tests.http_server import Reply, ScriptedServer

TOKEN = "tok-" + uuid.uuid4().hex


@pytest.fixture
def api(tmp_path):
    body = write_infoclimat_json(
        tmp_path / "body.json", start=datetime(2024, 10, 5), hours=3, stations=("07015", "00052")
    ).path.read_bytes()
    token_block = f"token-{uuid.uuid4().hex[:8]}"
    Secret(value=TOKEN).save(token_block)
    with ScriptedServer() as server:
        yield server, body, token_block


def _params(stack, tmp_path, server, token_block, **extra):
    empty = tmp_path / "no-files"
    empty.mkdir(exist_ok=True)
    return stack(empty, start=date(2024, 10, 5), end=date(2024, 10, 5), infoclimat_stations=["07015", "00052"],
                 infoclimat_url=server.url("/opendata/"), infoclimat_token_block=token_block, **extra)  # fmt: skip


def _everything_written(root) -> str:
    return "\n".join(
        p.read_text(errors="replace")
        for p in root.rglob("*")
        if p.is_file() and p.suffix == ".json"
    )


def test_api_window_is_fetched_stored_as_is_and_loaded(stack, tmp_path, api, mongo_server):
    server, body, token_block = api
    server.script(Reply(500), Reply(200, body=body))  # a server error, then the data
    status = forecast_pipeline(_params(stack, tmp_path, server, token_block))
    assert status.status == "success"
    assert len(server.requests) == 2 and server.requests[-1].query["token"] == [TOKEN]
    assert server.requests[-1].query["stations[]"] == ["07015", "00052"]
    (fetched,) = status.files
    assert fetched.name == "infoclimat-api_00052-07015_2024-10-05_2024-10-05.json"
    raw = stack.lake / "raw" / fetched.raw_key
    assert raw.read_bytes() == body  # stored exactly as received
    collection = mongo_server.client()[stack.database]["weather_measurements"]
    assert collection.count_documents({"station.id": "07015"}) == 3
    assert collection.count_documents({"station.id": "00052"}) == 19  # 10-min records 00:00..03:00
    assert TOKEN not in _everything_written(stack.lake)


def test_rejected_token_fails_the_api_input_without_showing_the_token(stack, tmp_path, api):
    server, _, token_block = api
    server.script(Reply(401, body=b'{"status": "KO", "errors": ["invalid token"]}'))
    status = forecast_pipeline(_params(stack, tmp_path, server, token_block))
    assert status.status == "failed"
    [outcome] = status.files
    assert outcome.status == "refused" and "token" in outcome.error and TOKEN not in outcome.error
    assert len(server.requests) == 1  # 401 is terminal: no retry
    manifest = next((stack.lake / "raw" / "_manifests").rglob("*.json"))
    assert json.loads(manifest.read_text())["files"][0]["status"] == "refused"
    assert TOKEN not in _everything_written(stack.lake)


def test_api_needs_a_window():
    from flows.params import RunParams

    with pytest.raises(ValueError, match="needs both start and end"):
        RunParams(landing="/tmp", infoclimat_stations=["07015"])
