"""A real HTTP server on 127.0.0.1 that plays scripted replies and records the requests it got
(GET, and POST with its body).

Usage::

    with ScriptedServer() as server:
        server.script(Reply(500), Reply(200, body=b"{}"))
        ...  # point a client at server.url("/opendata/")
        assert len(server.requests) == 2

Replies are served in order, one per request; a request beyond the script gets HTTP 418 (a
terminal status for the clients under test) and is counted in ``unscripted``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``delay_s`` waits before the status line (a slow server); ``stall_after_headers_s`` sends the
    headers and a first byte of the body, then waits (a server that stalls mid-body).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    stall_after_headers_s: float = 0.0


@dataclass(frozen=True)
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes = b""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.record(
            Recorded(
                "GET",
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                parts.query,
                dict(self.headers.items()),
            )
        )
        reply = self.server.next_reply()
        if reply.delay_s and self.server.stopping.wait(reply.delay_s):
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.stall_after_headers_s:
            self.wfile.write(reply.body[:1])
            self.wfile.flush()
            if self.server.stopping.wait(reply.stall_after_headers_s):
                return
            self.wfile.write(reply.body[1:])
        else:
            self.wfile.write(reply.body)

    def do_POST(self) -> None:
        """Record the request and its body (a webhook receiver), then reply as scripted."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record(
            Recorded(
                "POST",
                parts.path,
                parse_qs(parts.query, keep_blank_values=True),
                parts.query,
                dict(self.headers.items()),
                body,
            )
        )
        reply = self.server.next_reply()
        self.send_response(reply.status)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.replies: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.unscripted = 0
        self.stopping = threading.Event()

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def next_reply(self) -> Reply:
        with self.lock:
            if self.replies:
                return self.replies.popleft()
            self.unscripted += 1
            return Reply(418, b"unscripted request")

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that timed out and hung up is expected here, not an error to print."""


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 (ephemeral port) with scripted replies."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[Recorded]:
        with self._server.lock:
            return list(self._server.requests)

    @property
    def unscripted(self) -> int:
        return self._server.unscripted

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *replies: Reply) -> None:
        with self._server.lock:
            self._server.replies.extend(replies)

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
