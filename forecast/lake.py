"""The data lake: one adapter over any Prefect-style filesystem (local directory or S3 bucket).

The adapter only needs ``read_path(path) -> bytes`` and ``write_path(path, content)``, which
Prefect's ``LocalFileSystem`` and prefect-aws's ``S3Bucket`` both provide, so local runs and
production share this code path; which storage backs each zone is configuration (a block).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from forecast.errors import TransientError

ZONES = ("raw", "processed", "rejected", "reports")


class FileSystem(Protocol):
    """What the lake needs of a storage backend."""

    def read_path(self, path: str) -> bytes: ...

    def write_path(self, path: str, content: bytes) -> Any: ...


def _is_missing(exc: Exception) -> bool:
    """Return True when a backend's exception means "no object at that path"."""
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, ValueError):  # prefect LocalFileSystem: "Path ... does not exist."
        return "does not exist" in str(exc)
    error = getattr(exc, "response", {}).get("Error", {})  # botocore ClientError
    return str(error.get("Code")) in {"404", "NoSuchKey", "NotFound"}


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    error = getattr(exc, "response", {}).get("Error", {})
    return str(error.get("Code")) in {
        "500",
        "502",
        "503",
        "504",
        "SlowDown",
        "RequestTimeout",
        "InternalError",
    }


class Lake:
    """Read and write objects in the lake's zones through per-zone filesystems."""

    def __init__(self, zones: Mapping[str, FileSystem]) -> None:
        unknown = set(zones) - set(ZONES)
        if unknown or set(zones) != set(ZONES):
            raise ValueError(f"a lake needs exactly the zones {ZONES}, got {sorted(zones)}")
        self._zones = dict(zones)

    def read(self, zone: str, key: str) -> bytes:
        """Return the bytes at ``key`` in ``zone``.

        Raises:
            FileNotFoundError: there is no such object.
            TransientError: the backend failed in a way worth retrying.
        """
        try:
            return self._zones[zone].read_path(key)
        except Exception as exc:  # backends raise their own types; translate the two we know
            if _is_missing(exc):
                raise FileNotFoundError(f"{zone}/{key}") from exc
            if _is_transient(exc):
                raise TransientError(f"reading {zone}/{key} failed: {exc}") from exc
            raise

    def exists(self, zone: str, key: str) -> bool:
        """Return True if an object exists at ``key`` (meant for small marker objects)."""
        try:
            self.read(zone, key)
        except FileNotFoundError:
            return False
        return True

    def write(self, zone: str, key: str, content: bytes) -> str:
        """Write ``content`` at ``key`` in ``zone`` and return the key."""
        try:
            self._zones[zone].write_path(key, content)
        except Exception as exc:
            if _is_transient(exc):
                raise TransientError(f"writing {zone}/{key} failed: {exc}") from exc
            raise
        return key

    def write_json(self, zone: str, key: str, value: Any) -> str:
        """Write ``value`` as indented UTF-8 JSON."""
        return self.write(
            zone, key, json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        )

    def read_json(self, zone: str, key: str) -> Any:
        """Return the JSON value at ``key``."""
        return json.loads(self.read(zone, key))

    def write_parquet(self, zone: str, key: str, table: pa.Table) -> str:
        """Write ``table`` as a zstd-compressed Parquet object."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        return self.write(zone, key, buffer.getvalue())

    def read_parquet(self, zone: str, key: str) -> pa.Table:
        """Return the Parquet object at ``key`` as a table."""
        return pq.read_table(io.BytesIO(self.read(zone, key)))
