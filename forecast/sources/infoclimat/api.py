"""InfoClimat open-data API: request planning and the one HTTP client that fetches raw JSON.

The API answers the same document as the exported files (../shared/data/raw/FORMATS.md §1), so a
fetched body is stored in the raw zone as received and parsed by ``forecast.sources.infoclimat``.
Request shape, as documented by InfoClimat::

    GET {base_url}?version=2&method=get&format=json&stations[]=07015&stations[]=00052
        &start=YYYY-MM-DD&end=YYYY-MM-DD&token=TOKEN

The token is a secret: it goes on the wire and nowhere else. Returned URLs and every error
message carry ``token=***``, and text echoed by the server is scrubbed before it is quoted.

The client uses the standard library (``urllib``) on purpose: the domain package must work
without Prefect, and ``httpx`` is only a transitive dependency of Prefect here, not a declared one.
"""

from __future__ import annotations

import http.client
import json
import math
import random as _random
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import Message
from types import TracebackType

from forecast.errors import ConfigurationError, SourceFormatError, TransientError

PRODUCTION_BASE_URL = "https://www.infoclimat.fr/opendata/"
STATION_ID = re.compile(r"[0-9A-Za-z]{1,16}")
REDACTED = "***"
FILE_PREFIX = "infoclimat-api"
MAX_NAMED_STATIONS = 4
RETRY_AFTER_STATUSES = frozenset({429, 503})
USER_AGENT = "forecast-2-0 (InfoClimat open-data client)"
_ERROR_EXCERPT = 200
_ERROR_BODY_LIMIT = 64 * 1024
_DELTA_SECONDS = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*")


@dataclass(frozen=True)
class ApiRequest:
    """One API call: every station over an inclusive UTC date window."""

    stations: tuple[str, ...]
    start: date
    end: date

    def __post_init__(self) -> None:
        _check_stations(self.stations)
        for name, value in (("start", self.start), ("end", self.end)):
            if not isinstance(value, date) or isinstance(value, datetime):
                raise TypeError(f"{name} must be a datetime.date, got {value!r}")
        if self.start > self.end:
            raise ValueError(f"start {self.start} is after end {self.end}")


@dataclass(frozen=True)
class ApiResponse:
    """A successful API answer: the body bytes as received and the URL with the token redacted."""

    request: ApiRequest
    body: bytes = field(repr=False)
    url: str

    def file_name(self) -> str:
        """Return the raw-zone name, stable for a request, e.g.
        ``infoclimat-api_00052-07015_2024-10-05_2024-10-11.json``.

        Stations are sorted; beyond four the list reads ``<first>-and-<n>-more``.
        """
        stations = sorted(self.request.stations)
        if len(stations) > MAX_NAMED_STATIONS:
            label = f"{stations[0]}-and-{len(stations) - 1}-more"
        else:
            label = "-".join(stations)
        return (
            f"{FILE_PREFIX}_{label}_{self.request.start.isoformat()}_{self.request.end.isoformat()}"
            ".json"
        )


class InfoClimatRequestError(SourceFormatError):
    """The API refused the request itself (an HTTP status that retrying cannot fix); terminal."""

    def __init__(self, message: str, *, file: str, status: int) -> None:
        self.status = status
        super().__init__(message, file=file)


def plan_requests(
    stations: Iterable[str], start: date, end: date, *, chunk_days: int = 7
) -> list[ApiRequest]:
    """Split the inclusive window ``start..end`` into consecutive requests of at most
    ``chunk_days`` days, each for every station.

    Args:
        stations: InfoClimat station ids (``^[0-9A-Za-z]{1,16}$``); duplicates are dropped,
            first occurrence kept.
        start: First day, inclusive.
        end: Last day, inclusive.
        chunk_days: Longest window of one request, in days.

    Returns:
        The requests in date order; the last one may be shorter.

    Raises:
        ValueError: No station, an invalid station id, ``start`` after ``end`` or
            ``chunk_days`` below 1.
        TypeError: ``stations`` is a single string, or a date is not a ``datetime.date``.
    """
    if isinstance(stations, str | bytes):
        raise TypeError("stations must be a collection of ids, not one string")
    if isinstance(chunk_days, bool) or not isinstance(chunk_days, int) or chunk_days < 1:
        raise ValueError(f"chunk_days must be a positive integer, got {chunk_days!r}")
    ids = tuple(dict.fromkeys(stations))
    first = ApiRequest(ids, start, end)  # validates everything once
    step = timedelta(days=chunk_days)
    requests: list[ApiRequest] = []
    day = first.start
    while day <= first.end:
        last = min(day + step - timedelta(days=1), first.end)
        requests.append(ApiRequest(ids, day, last))
        day = last + timedelta(days=1)
    return requests


