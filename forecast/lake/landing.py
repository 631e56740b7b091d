"""Landing areas: where source files and Airbyte objects arrive (a local directory or an S3
prefix).

Airbyte's S3 destination writes ``<prefix><stream>/<YYYY>_<MM>_<DD>_<epoch>_<part>.<ext>``
(``.jsonl``, ``.csv``, ``.parquet``, ``.avro``, gzip-compressed with ``.gz``); files of a source's
own format keep their names (``.json``, ``.xlsx``, ``.csv``). A landing URI names a directory or
a prefix, searched recursively; what a listed object is, is read from its bytes at ingest. Every
other name is listed as ignored, with why. The S3 client is given by the caller (built from a
prefect-aws credentials block), so this module never constructs clients.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol

from forecast.errors import ConfigurationError, TransientError
from forecast.lake.store import _error_code, _is_missing, _is_transient
from forecast.sources.registry import listed_suffixes


@dataclass(frozen=True)
class LandingConfig:
    """Where a run's landing area is and how to reach it (no secrets: a block is named)."""

    uri: str
    aws_block: str | None = None
    endpoint_url: str | None = None
    max_file_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class LandingFile:
    """An object waiting in a landing area: where it is, its size, its path below the landing;
    ``refusal`` says why it must not be read (a link, not a regular file), if so."""

    location: str  # a local path or s3://bucket/key
    size: int = 0
    relative: str = ""
    refusal: str | None = None

    @property
    def name(self) -> str:
        """The object's own name (last path component)."""
        return PurePosixPath(self.location.replace("\\", "/")).name


Ignored = tuple[str, str]
"""A landing name a run does not read, and why."""


def why_ignored(relative: str) -> str | None:
    """Return why a run does not read the object at ``relative`` below the landing, or None
    when it does."""
    parts = PurePosixPath(relative).parts
    if any(part.startswith(".") for part in parts[:-1]):
        return "in a hidden folder"
    if parts[-1].startswith((".", "~$")):
        return "a hidden or temporary file"
    if not parts[-1].lower().endswith(listed_suffixes()):
        return f"not a type the pipeline reads ({', '.join(listed_suffixes()[:8])}, .gz ...)"
    return None


class Landing(Protocol):
    """What the ingest needs of a landing area."""

    uri: str

    def list(self) -> tuple[list[LandingFile], list[Ignored]]: ...

    def download(self, file: LandingFile, target: Path) -> None: ...


