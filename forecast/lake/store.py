"""The data lake: one adapter over any Prefect-style filesystem (local directory or S3 bucket).

The adapter only needs ``read_path(path) -> bytes`` and ``write_path(path, content)``, which
Prefect's ``LocalFileSystem`` and prefect-aws's ``S3Bucket`` both provide, so local runs and
production share this code path; which storage backs each zone is configuration (a block).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from forecast.errors import TransientError

ZONES = ("raw", "processed", "rejected", "reports")


class FileSystem(Protocol):
    """What every storage block provides (Prefect ``WritableFileSystem``)."""

    def read_path(self, path: str) -> bytes: ...

    def write_path(self, path: str, content: bytes) -> Any: ...


def _is_missing(exc: Exception) -> bool:
    """Return True when a backend's exception means "no object at that path"."""
    if isinstance(exc, FileNotFoundError):
        return True
    if isinstance(exc, ValueError):  # prefect LocalFileSystem: "Path ... does not exist."
        return "does not exist" in str(exc)
    return _error_code(exc) in {"404", "NoSuchKey", "NotFound"}


def _error_code(exc: BaseException) -> str:
    """Return a botocore ClientError's error code ("" for other exceptions)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return _error_code(exc) in {
        "500",
        "502",
        "503",
        "504",
        "SlowDown",
        "RequestTimeout",
        "InternalError",
        "ConditionalRequestConflict",
    }


class BlockZone:
    """A zone backed by a filesystem block; reads and writes go through the block itself."""

    def __init__(self, block: FileSystem) -> None:
        self.block = block

    def read(self, key: str) -> bytes:
        """Return the object's bytes (FileNotFoundError if absent, TransientError to retry)."""
        try:
            return self.block.read_path(key)
        except Exception as exc:  # backends raise their own types; translate the two we know
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            if _is_transient(exc):
                raise TransientError(f"reading {key} failed: {exc}") from exc
            raise

    def write(self, key: str, content: bytes) -> None:
        """Write (or replace) the object."""
        try:
            self.block.write_path(key, content)
        except Exception as exc:
            if _is_transient(exc):
                raise TransientError(f"writing {key} failed: {exc}") from exc
            raise

    def exists(self, key: str) -> bool:
        """Return True if the object exists (generic backends: by reading it)."""
        try:
            self.read(key)
        except FileNotFoundError:
            return False
        return True

    def write_new(self, key: str, content: bytes) -> bool:
        """Write the object only if absent; return False if it already existed.

        Generic backends cannot do this atomically; LocalZone and S3Zone can.
        """
        if self.exists(key):
            return False
        self.write(key, content)
        return True

    def list(self, prefix: str = "") -> list[str]:
        """Return the keys under ``prefix``."""
        raise TypeError(f"{type(self.block).__name__} cannot list objects")

    def put_file_new(self, key: str, path: Path) -> bool:
        """Store the local file ``path`` at ``key`` only if absent (generic: read whole)."""
        return self.write_new(key, path.read_bytes())

    def put_file(self, key: str, path: Path) -> None:
        """Store (or replace) the local file ``path`` at ``key`` (generic: read whole)."""
        self.write(key, path.read_bytes())

    def get_file(self, key: str, target: Path) -> None:
        """Copy the object at ``key`` to the local file ``target`` (generic: read whole)."""
        target.write_bytes(self.read(key))

    def uri(self, key: str) -> str:
        """Where the object is, for a person (generic backends: the key itself)."""
        return key


