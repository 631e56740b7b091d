"""Landing areas: where source files arrive (a local directory or an S3 prefix).

Airbyte wrote to ``s3://<bucket>/airbyte-sync/infoclimat/`` (JSON) and
``s3://<bucket>/airbyte-sync/wunderground/`` (workbooks); a landing URI names a directory or a
prefix, searched recursively, and files are classified by suffix. The S3 client is given by the
caller (built from a prefect-aws credentials block), so this module never constructs clients.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from forecast.errors import ConfigurationError, TransientError
from forecast.lake.store import _error_code, _is_transient
from forecast.sources.registry import for_file_name


@dataclass(frozen=True)
class LandingConfig:
    """Where a run's landing area is and how to reach it (no secrets: a block is named)."""

    uri: str
    aws_block: str | None = None
    endpoint_url: str | None = None
    max_file_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class LandingFile:
    """A file waiting in a landing area."""

    location: str  # a local path or s3://bucket/key
    source: str
    size: int = 0

    @property
    def name(self) -> str:
        """The file's own name (last path component)."""
        return PurePosixPath(self.location.replace("\\", "/")).name


def classify(name: str) -> str | None:
    """Return the source a file name belongs to, or None for other files."""
    if PurePosixPath(name).name.startswith((".", "~$")):
        return None
    found = for_file_name(name)
    return found.name if found else None


class Landing(Protocol):
    """What the ingest needs of a landing area."""

    uri: str

    def list(self) -> tuple[list[LandingFile], list[str]]: ...

    def read(self, file: LandingFile) -> bytes: ...

    def download(self, file: LandingFile, target: Path) -> None: ...


class LocalLanding:
    """A landing directory on this machine."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.uri = str(directory)

    def list(self) -> tuple[list[LandingFile], list[str]]:
        """Return the source files under the directory (recursively) and the other names."""
        if not self.directory.is_dir():
            raise ConfigurationError(
                f"landing directory {self.uri!r} does not exist or is not a directory"
            )
        found, ignored = [], []
        for path in sorted(p for p in self.directory.rglob("*") if p.is_file()):
            relative = path.relative_to(self.directory)
            source = (
                None
                if any(part.startswith(".") for part in relative.parts[:-1])
                else classify(path.name)
            )
            if source is None:
                ignored.append(relative.as_posix())
            else:
                found.append(LandingFile(str(path), source, path.stat().st_size))
        return found, ignored

    def read(self, file: LandingFile) -> bytes:
        """Return the file's bytes."""
        return Path(file.location).read_bytes()

    def download(self, file: LandingFile, target: Path) -> None:
        """Copy the file to ``target`` (streamed, in bounded blocks)."""
        shutil.copyfile(file.location, target)


class S3Landing:
    """A landing prefix in an S3 bucket, read with a boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix
        self.uri = f"s3://{bucket}/{prefix}"

    def list(self) -> tuple[list[LandingFile], list[str]]:
        """Return the source objects under the prefix and the other keys."""
        found, ignored = [], []
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
            source = classify(key)
            if source is None:
                ignored.append(key[len(self.prefix) :])
            else:
                found.append(
                    LandingFile(f"s3://{self.bucket}/{key}", source, int(item.get("Size", 0)))
                )
        return found, ignored

    def read(self, file: LandingFile) -> bytes:
        """Return the object's bytes."""
        key = file.location.removeprefix(f"s3://{self.bucket}/")
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise _translate(exc, f"reading {file.location}") from exc

    def download(self, file: LandingFile, target: Path) -> None:
        """Copy the object to ``target`` (a streamed, multipart-capable download)."""
        key = file.location.removeprefix(f"s3://{self.bucket}/")
        try:
            self.client.download_file(self.bucket, key, str(target))
        except Exception as exc:
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
