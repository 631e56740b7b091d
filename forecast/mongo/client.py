"""Connecting to MongoDB: the target (URI never printed), redaction, transient errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient, WriteConcern
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from forecast.errors import ConfigurationError, ServerError, TransientError

_AUTH_FAILURES = (13, 18)  # Unauthorized, AuthenticationFailed

TRANSIENT = (AutoReconnect, ConnectionFailure, NetworkTimeout, NotPrimaryError, WriteConcernError)
"""Driver errors after which the same operation may simply be tried again."""

TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
"""Server error codes after which the same operation may simply be tried again."""


@contextmanager
def server_errors(operation: str, uri: str) -> Iterator[None]:
    """Turn driver errors into the pipeline's: transient ones (connection lost, primary stepped
    down, codes in ``TRANSIENT_CODES``) into ``TransientError``, any other refusal into a
    one-line ``ServerError`` naming the operation, the code and the server's message (never its
    internal reply fields)."""
    try:
        yield
    except TRANSIENT as exc:
        raise TransientError(f"{operation} failed: {scrub(str(exc), uri)}") from exc
    except OperationFailure as exc:
        message = scrub(str((exc.details or {}).get("errmsg") or exc), uri).split(", full error:")[
            0
        ]
        if exc.code in TRANSIENT_CODES:
            raise TransientError(f"{operation}: code {exc.code}: {message}") from exc
        raise ServerError(f"MongoDB refused {operation}: code {exc.code}: {message}") from exc


@dataclass(frozen=True)
class MongoTarget:
    """Where observations go and how they are written. ``uri`` may hold credentials (and TLS,
    ``replicaSet``, ``retryWrites`` options): it is never printed or logged.

    ``write_w`` is ``"majority"``, a number of members (``"1"``) or a tag set name; ``journal``
    waits for the journal; ``wtimeout_ms`` bounds the wait. ``attempts`` and ``backoff_s`` govern
    the per-batch retry of transient failures. ``validation`` says who checks documents against
    the collection's ``$jsonSchema``: ``"client"`` (the loader, vectorised, then writes with
    ``bypassDocumentValidation``) or ``"server"``. ``network_index`` and ``geo_index`` add the
    seed's optional measurement indexes (see ``collections.measurement_indexes``).
    """

    uri: str = field(repr=False)
    database: str = "forecast_2_0"
    collection: str = "weather_measurements"
    stations_collection: str = "stations"
    batch_size: int = 1000
    batch_bytes: int = 8 * 1024 * 1024
    write_w: str = "majority"
    journal: bool = True
    wtimeout_ms: int = 30_000
    attempts: int = 5
    backoff_s: float = 0.5
    validation: str = "client"
    network_index: bool = False
    geo_index: bool = False

    def write_concern(self) -> WriteConcern:
        """Return the write concern of loads."""
        w: int | str = int(self.write_w) if self.write_w.isdigit() else self.write_w
        return WriteConcern(w=w, j=self.journal, wtimeout=self.wtimeout_ms)

    @property
    def display(self) -> str:
        """Return a printable description with credentials removed."""
        return f"{redact(self.uri)} {self.database}.{self.collection}"


# Everything between "scheme://" and the LAST "@" is user info: passwords are often typed with
# an unescaped "@", and a mistyped scheme must not print them either. Over-redacting a URI whose
# query holds an "@" is the safe failure.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@")


def redact(uri: str) -> str:
    """Return ``uri`` without its user:password part, whatever the scheme."""
    return _USERINFO.sub(r"\1***@", uri, count=1)


def scrub(text: str, uri: str) -> str:
    """Return ``text`` with the URI's user info, and its password alone, replaced by ***."""
    found = _USERINFO.match(uri)
    if not found:
        return text
    userinfo = found.group(2)
    secrets = sorted({userinfo, userinfo.partition(":")[2]} - {""}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _reason(message: str) -> str:
    """The driver's reason for a failed server selection, without its topology dump."""
    for marker in (" (configured timeouts", ", Timeout:", ", Topology Description"):
        message = message.split(marker, 1)[0]
    return message


@contextmanager
def connect(
    target: MongoTarget, *, timeout_ms: int = 10_000, **driver_options: Any
) -> Iterator[MongoClient[Any]]:
    """Yield a connected client (tz-aware datetimes); unreachable servers raise TransientError.

    ``timeout_ms`` bounds server selection unless the URI sets ``serverSelectionTimeoutMS``;
    ``driver_options`` go to ``MongoClient`` (e.g. ``event_listeners``, ``appname``).
    """
    options: dict[str, Any] = {"tz_aware": True, "appname": "forecast-2-0", **driver_options}
    if "serverselectiontimeoutms" not in target.uri.lower():  # the URI's own setting wins
        options["serverSelectionTimeoutMS"] = timeout_ms
    try:
        client: MongoClient[Any] = MongoClient(target.uri, **options)
    except (
        PyMongoError,
        ValueError,
    ) as exc:  # InvalidURI, ConfigurationError; bad ports: ValueError
        raise ConfigurationError(
            f"invalid MongoDB URI {redact(target.uri)}: {scrub(str(exc), target.uri)}"
        ) from exc
    try:
        client.admin.command("ping")
        yield client
    except OperationFailure as exc:
        if exc.code not in _AUTH_FAILURES:
            raise
        raise ConfigurationError(
            f"MongoDB at {redact(target.uri)} refused the credentials of the URI "
            f"(code {exc.code}: {exc.details.get('errmsg') if exc.details else exc})"
        ) from None
    except ServerSelectionTimeoutError as exc:
        raise TransientError(
            f"MongoDB at {redact(target.uri)} is unreachable: {_reason(scrub(str(exc), target.uri))}"
        ) from exc
    finally:
        client.close()
