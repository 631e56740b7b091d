"""The InfoClimat API client against a real HTTP server on 127.0.0.1, with scripted replies."""

from __future__ import annotations

import hashlib
import itertools
import socket
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from forecast.errors import (
    ConfigurationError,
    SourceFormatError,
    TransientError,
    is_transient,
)
from forecast.samples import write_infoclimat_json
from forecast.sources import infoclimat
from forecast.sources.common import RawFile
from forecast.sources.infoclimat.api import (
    ApiRequest,
    ApiResponse,
    InfoClimatClient,
    InfoClimatRequestError,
    plan_requests,
)
from tests.http_server import Reply, ScriptedServer

TOKEN = "s3cr3t-T0KEN-4242"
PATH = "/opendata/"
STATIONS = ("07015", "00052", "000R5", "STATIC0010")
WINDOW = ApiRequest(STATIONS, date(2024, 10, 5), date(2024, 10, 5))
PROXY_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedServer]:
    """A scripted HTTP server on 127.0.0.1; proxies are switched off so traffic stays local."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(
    server: ScriptedServer, sleeps: list[float]
) -> Iterator[Callable[..., InfoClimatClient]]:
    """Return a factory of clients pointed at the server, sleeping into ``sleeps`` (no waiting)."""
    made: list[InfoClimatClient] = []

    def make(**overrides: object) -> InfoClimatClient:
        options: dict[str, object] = {"sleep": sleeps.append, "random": lambda: 0.5}
        options.update(overrides)
        made.append(InfoClimatClient(server.url(PATH), TOKEN, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def body(tmp_path: Path) -> bytes:
    """A body shaped like the real API answer (``_params``, absent keys, ``""`` values)."""
    sample = write_infoclimat_json(tmp_path / "x.json", start=datetime(2024, 10, 5), hours=3)
    return sample.path.read_bytes()


def _assert_no_token(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert TOKEN not in str(seen) and TOKEN not in repr(seen)
        seen = seen.__cause__ or seen.__context__


# ------------------------------------------------------------------------------------ success


def test_success_returns_body_bytes_exactly_and_sends_every_parameter(server, client, body):
    server.script(Reply(200, body, {"Content-Type": "application/json"}))
    response = client().fetch(WINDOW)

    assert response.body == body
    assert response.request == WINDOW
    (request,) = server.requests
    assert request.path == PATH
    assert request.query == {
        "version": ["2"],
        "method": ["get"],
        "format": ["json"],
        "stations[]": list(STATIONS),
        "start": ["2024-10-05"],
        "end": ["2024-10-05"],
        "token": [TOKEN],
    }
    assert response.url.endswith("&token=***")
    assert TOKEN not in response.url and TOKEN not in repr(response)
    assert response.url.startswith(server.url(PATH) + "?version=2&method=get&format=json&")


def test_fetched_body_parses_with_the_infoclimat_parser(server, client, body):
    server.script(Reply(200, body))
    response = client().fetch(WINDOW)

    raw = RawFile(
        response.file_name(),
        response.body,
        f"source=infoclimat/{response.file_name()}",
        hashlib.sha256(response.body).hexdigest(),
    )
    parsed = infoclimat.parse(raw)
    assert parsed.observations.num_rows == 3 + 3 * (3 * 6 + 1)
    assert sorted(parsed.stations.column("station_id").to_pylist()) == sorted(STATIONS)


def test_fetch_all_runs_the_plan_in_order(server, client, body):
    plan = plan_requests(["07015"], date(2024, 10, 1), date(2024, 10, 10), chunk_days=7)
    server.script(Reply(200, body), Reply(200, body))
    responses = client().fetch_all(plan)

    assert [r.request for r in responses] == plan
    assert [(q.query["start"], q.query["end"]) for q in server.requests] == [
        (["2024-10-01"], ["2024-10-07"]),
        (["2024-10-08"], ["2024-10-10"]),
    ]


# ------------------------------------------------------------------------------------ retries


def test_server_error_then_success_retries_once(server, client, sleeps, body):
    server.script(Reply(500, b"oops"), Reply(200, body))
    response = client().fetch(WINDOW)

    assert response.body == body
    assert len(server.requests) == 2
    assert sleeps == [0.5]  # full jitter: random() * min(max, base * 2**0)


def test_backoff_is_exponential_full_jitter_capped_by_backoff_max(server, client, sleeps, body):
    server.script(*[Reply(502)] * 4, Reply(200, body))
    client(random=lambda: 1.0, backoff_base_s=1.0, backoff_max_s=5.0).fetch(WINDOW)

    assert sleeps == [1.0, 2.0, 4.0, 5.0]


def test_too_many_requests_honours_retry_after(server, client, sleeps, body):
    server.script(Reply(429, headers={"Retry-After": "2"}), Reply(200, body))
    client(random=lambda: 0.0).fetch(WINDOW)

    assert len(sleeps) == 1 and sleeps[0] >= 2


def test_retry_after_is_capped_by_backoff_max_and_dates_are_ignored(server, client, sleeps, body):
    server.script(
        Reply(503, headers={"Retry-After": "120"}),
        Reply(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        Reply(200, body),
    )
    client(random=lambda: 0.0, backoff_max_s=60.0).fetch(WINDOW)

    assert sleeps == [60.0, 0.0]


def test_service_unavailable_every_time_is_transient_after_max_attempts(server, client, sleeps):
    server.script(*[Reply(503)] * 5)
    with pytest.raises(TransientError, match=r"after 5 attempts: HTTP 503") as caught:
        client(max_attempts=5).fetch(WINDOW)

    assert len(server.requests) == 5 and len(sleeps) == 4
    assert is_transient(caught.value)
    assert "token=***" in str(caught.value)
    _assert_no_token(caught.value)


def test_slow_server_times_out_is_retried_then_transient(server, client, sleeps):
    server.script(*[Reply(200, b"{}", delay_s=2.0)] * 3)
    with pytest.raises(TransientError, match=r"after 3 attempts: .*timed out") as caught:
        client(timeout_s=0.2, max_attempts=3).fetch(WINDOW)

    assert len(server.requests) == 3 and len(sleeps) == 2
    _assert_no_token(caught.value)


def test_server_stalling_mid_body_is_retried(server, client, body):
    server.script(Reply(200, body, stall_after_headers_s=2.0), Reply(200, body))
    response = client(timeout_s=0.2).fetch(WINDOW)

    assert response.body == body and len(server.requests) == 2


def test_connection_refused_is_retried_then_transient(sleeps):
    with socket.socket() as probe:  # a port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        InfoClimatClient(
            f"http://127.0.0.1:{port}/opendata/", TOKEN, max_attempts=3, sleep=sleeps.append
        ) as refused,
        pytest.raises(TransientError, match="after 3 attempts") as caught,
    ):
        refused.fetch(WINDOW)

    assert len(sleeps) == 2
    _assert_no_token(caught.value)


# ----------------------------------------------------------------------------------- terminal


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_is_a_configuration_error_without_retry(server, client, sleeps, status):
    server.script(Reply(status, f"bad token {TOKEN}".encode()))
    with pytest.raises(
        ConfigurationError, match=rf"rejected the token \(HTTP {status}\)"
    ) as caught:
        client().fetch(WINDOW)

    assert len(server.requests) == 1 and sleeps == []
    _assert_no_token(caught.value)


def test_not_found_is_terminal_and_names_redacted_url_and_status(server, client, sleeps):
    server.script(Reply(404, b"<html>no such page</html>"))
    with pytest.raises(InfoClimatRequestError) as caught:
        client().fetch(WINDOW)

    assert caught.value.status == 404
    assert "HTTP 404" in str(caught.value) and "token=***" in caught.value.file
    assert isinstance(caught.value, SourceFormatError) and not is_transient(caught.value)
    assert len(server.requests) == 1 and sleeps == []


def test_token_echoed_in_an_error_body_is_scrubbed(server, client):
    server.script(Reply(400, f'{{"error": "unknown token {TOKEN}"}}'.encode()))
    with pytest.raises(InfoClimatRequestError, match=r"unknown token \*\*\*") as caught:
        client().fetch(WINDOW)

    _assert_no_token(caught.value)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"status": "OK", "errors": [], "hourly": {"07015": [', "not valid JSON"),
        (b'{"status": "KO", "errors": ["bad station"]}', r"'KO'.*\['bad station'\]"),
        (b"<!DOCTYPE html><html><body>Maintenance</body></html>", "not valid JSON"),
        (b'{"status": "OK", "errors": [], "hourly": []}', "'hourly' is not an object"),
        (b'["status", "OK"]', "top level is list"),
        (b"", "not valid JSON"),
    ],
    ids=["truncated", "status-ko", "html", "hourly-list", "top-level-list", "empty"],
)
def test_malformed_body_is_a_source_format_error_without_retry(
    server, client, sleeps, payload, message
):
    server.script(Reply(200, payload))
    with pytest.raises(SourceFormatError, match=message) as caught:
        client().fetch(WINDOW)

    assert "malformed body" in str(caught.value)
    assert caught.value.file.endswith("token=***")
    assert len(server.requests) == 1 and sleeps == []
    _assert_no_token(caught.value)


def test_client_repr_and_errors_never_show_the_token(server, client):
    made = client()
    assert TOKEN not in repr(made)
    server.script(Reply(200, f'{{"status": "KO", "errors": ["token {TOKEN} expired"]}}'.encode()))
    with pytest.raises(SourceFormatError) as caught:
        made.fetch(WINDOW)
    _assert_no_token(caught.value)


def test_closed_client_refuses_to_fetch(server, client):
    made = client()
    made.close()
    with pytest.raises(RuntimeError, match="closed"):
        made.fetch(WINDOW)
    assert server.requests == []


@pytest.mark.parametrize(
    ("base_url", "token"),
    [("ftp://127.0.0.1/", TOKEN), ("127.0.0.1/opendata", TOKEN), ("http://127.0.0.1/", " ")],
)
def test_bad_base_url_or_empty_token_is_a_configuration_error(base_url, token):
    with pytest.raises(ConfigurationError):
        InfoClimatClient(base_url, token)


# ----------------------------------------------------------------------------------- planning


def test_plan_splits_window_into_week_chunks_with_a_short_last_one():
    plan = plan_requests(["07015", "00052"], date(2024, 10, 1), date(2024, 10, 15))

    assert [(r.start, r.end) for r in plan] == [
        (date(2024, 10, 1), date(2024, 10, 7)),
        (date(2024, 10, 8), date(2024, 10, 14)),
        (date(2024, 10, 15), date(2024, 10, 15)),
    ]
    assert {r.stations for r in plan} == {("07015", "00052")}


@pytest.mark.parametrize(
    ("start", "end", "chunk", "expected"),
    [
        (date(2024, 10, 1), date(2024, 10, 1), 7, 1),
        (date(2024, 10, 1), date(2024, 10, 7), 7, 1),
        (date(2024, 10, 1), date(2024, 10, 8), 7, 2),
        (date(2024, 2, 27), date(2024, 3, 2), 1, 5),  # leap day included
        (date(2024, 12, 30), date(2025, 1, 2), 2, 2),
    ],
)
def test_plan_chunks_cover_the_window_once_without_gaps(start, end, chunk, expected):
    plan = plan_requests(["07015"], start, end, chunk_days=chunk)

    assert len(plan) == expected
    assert plan[0].start == start and plan[-1].end == end
    assert all((r.end - r.start).days < chunk for r in plan)
    assert all((b.start - a.end).days == 1 for a, b in itertools.pairwise(plan))


def test_plan_drops_duplicate_stations_keeping_order():
    (request,) = plan_requests(["07015", "00052", "07015"], date(2024, 10, 1), date(2024, 10, 1))
    assert request.stations == ("07015", "00052")


@pytest.mark.parametrize(
    ("stations", "start", "end", "chunk", "error"),
    [
        ([], date(2024, 10, 1), date(2024, 10, 2), 7, ValueError),
        (["07015", "07 015"], date(2024, 10, 1), date(2024, 10, 2), 7, ValueError),
        (["07015&token=x"], date(2024, 10, 1), date(2024, 10, 2), 7, ValueError),
        (["A" * 17], date(2024, 10, 1), date(2024, 10, 2), 7, ValueError),
        (["07015\n"], date(2024, 10, 1), date(2024, 10, 2), 7, ValueError),
        (["07015"], date(2024, 10, 3), date(2024, 10, 2), 7, ValueError),
        (["07015"], date(2024, 10, 1), date(2024, 10, 2), 0, ValueError),
        ("07015", date(2024, 10, 1), date(2024, 10, 2), 7, TypeError),
        (["07015"], datetime(2024, 10, 1), date(2024, 10, 2), 7, TypeError),
    ],
    ids=[
        "no-station", "space", "injection", "too-long", "newline", "reversed", "chunk-0",
        "bare-string", "datetime",
    ],
)  # fmt: skip
def test_plan_rejects_invalid_inputs(stations, start, end, chunk, error):
    with pytest.raises(error):
        plan_requests(stations, start, end, chunk_days=chunk)


# ---------------------------------------------------------------------------------- file name


def _response(*stations: str, start=date(2024, 10, 5), end=date(2024, 10, 11)) -> ApiResponse:
    return ApiResponse(ApiRequest(stations, start, end), b"{}", "http://127.0.0.1/?token=***")


def test_file_name_is_sorted_and_stable():
    name = _response("07015", "00052").file_name()

    assert name == "infoclimat-api_00052-07015_2024-10-05_2024-10-11.json"
    assert _response("00052", "07015").file_name() == name


def test_file_name_shortens_beyond_four_stations():
    four = _response("07015", "00052", "000R5", "STATIC0010")
    five = _response("07015", "00052", "000R5", "STATIC0010", "07005")

    assert (
        four.file_name() == "infoclimat-api_00052-000R5-07015-STATIC0010_2024-10-05_2024-10-11.json"
    )
    assert five.file_name() == "infoclimat-api_00052-and-4-more_2024-10-05_2024-10-11.json"


def test_file_name_is_a_json_landing_name_the_ingest_recognises():
    assert _response("07015").file_name().endswith(".json")
    assert "/" not in _response("07015").file_name()
