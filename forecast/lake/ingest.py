"""Ingest: landing files -> immutable raw-zone objects keyed by source, date and sha256.

Layout of the raw zone (keys relative to the zone's storage):

* ``source=<source>/ingest_date=<YYYY-MM-DD>/<sha256>-<original name>``: the bytes as received,
  written with a conditional put, so nothing is ever overwritten;
* ``_index/sha256=<sha256>.json``: one marker per distinct content, also a conditional put. It
  is the claim: of two concurrent runs seeing the same new file, exactly one writes the marker
  and both then use the key it records, so the object exists once. A claim whose object never
  landed (a crash in between) is repaired by the next run that sees the file;
* ``_spans/sha256=<sha256>.json``: stations and observation time span of a parsed content, so a
  windowed run skips raw objects that cannot hold observations it needs;
* ``_manifests/ingest_date=<YYYY-MM-DD>/run=<run id>.json``: one record per landing file per run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from forecast.errors import DataContractError, TransientError
from forecast.lake.landing import Landing, LandingFile, LocalLanding
from forecast.lake.store import Lake

RAW = "raw"
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class RawObject:
    """A raw-zone object and how this run came by it."""

    source: str
    name: str
    raw_key: str
    sha256: str
    size: int
    ingested_at: str
    run_id: str
    status: str  # "ingested" | "already_ingested" | "refused" (not copied, see error)
    landing: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the record as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> RawObject:
        """Build a record from stored JSON, ignoring fields this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Span:
    """The stations and UTC time span of the observations in one raw object."""

    stations: tuple[str, ...]
    first: datetime | None
    last: datetime | None

    def overlaps(self, start: date | None, end: date | None) -> bool:
        """Return True if the span may hold observations on the inclusive UTC dates."""
        if self.first is None or self.last is None:
            return False
        return (start is None or self.last.date() >= start) and (
            end is None or self.first.date() <= end
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "stations": list(self.stations),
            "first": self.first.isoformat() if self.first else None,
            "last": self.last.isoformat() if self.last else None,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Span:
        def when(value: object) -> datetime | None:
            return datetime.fromisoformat(str(value)) if value else None

        stations = tuple(str(s) for s in values.get("stations") or ())
        return cls(stations, when(values.get("first")), when(values.get("last")))


def discover(directory: Path) -> tuple[list[LandingFile], list[str]]:
    """Return the source files under a local landing directory and the names it ignored."""
    return LocalLanding(directory).list()


def raw_key(source: str, ingest_date: str, sha256: str, name: str) -> str:
    """Return the raw-zone key of a file's content."""
    return f"source={source}/ingest_date={ingest_date}/{sha256}-{name}"


def index_key(sha256: str) -> str:
    """Return the key of the marker that claims a content."""
    return f"_index/sha256={sha256}.json"


def span_key(sha256: str) -> str:
    """Return the key of a content's observation span."""
    return f"_spans/sha256={sha256}.json"


def manifest_key(run_id: str, ingest_date: str) -> str:
    """Return the key of a run's ingest manifest."""
    return f"_manifests/ingest_date={ingest_date}/run={run_id}.json"


def too_large(size: int, max_bytes: int) -> str:
    """The refusal of a file over the size limit, naming the run parameter and the CLI flag."""
    return (
        f"file is {size} bytes, over the limit max_file_bytes = {max_bytes} "
        "(run parameter max_file_bytes, forecast run --max-file-bytes)"
    )


def sha256_of(path: Path) -> str:
    """Return the sha256 of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_file(
    lake: Lake,
    landing: Landing,
    file: LandingFile,
    *,
    run_id: str,
    now: datetime,
    scratch: Path | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> RawObject:
    """Copy a landing file into the raw zone unless the same content is already there.

    The file is streamed through ``scratch`` (a local directory, default the system temporary
    one): downloaded, hashed and
    stored in bounded blocks, never held in memory whole. A file larger than ``max_bytes`` is
    refused (not read, not copied); the landing file is left as it is and the record says why.
    """
    if file.size > max_bytes:  # the listing's size: refused without being read
        error = too_large(file.size, max_bytes)
        return refused(file.source, file.name, file.location, run_id, now, error, size=file.size)
    scratch = scratch or Path(tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="landing-") as spool:
        local = Path(spool) / "content"
        landing.download(file, local)
        size = local.stat().st_size
        if size > max_bytes:  # grew since it was listed
            error = too_large(size, max_bytes)
            return refused(file.source, file.name, file.location, run_id, now, error, size=size)
        return ingest_path(
            lake, local, source=file.source, name=file.name, origin=file.location,
            run_id=run_id, now=now,
        )  # fmt: skip


def ingest_path(
    lake: Lake, path: Path, *, source: str, name: str, origin: str, run_id: str, now: datetime
) -> RawObject:
    """Store a local file in the raw zone once (claim-first, conditional writes), streamed."""
    sha256 = sha256_of(path)
    record = _claim(lake, sha256, path.stat().st_size, source, name, origin, run_id, now)
    if not lake.exists(RAW, record.raw_key):
        lake.put_file_new(RAW, record.raw_key, path)  # first copy, or repair of an unfinished claim
    return record


def ingest_bytes(
    lake: Lake, content: bytes, *, source: str, name: str, origin: str, run_id: str, now: datetime
) -> RawObject:
    """Store ``content`` in the raw zone once (claim-first, conditional writes); see the module doc."""
    sha256 = hashlib.sha256(content).hexdigest()
    record = _claim(lake, sha256, len(content), source, name, origin, run_id, now)
    if not lake.exists(RAW, record.raw_key):
        lake.write_new(RAW, record.raw_key, content)  # first copy, or repair of an unfinished claim
    return record


def _claim(
    lake: Lake,
    sha256: str,
    size: int,
    source: str,
    name: str,
    origin: str,
    run_id: str,
    now: datetime,
) -> RawObject:
    """Claim a content in the raw zone's index (conditional write): this run's record if it is
    new, else the first claim's record marked ``already_ingested`` for this run."""
    record = RawObject(
        source=source, name=name, raw_key=raw_key(source, now.date().isoformat(), sha256, name),
        sha256=sha256, size=size, ingested_at=now.isoformat(), run_id=run_id, status="ingested",
        landing=origin,
    )  # fmt: skip
    if lake.write_new(RAW, index_key(sha256), _json(record.to_dict())):
        return record
    previous = RawObject.from_dict(lake.read_json(RAW, index_key(sha256)))
    return dataclasses.replace(previous, run_id=run_id, status="already_ingested", landing=origin)


def refused(
    source: str, name: str, origin: str, run_id: str, now: datetime, error: str, size: int = 0
) -> RawObject:
    """Return the record of an input that was not stored (too large, or never received)."""
    return RawObject(source, name, "", "", size, now.isoformat(), run_id, "refused", origin, error)


def _json(value: object) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


def local_raw(lake: Lake, record: RawObject, scratch: Path) -> Path:
    """Return a local path holding a raw object (streamed from a remote zone), sha256-checked.

    Raises:
        TransientError: the object is claimed but not written yet (a concurrent run).
        DataContractError: the stored bytes do not match the recorded sha256.
    """
    try:
        path = lake.local_copy(RAW, record.raw_key, scratch)
    except FileNotFoundError as exc:
        raise TransientError(
            f"raw object {record.raw_key!r} is claimed but not written yet"
        ) from exc
    if sha256_of(path) != record.sha256:
        raise DataContractError(
            f"raw object {record.raw_key!r} does not match its sha256 {record.sha256}"
        )
    return path


def read_raw(lake: Lake, record: RawObject) -> bytes:
    """Return a raw object's bytes, checked against its sha256.

    Raises:
        TransientError: the object is claimed but not written yet (a concurrent run).
        DataContractError: the stored bytes do not match the recorded sha256.
    """
    try:
        content = lake.read(RAW, record.raw_key)
    except FileNotFoundError as exc:
        raise TransientError(
            f"raw object {record.raw_key!r} is claimed but not written yet"
        ) from exc
    if hashlib.sha256(content).hexdigest() != record.sha256:
        raise DataContractError(
            f"raw object {record.raw_key!r} does not match its sha256 {record.sha256}"
        )
    return content


def read_span(lake: Lake, sha256: str) -> Span | None:
    """Return the recorded span of a content, or None if it was never parsed."""
    try:
        return Span.from_dict(lake.read_json(RAW, span_key(sha256)))
    except FileNotFoundError:
        return None


def write_span(lake: Lake, sha256: str, span: Span) -> None:
    """Record a content's span (once: the same content always has the same span)."""
    lake.write_new(RAW, span_key(sha256), _json(span.to_dict()))


def write_manifest(
    lake: Lake, entries: list[dict[str, object]], *, run_id: str, now: datetime
) -> str:
    """Write this run's ingest manifest (one entry per landing file) and return its key."""
    key = manifest_key(run_id, now.date().isoformat())
    return lake.write_json(
        RAW, key, {"run_id": run_id, "written_at": now.isoformat(), "files": entries}
    )


def unique_contents(records: list[RawObject]) -> list[RawObject]:
    """Return one record per distinct content (two identical landing files parse once).

    Refused files have no content and are all kept.
    """
    seen: dict[str, RawObject] = {}
    refused = [r for r in records if r.status == "refused"]
    for record in records:
        if record.status != "refused":
            seen.setdefault(record.sha256, record)
    return [*seen.values(), *refused]
