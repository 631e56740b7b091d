"""Ingest: landing objects -> immutable raw-zone objects keyed by source, date and sha256.

Layout of the raw zone (keys relative to the zone's storage):

* ``source=<source>/ingest_date=<YYYY-MM-DD>/<sha256><suffix>``: the bytes as received, written
  with a conditional put, so nothing is ever overwritten. The key is bounded whatever the
  landing name (only a short suffix of it is kept: ``.json``, ``.jsonl.gz``); the names an
  object arrived under are in the manifests;
* ``_index/sha256=<sha256>.json``: one marker per distinct content, also a conditional put. It
  is the claim: of two concurrent runs seeing the same new file, exactly one writes the marker
  and both then use the key it records, so the object exists once. A claim whose object never
  landed (a crash in between) is repaired by the next run that sees the file. The marker holds
  what the content is (its source, container and, for an Airbyte object, its records' digest),
  never what a name says: each landing name is read on its own (``content_key``);
* ``_spans/sha256=<sha256>.json``: stations and observation time span of a parsed content, so a
  windowed run skips raw objects that cannot hold observations it needs;
* ``_manifests/ingest_date=<YYYY-MM-DD>/run=<run id>.json``: one record per landing file per run.

What an object is comes from its bytes (``forecast.sources.containers``): a file of its source's
format, or an Airbyte object, whose source its first records tell (``registry.recognise``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from forecast.errors import DataContractError, SourceFormatError, TransientError, one_line
from forecast.lake.landing import Landing, LandingFile, LocalLanding
from forecast.lake.store import Lake
from forecast.sources import containers, registry
from forecast.sources.containers import Container
from forecast.sources.limits import DEFAULT_LIMITS, Limits

RAW = "raw"
DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024
BLOCK = 1024 * 1024
UNRECOGNISED = "unrecognised"
"""The source of a raw object whose content no source recognised (its parse is not tried)."""
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class RawObject:
    """A raw-zone object and how this run came by it.

    ``name`` is the landing name (a file's own name; an Airbyte object's key below the landing,
    ``<stream>/<file>``), ``stream`` an Airbyte object's stream (its folder). What the content
    is (``source``, ``container``, ``compression``, ``content``: the sha256 of a file, the digest
    of an Airbyte object's records without their envelopes, ``records``) is the first claim's;
    ``content_key`` identifies what this landing name's parse gives (``content_key``). ``error``
    says why an input was refused (not stored), ignored, or stored but not recognised.
    """

    source: str
    name: str
    raw_key: str
    sha256: str
    size: int
    ingested_at: str
    run_id: str
    status: str  # "ingested" | "already_ingested" | "refused" (not copied) | "ignored"
    landing: str = ""
    error: str | None = None
    container: str = containers.FILE
    compression: str = ""
    stream: str = ""
    content: str = ""
    records: int = 0
    content_key: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return the record as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> RawObject:
        """Build a record from stored JSON, ignoring fields this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]

    @property
    def container_of(self) -> Container:
        """How the object holds its records."""
        return Container(self.container, self.compression)

    @property
    def stored(self) -> bool:
        """True when the raw zone holds the object (ingested now or before)."""
        return self.status in ("ingested", "already_ingested")

    @property
    def identity(self) -> str:
        """What tells two inputs apart: the content key, or for an input with no content (refused,
        ignored) its landing location."""
        return self.content_key or f"input:{self.landing or self.name}"


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


def discover(directory: Path) -> tuple[list[LandingFile], list[tuple[str, str]]]:
    """Return the source files under a local landing directory and the names it ignored, each
    with why."""
    return LocalLanding(directory).list()


def stored_suffix(name: str) -> str:
    """Return the short suffix of a landing name a raw key keeps (``.json``, ``.jsonl.gz``)."""
    kept: list[str] = []
    for suffix in reversed(PurePosixPath(name).suffixes[-2:]):
        if not _SUFFIX.match(suffix.lower()):
            break
        kept.insert(0, suffix.lower())
    return "".join(kept)


def raw_key(source: str, ingest_date: str, sha256: str, name: str) -> str:
    """Return the raw-zone key of a content first seen under ``name``: bounded, whatever the
    name (its sha256 and short suffix)."""
    return f"source={source}/ingest_date={ingest_date}/{sha256}{stored_suffix(name)}"


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