def request_url(base_url: str, request: ApiRequest, token: str) -> str:
    """Return the GET URL of ``request``; pass ``token="***"`` for the redacted form."""
    params = [("version", "2"), ("method", "get"), ("format", "json")]
    params += [("stations[]", sid) for sid in request.stations]
    params += [("start", request.start.isoformat()), ("end", request.end.isoformat())]
    query = urllib.parse.urlencode(params)
    # The token is appended verbatim when redacted so that the URL reads ``token=***``.
    token_part = "token=" + (token if token == REDACTED else urllib.parse.quote(token, safe=""))
    separator = "&" if urllib.parse.urlsplit(base_url).query else "?"
    return f"{base_url}{separator}{query}&{token_part}"


@dataclass(frozen=True)
class _Reply:
    status: int
    reason: str
    headers: Message | None
    body: bytes


@dataclass(frozen=True)
class _Failure:
    """A retryable failure: what happened, the server's Retry-After and the exception if any."""

    description: str
    retry_after: float | None = None
    cause: BaseException | None = None


class InfoClimatClient:
    """The InfoClimat open-data HTTP client: retries transient failures, checks the body.

    Retries, with exponential backoff and full jitter, on HTTP 408, 429 and 5xx, timeouts and
    connection errors; a numeric ``Retry-After`` on 429/503 is a lower bound of the delay (the
    delay never exceeds ``backoff_max_s``). ``sleep`` and ``random`` are injectable for tests.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.fragment:
            raise ConfigurationError(
                f"InfoClimat base URL {base_url!r} is not an http(s) URL without a fragment"
            )
        if not isinstance(token, str) or not token.strip():
            raise ConfigurationError("the InfoClimat API token is empty; set it in its block")
        if max_attempts < 1 or timeout_s <= 0 or backoff_base_s < 0 or backoff_max_s < 0:
            raise ValueError("max_attempts must be >= 1, timeout_s > 0 and the backoff delays >= 0")
        self.base_url = base_url
        self._token = token
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        self._random = random
        self._opener: urllib.request.OpenerDirector | None = urllib.request.build_opener()

    def __repr__(self) -> str:
        return (
            f"InfoClimatClient(base_url={self.base_url!r}, timeout_s={self.timeout_s}, "
            f"max_attempts={self.max_attempts})"
        )

    def __enter__(self) -> InfoClimatClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP client; the instance cannot fetch afterwards."""
        if self._opener is not None:
            self._opener.close()
            self._opener = None

    def fetch_all(self, requests: Sequence[ApiRequest]) -> list[ApiResponse]:
        """Fetch ``requests`` one after the other; the first terminal error stops the batch."""
        return [self.fetch(request) for request in requests]

    def fetch(self, request: ApiRequest) -> ApiResponse:
        """Fetch one request and return its body exactly as received.

        Raises:
            ConfigurationError: HTTP 401/403, the token was rejected.
            InfoClimatRequestError: another 4xx (or an unexpected status); names the redacted URL.
            SourceFormatError: the body is not JSON with ``status == "OK"`` and a dict ``hourly``.
            TransientError: a retryable failure persisted through ``max_attempts`` attempts.
        """
        shown = request_url(self.base_url, request, REDACTED)
        url = request_url(self.base_url, request, self._token)
        failure = _Failure("no attempt made")
        for attempt in range(self.max_attempts):
            if attempt:
                self._sleep(self._delay(attempt - 1, failure.retry_after))
            reply = self._send(url)
            if isinstance(reply, _Reply) and 200 <= reply.status < 300:
                self._check_body(reply.body, shown)
                return ApiResponse(request, reply.body, shown)
            failure = self._retryable(reply, shown)
        raise TransientError(
            f"InfoClimat request {shown} still failing after {self.max_attempts} attempts: "
            f"{failure.description}"
        ) from failure.cause

    def _send(self, url: str) -> _Reply | Exception:
        if self._opener is None:
            raise RuntimeError("InfoClimatClient is closed")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        try:
            with self._opener.open(
                urllib.request.Request(url, headers=headers), timeout=self.timeout_s
            ) as response:
                return _Reply(response.status, response.reason, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            # Not chained anywhere: HTTPError keeps the full URL (token included) in .url.
            with exc:
                return _Reply(exc.code, str(exc.reason), exc.headers, _read_quietly(exc))
        except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, reset, bad HTTP
            return exc

    def _retryable(self, reply: _Reply | Exception, shown: str) -> _Failure:
        """Return the failure to retry, or raise the terminal error it stands for."""
        if not isinstance(reply, _Reply):
            return _Failure(f"{type(reply).__name__}: {self._scrub(str(reply))}", cause=reply)
        status = reply.status
        if status in {401, 403}:
            raise ConfigurationError(
                f"InfoClimat rejected the token (HTTP {status}) for {shown}; "
                "check the InfoClimat API token"
            )
        if status in {408, 429} or 500 <= status <= 599:
            retry_after = _retry_after(reply.headers) if status in RETRY_AFTER_STATUSES else None
            return _Failure(f"HTTP {status} {reply.reason}".rstrip(), retry_after)
        excerpt = self._scrub(reply.body[:_ERROR_EXCERPT].decode("utf-8", "replace"))
        raise InfoClimatRequestError(
            f"InfoClimat refused the request: HTTP {status} {reply.reason}; body {excerpt!r}",
            file=shown,
            status=status,
        )

    def _delay(self, retry_index: int, retry_after: float | None) -> float:
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** min(retry_index, 62))
        delay = self._random() * ceiling
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.backoff_max_s)

    def _check_body(self, body: bytes, shown: str) -> None:
        try:
            document = json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise SourceFormatError(f"malformed body: not valid JSON ({exc})", file=shown) from exc
        if not isinstance(document, dict):
            raise SourceFormatError(
                f"malformed body: top level is {type(document).__name__}, not an object",
                file=shown,
            )
        if document.get("status") != "OK":
            errors = self._scrub(repr(document.get("errors")))
            status = self._scrub(repr(document.get("status")))
            raise SourceFormatError(
                f"malformed body: API status {status} (expected 'OK'), errors {errors}",
                file=shown,
            )
        if not isinstance(document.get("hourly"), dict):
            raise SourceFormatError("malformed body: 'hourly' is not an object", file=shown)

    def _scrub(self, text: str) -> str:
        """Return ``text`` with the token (plain or URL-encoded) replaced by ``***``."""
        for form in {
            self._token,
            urllib.parse.quote(self._token, safe=""),
            urllib.parse.quote_plus(self._token),
        }:
            text = text.replace(form, REDACTED)
        return text


def _check_stations(stations: tuple[str, ...]) -> None:
    if not isinstance(stations, tuple) or not stations:
        raise ValueError(f"stations must be a non-empty tuple of ids, got {stations!r}")
    bad = [s for s in stations if not isinstance(s, str) or not STATION_ID.fullmatch(s)]
    if bad:
        raise ValueError(f"invalid InfoClimat station ids {bad!r} (expected ^[0-9A-Za-z]{{1,16}}$)")


def _retry_after(headers: Message | None) -> float | None:
    """Return a numeric ``Retry-After`` in seconds; an HTTP-date or garbage counts as absent."""
    value = headers.get("Retry-After") if headers is not None else None
    match = _DELTA_SECONDS.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return None
    seconds = float(match.group(1))
    return seconds if math.isfinite(seconds) else None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    """Return up to 64 KiB of an error response's body, or b"" when it cannot be read."""
    try:
        return exc.read(_ERROR_BODY_LIMIT) or b""
    except (OSError, http.client.HTTPException):
        return b""
