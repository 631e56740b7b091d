"""Ingest: landing files -> immutable raw-zone objects keyed by source, date and sha256.

Layout of the raw zone (keys are relative to the zone's storage):

* ``source=<source>/ingest_date=<YYYY-MM-DD>/<sha256>-<original name>``: the bytes, as received;
* ``_index/sha256=<sha256>.json``: one marker per distinct content, written after the object, so
  a marker always points at a complete object; a file seen before is not copied again;
* ``_manifests/ingest_date=<YYYY-MM-DD>/run=<run id>.json``: one record per landing file per run.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from forecast.errors import ConfigurationError, DataContractError
from forecast.lake import Lake

SOURCES_BY_SUFFIX = {".json": "infoclimat", ".xlsx": "wunderground"}
RAW = "raw"


@dataclass(frozen=True)
class LandingFile:
    """A file waiting in the landing area."""

    path: Path
    source: str


@dataclass(frozen=True)
class RawObject:
    """A raw-zone object and how this run came by it (one manifest record)."""

    source: str
    name: str
    raw_key: str
    sha256: str
    size: int
    ingested_at: str
    run_id: str
    status: str  # "ingested" (copied by this run) | "already_ingested" (same sha256 seen before)

    def to_dict(self) -> dict[str, object]:
        """Return the manifest record."""
        return asdict(self)


def discover(directory: Path) -> tuple[list[LandingFile], list[str]]:
    """Return the landing files of known sources under ``directory`` (recursively) and the
    relative names of the other files it ignored.

    Raises:
        ConfigurationError: ``directory`` is not a directory.
    """
    if not directory.is_dir():
        raise ConfigurationError(
            f"landing directory {str(directory)!r} does not exist or is not a directory"
        )
    found, ignored = [], []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory)
        source = SOURCES_BY_SUFFIX.get(path.suffix.lower())
        if source is None or any(part.startswith((".", "~$")) for part in relative.parts):
            ignored.append(relative.as_posix())
        else:
            found.append(LandingFile(path, source))
    return found, ignored


def raw_key(source: str, ingest_date: str, sha256: str, name: str) -> str:
    """Return the raw-zone key of a file's content."""
    return f"source={source}/ingest_date={ingest_date}/{sha256}-{name}"


def index_key(sha256: str) -> str:
    """Return the key of the marker that says a content was ingested."""
    return f"_index/sha256={sha256}.json"


def manifest_key(run_id: str, ingest_date: str) -> str:
    """Return the key of a run's ingest manifest."""
    return f"_manifests/ingest_date={ingest_date}/run={run_id}.json"


def ingest_file(lake: Lake, landing: LandingFile, *, run_id: str, now: datetime) -> RawObject:
    """Copy a landing file into the raw zone unless the same content is already there."""
    content = landing.path.read_bytes()
    sha256 = hashlib.sha256(content).hexdigest()
    try:
        previous = lake.read_json(RAW, index_key(sha256))
    except FileNotFoundError:
        previous = None
    if previous is not None:
        return RawObject(**{**previous, "run_id": run_id, "status": "already_ingested"})
    record = RawObject(
        source=landing.source,
        name=landing.path.name,
        raw_key=raw_key(landing.source, now.date().isoformat(), sha256, landing.path.name),
        sha256=sha256,
        size=len(content),
        ingested_at=now.isoformat(),
        run_id=run_id,
        status="ingested",
    )
    lake.write(RAW, record.raw_key, content)
    lake.write_json(RAW, index_key(sha256), record.to_dict())
    return record


def write_manifest(lake: Lake, records: list[RawObject], *, run_id: str, now: datetime) -> str:
    """Write this run's ingest manifest and return its key."""
    key = manifest_key(run_id, now.date().isoformat())
    return lake.write_json(RAW, key, {"run_id": run_id, "files": [r.to_dict() for r in records]})


def read_raw(lake: Lake, record: RawObject) -> bytes:
    """Return a raw object's bytes, checked against its sha256.

    Raises:
        DataContractError: the stored bytes do not match the recorded sha256.
    """
    content = lake.read(RAW, record.raw_key)
    if hashlib.sha256(content).hexdigest() != record.sha256:
        raise DataContractError(
            f"raw object {record.raw_key!r} does not match its sha256 {record.sha256}"
        )
    return content