@dataclass(frozen=True)
class Landed:
    """Where an input was found: its landing location and its path below the landing."""

    origin: str
    relative: str

    @property
    def stream(self) -> str:
        """The folder an object is in below the landing: an Airbyte stream's name."""
        parent = PurePosixPath(self.relative).parent.name
        return "" if parent in ("", ".") else parent

    def name(self, container: str) -> str:
        """The input's name: a file's own name, an Airbyte object's path below the landing
        (``<stream>/<file>``: every object of a sync has the same kind of name)."""
        return (
            self.relative if container in containers.AIRBYTE else PurePosixPath(self.relative).name
        )


def ingest_file(
    lake: Lake,
    landing: Landing,
    file: LandingFile,
    *,
    run_id: str,
    now: datetime,
    scratch: Path | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    limits: Limits = DEFAULT_LIMITS,
    streams: Mapping[str, str] | None = None,
) -> RawObject:
    """Copy a landing file into the raw zone unless the same content is already there.

    The file is streamed through ``scratch`` (a local directory, default the system temporary
    one): downloaded, hashed, recognised and stored in bounded blocks, never held in memory
    whole. A file larger than ``max_bytes`` is refused (not read, not copied); the landing file
    is left as it is and the record says why.
    """
    where = Landed(file.location, file.relative)
    name = file.relative or file.name
    if file.refusal is not None:  # a link, or not a regular file: never read
        return refused(name, file.location, run_id, now, file.refusal)
    if file.size > max_bytes:  # the listing's size: refused without being read
        return refused(
            file.name, file.location, run_id, now, too_large(file.size, max_bytes), size=file.size
        )
    scratch = scratch or Path(tempfile.gettempdir())
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="landing-") as spool:
        local = Path(spool) / "content"
        try:
            landing.download(file, local)
        except OSError as exc:  # this file alone: a permission, gone since the listing
            error = f"cannot be read: {one_line(exc)}"
            return refused(name, file.location, run_id, now, error, size=file.size)
        size = local.stat().st_size
        if size > max_bytes:  # grew since it was listed
            return refused(
                file.name, file.location, run_id, now, too_large(size, max_bytes), size=size
            )
        return ingest_path(
            lake, local, landed=where, run_id=run_id, now=now, limits=limits, streams=streams or {}
        )


def ingest_path(
    lake: Lake,
    path: Path,
    *,
    landed: Landed,
    run_id: str,
    now: datetime,
    limits: Limits = DEFAULT_LIMITS,
    streams: Mapping[str, str] | None = None,
) -> RawObject:
    """Store a local file in the raw zone once (claim-first, conditional writes), streamed, and
    return this landing's record of it."""
    sha256 = sha256_of(path)
    stored = _stored(lake, sha256)
    claimed = False
    if stored is None:
        content = recognise(path, landed.relative, sha256, limits)
        content = dataclasses.replace(
            content, name=landed.name(content.container),
            raw_key=raw_key(content.source, now.date().isoformat(), sha256, landed.relative),
            size=path.stat().st_size, ingested_at=now.isoformat(), run_id=run_id,
            landing=landed.origin,
        )  # fmt: skip
        stored, claimed = _claim(lake, content)
    if not lake.exists(RAW, stored.raw_key):
        lake.put_file_new(RAW, stored.raw_key, path)  # first copy, or repair of an unfinished claim
    return _landed(stored, landed, run_id, claimed, streams or {})


def ingest_bytes(
    lake: Lake, content: bytes, *, source: str, name: str, origin: str, run_id: str, now: datetime
) -> RawObject:
    """Store ``content`` (a document of ``source``, e.g. an API response) in the raw zone once
    (claim-first, conditional writes); see the module doc."""
    sha256 = hashlib.sha256(content).hexdigest()
    stored = _stored(lake, sha256)
    claimed = False
    if stored is None:
        record = RawObject(
            source=source, name=name, raw_key=raw_key(source, now.date().isoformat(), sha256, name),
            sha256=sha256, size=len(content), ingested_at=now.isoformat(), run_id=run_id,
            status="ingested", landing=origin, content=sha256,
        )  # fmt: skip
        stored, claimed = _claim(lake, record)
    if not lake.exists(RAW, stored.raw_key):
        lake.write_new(RAW, stored.raw_key, content)  # first copy, or repair of an unfinished claim
    return _landed(stored, Landed(origin, name), run_id, claimed, {})