class LocalZone(BlockZone):
    """A zone in a local directory (Prefect ``LocalFileSystem``, or anything with ``basepath``)."""

    @property
    def root(self) -> Path:
        return Path(str(getattr(self.block, "basepath", "") or ".")).expanduser().resolve()

    def exists(self, key: str) -> bool:
        return (self.root / key).is_file()

    def write(self, key: str, content: bytes) -> None:
        """Write (or replace) the object atomically: a temporary file beside it, then a rename,
        so a reader (or a full disk) never sees half of it."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as handle:
            temporary = Path(handle.name)
        try:
            temporary.write_bytes(content)
            temporary.replace(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        shutil.copyfile(path, partial)  # copied in blocks, then renamed: readers see all or nothing
        partial.replace(target)

    def write_new(self, key: str, content: bytes) -> bool:
        # Write a temporary file, then hard-link it into place: link() fails if the target
        # exists, so two writers can never both "create" the object, nor leave half a file.
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as handle:
            handle.write(content)
        try:
            os.link(handle.name, target)
        except FileExistsError:
            return False
        finally:
            Path(handle.name).unlink()
        return True

    def list(self, prefix: str = "") -> list[str]:
        base = self.root
        found = (p for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(
            k for k in (p.relative_to(base).as_posix() for p in found) if k.startswith(prefix)
        )

    def put_file_new(self, key: str, path: Path) -> bool:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as handle:
            temporary = Path(handle.name)
        shutil.copyfile(path, temporary)
        try:
            os.link(temporary, target)
        except FileExistsError:
            return False
        finally:
            temporary.unlink()
        return True

    def get_file(self, key: str, target: Path) -> None:
        try:
            shutil.copyfile(self.root / key, target)
        except FileNotFoundError as exc:
            raise FileNotFoundError(key) from exc

    def path(self, key: str) -> Path:
        """The object's local path (a local zone's objects are files already)."""
        return self.root / key

    def uri(self, key: str) -> str:
        return (self.root / key).as_uri()


class S3Zone(BlockZone):
    """A zone in an S3 bucket (prefect-aws ``S3Bucket``): conditional writes with If-None-Match."""

    def _client(self) -> Any:
        return self.block.credentials.get_s3_client()  # type: ignore[attr-defined]

    def _key(self, key: str) -> str:
        folder = str(getattr(self.block, "bucket_folder", "") or "").strip("/")
        return f"{folder}/{key}" if folder else key

    @property
    def bucket(self) -> str:
        return str(self.block.bucket_name)  # type: ignore[attr-defined]

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        try:
            self._client().head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_missing(exc):
                return False
            if _is_transient(exc):
                raise TransientError(f"checking {key} failed: {exc}") from exc
            raise
        return True

    def write_new(self, key: str, content: bytes) -> bool:
        return self._put_new(key, content)

    def put_file_new(self, key: str, path: Path) -> bool:
        with path.open("rb") as body:  # streamed by botocore, not read into memory
            return self._put_new(key, body)

    def put_file(self, key: str, path: Path) -> None:
        try:
            with path.open("rb") as body:  # streamed by botocore, not read into memory
                self._client().put_object(Bucket=self.bucket, Key=self._key(key), Body=body)
        except Exception as exc:
            if _is_transient(exc):
                raise TransientError(f"writing {key} failed: {exc}") from exc
            raise

    def _put_new(self, key: str, body: Any) -> bool:
        """Put ``body`` at ``key`` unless an object is there (conditional put); False if one was."""
        try:
            self._client().put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, IfNoneMatch="*"
            )
        except Exception as exc:
            if _error_code(exc) in {"PreconditionFailed", "412"}:
                return False
            if _is_transient(exc):
                raise TransientError(f"writing {key} failed: {exc}") from exc
            raise
        return True

    def get_file(self, key: str, target: Path) -> None:
        try:
            self._client().download_file(self.bucket, self._key(key), str(target))
        except Exception as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            if _is_transient(exc):
                raise TransientError(f"reading {key} failed: {exc}") from exc
            raise

    def list(self, prefix: str = "") -> list[str]:
        folder = self._key("")
        pages = (
            self._client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=folder + prefix)
        )
        return sorted(
            item["Key"][len(folder) :] for page in pages for item in page.get("Contents", [])
        )


def zone_for(storage: Any) -> BlockZone:
    """Return the zone adapter for a storage block (S3Bucket, LocalFileSystem, other)."""
    if isinstance(storage, BlockZone):
        return storage
    if hasattr(storage, "bucket_name") and hasattr(storage, "credentials"):
        return S3Zone(storage)
    if hasattr(storage, "basepath"):
        return LocalZone(storage)
    return BlockZone(storage)


class Lake:
    """Read and write objects in the lake's zones through per-zone filesystems."""

    def __init__(self, zones: Mapping[str, Any]) -> None:
        if set(zones) != set(ZONES):
            raise ValueError(f"a lake needs exactly the zones {ZONES}, got {sorted(zones)}")
        self._zones = {name: zone_for(storage) for name, storage in zones.items()}

    def read(self, zone: str, key: str) -> bytes:
        """Return the bytes at ``key`` in ``zone``.

        Raises:
            FileNotFoundError: there is no such object.
            TransientError: the backend failed in a way worth retrying.
        """
        try:
            return self._zones[zone].read(key)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{zone}/{key}") from exc

    def exists(self, zone: str, key: str) -> bool:
        """Return True if an object exists at ``key``."""
        return self._zones[zone].exists(key)

    def write(self, zone: str, key: str, content: bytes) -> str:
        """Write ``content`` at ``key`` in ``zone`` (replacing it) and return the key."""
        self._zones[zone].write(key, content)
        return key

    def write_file(self, zone: str, key: str, path: Path) -> str:
        """Store the local file ``path`` at ``key`` in ``zone`` (replacing it), streamed where the
        backend can; return the key."""
        self._zones[zone].put_file(key, path)
        return key

    def uri(self, zone: str, key: str) -> str:
        """Return where ``key`` in ``zone`` is: ``file://`` or ``s3://`` URI (the key otherwise)."""
        return self._zones[zone].uri(key)

    def write_new(self, zone: str, key: str, content: bytes) -> bool:
        """Write ``content`` only if nothing is at ``key``; return whether it was written."""
        return self._zones[zone].write_new(key, content)

    def list(self, zone: str, prefix: str = "") -> list[str]:
        """Return the keys under ``prefix`` in ``zone``."""
        return self._zones[zone].list(prefix)

    def put_file_new(self, zone: str, key: str, path: Path) -> bool:
        """Store a local file at ``key`` only if nothing is there (streamed where the backend
        can); return whether it was written."""
        return self._zones[zone].put_file_new(key, path)

    def local_copy(self, zone: str, key: str, scratch: Path) -> Path:
        """Return a local path holding the object: the object itself for a local zone, else a
        streamed download into ``scratch``.

        Raises:
            FileNotFoundError: there is no such object.
        """
        backend = self._zones[zone]
        if isinstance(backend, LocalZone):
            path = backend.path(key)
            if not path.is_file():
                raise FileNotFoundError(f"{zone}/{key}")
            return path
        target = scratch / key.replace("/", "_")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            backend.get_file(key, target)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{zone}/{key}") from exc
        return target

    def write_parquet_file(self, zone: str, key: str, path: Path) -> str:
        """Store a local Parquet file at ``key`` (replacing it)."""
        self._zones[zone].write(key, path.read_bytes())
        return key

    def write_json(self, zone: str, key: str, value: Any) -> str:
        """Write ``value`` as indented UTF-8 JSON."""
        return self.write(
            zone, key, json.dumps(value, indent=2, sort_keys=True, default=str).encode()
        )

    def read_json(self, zone: str, key: str) -> Any:
        """Return the JSON value at ``key``."""
        return json.loads(self.read(zone, key))

    def read_json_if_present(self, zone: str, key: str) -> Any | None:
        """Return the JSON value at ``key``, or None when no object is there: for records whose
        absence is an answer (never claimed, never parsed). Other failures raise as ``read``."""
        with contextlib.suppress(FileNotFoundError):
            return self.read_json(zone, key)
        return None

    def write_parquet(self, zone: str, key: str, table: pa.Table) -> str:
        """Write ``table`` as a zstd-compressed Parquet object."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        return self.write(zone, key, buffer.getvalue())

    def read_parquet(self, zone: str, key: str) -> pa.Table:
        """Return the Parquet object at ``key`` as a table."""
        return pq.read_table(io.BytesIO(self.read(zone, key)))