class LocalLanding:
    """A landing directory on this machine.

    Nothing outside it is ever read: a symbolic link (to a file or a folder) is listed as
    refused, never followed, and so is anything that is not a regular file (a FIFO, a device, a
    socket); a file is opened without following a link put in its place since the listing
    (``O_NOFOLLOW``), and only below the landing's real path.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.uri = str(directory)

    def list(self) -> tuple[list[LandingFile], list[Ignored]]:
        """Return the objects under the directory (recursively, links not followed), the refused
        ones with their reason, and the other names, with why."""
        if not self.directory.is_dir():
            raise ConfigurationError(
                f"landing directory {self.uri!r} does not exist or is not a directory"
            )
        found: list[LandingFile] = []
        ignored: list[Ignored] = []
        unlisted: list[OSError] = []
        for folder, folders, names in os.walk(self.directory, onerror=unlisted.append):
            subfolders = set(folders)
            for name in sorted([*folders, *names]):
                path = Path(folder) / name
                relative = path.relative_to(self.directory).as_posix()
                refusal = _not_a_file(path, name in subfolders)
                if refusal is not None:
                    found.append(LandingFile(str(path), 0, relative, refusal))
                elif name not in subfolders:
                    reason = why_ignored(relative)
                    if reason is not None:
                        ignored.append((relative, reason))
                    else:
                        found.append(LandingFile(str(path), path.lstat().st_size, relative))
        for error in unlisted:
            where = Path(str(error.filename)).relative_to(self.directory).as_posix()
            found.append(
                LandingFile(
                    str(error.filename),
                    0,
                    where,
                    f"a folder that cannot be listed: {error.strerror}",
                )
            )
        return sorted(found, key=lambda f: f.relative), ignored

    def download(self, file: LandingFile, target: Path) -> None:
        """Copy the file to ``target`` (streamed, in bounded blocks).

        Raises:
            OSError: the file cannot be read (a permission, a link put in its place, gone).
        """
        with self._open(file) as handle, target.open("wb") as out:
            shutil.copyfileobj(handle, out, 1024 * 1024)

    def _open(self, file: LandingFile) -> BinaryIO:
        path = Path(file.location)
        root = os.path.realpath(self.directory)
        if os.path.commonpath([os.path.realpath(path.parent), root]) != root:
            raise PermissionError(f"{file.relative!r} is not below the landing {self.uri!r}")
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        handle = os.fdopen(descriptor, "rb")
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            handle.close()
            raise PermissionError(f"{file.relative!r} is not a regular file")
        return handle


def _not_a_file(path: Path, folder: bool) -> str | None:
    """Why a landing entry is refused unread (a link, or not a regular file), or None."""
    if path.is_symlink():
        target = path.readlink()
        kind = "folder" if folder or path.is_dir() else "file"
        return f"a symbolic link (to {kind} {str(target)!r}): not read, the landing's objects are read only as themselves"
    if folder:
        return None
    mode = path.lstat().st_mode
    if stat.S_ISREG(mode):
        return None
    kind = next((label for test, label in _SPECIAL if test(mode)), "special file")
    return f"not a regular file (a {kind}): not read"


_SPECIAL = (
    (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)  # fmt: skip


class S3Landing:
    """A landing prefix in an S3 bucket, read with a boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.uri = f"s3://{bucket}/{prefix}"

    def list(self) -> tuple[list[LandingFile], list[Ignored]]:
        """Return the objects under the prefix and the other keys, with why."""
        found: list[LandingFile] = []
        ignored: list[Ignored] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            items = [item for page in pages for item in page.get("Contents", [])]
        except Exception as exc:
            raise _translate(exc, f"listing {self.uri}") from exc
        for item in sorted(items, key=lambda i: i["Key"]):
            key = item["Key"]
            if key.endswith("/"):
                continue
            relative = key[len(self.prefix) :].lstrip("/")
            reason = why_ignored(relative)
            if reason is not None:
                ignored.append((relative, reason))
            else:
                location = f"s3://{self.bucket}/{key}"
                found.append(LandingFile(location, int(item.get("Size", 0)), relative))
        return found, ignored

    def download(self, file: LandingFile, target: Path) -> None:
        """Copy the object to ``target`` (a streamed, multipart-capable download).

        Raises:
            TransientError: worth retrying.
            OSError: this object cannot be read (access denied, gone since the listing).
        """
        key = file.location.removeprefix(f"s3://{self.bucket}/")
        try:
            self.client.download_file(self.bucket, key, str(target))
        except Exception as exc:
            code = _error_code(exc)
            if code in {"AccessDenied", "403"}:
                raise PermissionError(f"reading {file.location} was refused: {code}") from exc
            if _is_missing(exc):
                raise FileNotFoundError(f"{file.location} is gone since it was listed") from exc
            raise _translate(exc, f"reading {file.location}") from exc


def _translate(exc: Exception, doing: str) -> Exception:
    if _is_transient(exc):
        return TransientError(f"{doing} failed: {exc}")
    code = _error_code(exc)
    if code in {
        "NoSuchBucket",
        "AccessDenied",
        "403",
        "404",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }:
        return ConfigurationError(f"{doing} failed: {code}")
    return exc


def split_uri(uri: str) -> tuple[str, str, str]:
    """Return ("s3", bucket, prefix) for s3:// URIs, ("local", path, "") otherwise."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigurationError(f"landing URI {uri!r} has no bucket")
        return "s3", bucket, prefix
    return "local", uri, ""