def recognise(path: Path, name: str, sha256: str, limits: Limits) -> RawObject:
    """Return what a landing object's content is: its container, its source and, for an Airbyte
    object, its records' digest (``containers.survey``). A content no source recognises gets
    ``source = UNRECOGNISED`` and the reason in ``error``: it is stored, not parsed."""
    facts = RawObject(
        source=UNRECOGNISED, name=name, raw_key="", sha256=sha256, size=0, ingested_at="",
        run_id="", status="ingested", content=sha256,
    )  # fmt: skip
    try:
        container, head = containers.sniff(path, name, max_bytes=limits.max_uncompressed_bytes)
        facts = dataclasses.replace(
            facts, container=container.kind, compression=container.compression
        )
        if not container.airbyte:
            return dataclasses.replace(facts, source=registry.recognise_file(head, name).name)
        with containers.open_content(
            lambda: path.open("rb"), container, name, limits.max_uncompressed_bytes
        ) as stream:
            found = containers.survey(
                stream, container, name, max_record_bytes=limits.max_file_bytes
            )
        source = registry.recognise_records(found.fields, name, found.records)
    except SourceFormatError as exc:
        return dataclasses.replace(facts, error=str(exc))
    return dataclasses.replace(
        facts, source=source.name, content=found.digest, records=found.records
    )


def content_key(record: RawObject, streams: Mapping[str, str]) -> str:
    """Return what identifies a landing input's parse: its content (an Airbyte object's records,
    not its envelopes) and what its name says to its source (a Weather Underground station).

    Two names with the same bytes are one content only when their names say the same: a
    station resolved from one file name is never inherited by another.
    """
    context = (
        registry.source(record.source).context(record.name, record.stream, streams)
        if record.source in registry.SOURCES
        else record.name
    )
    text = f"{record.content or record.sha256}|{record.source}|{context}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _stored(lake: Lake, sha256: str) -> RawObject | None:
    """Return the raw zone's record of a content (its first claim), or None if never claimed."""
    stored = lake.read_json_if_present(RAW, index_key(sha256))
    return None if stored is None else RawObject.from_dict(stored)


def _claim(lake: Lake, content: RawObject) -> tuple[RawObject, bool]:
    """Claim a content in the raw zone's index (conditional write); return the claim's record
    and whether this call made it (False: a concurrent or earlier run did)."""
    if lake.write_new(RAW, index_key(content.sha256), _json(content.to_dict())):
        return content, True
    return RawObject.from_dict(lake.read_json(RAW, index_key(content.sha256))), False


def _landed(
    stored: RawObject, landed: Landed, run_id: str, claimed: bool, streams: Mapping[str, str]
) -> RawObject:
    """This landing's record of a stored content: its own name, stream and content key."""
    airbyte = stored.container in containers.AIRBYTE
    record = dataclasses.replace(
        stored,
        name=landed.name(stored.container),
        stream=landed.stream if airbyte else "",
        landing=landed.origin, run_id=run_id,
        status="ingested" if claimed else "already_ingested",
    )  # fmt: skip
    return dataclasses.replace(record, content_key=content_key(record, streams))


def refused(
    name: str,
    origin: str,
    run_id: str,
    now: datetime,
    error: str,
    size: int = 0,
    *,
    source: str = "",
) -> RawObject:
    """Return the record of an input that was not stored (too large, unreadable, or never
    received)."""
    return RawObject(source, name, "", "", size, now.isoformat(), run_id, "refused", origin, error)


def ignored(name: str, origin: str, run_id: str, now: datetime, reason: str) -> RawObject:
    """Return the record of a landing object the run did not read, with why."""
    return RawObject("", name, "", "", 0, now.isoformat(), run_id, "ignored", origin, reason)


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
    span = lake.read_json_if_present(RAW, span_key(sha256))
    return None if span is None else Span.from_dict(span)


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
    """Return one record per distinct content key (two identical landing inputs parse once;
    the same bytes under names that say different things are two).

    Inputs with no content (refused, ignored) are all kept.
    """
    seen: dict[str, RawObject] = {}
    for record in records:
        seen.setdefault(record.identity, record)
    return list(seen.values())
