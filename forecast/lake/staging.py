"""Parsed contents staged on local disk, so that a run holds one partition in memory, not all.

A parser hands its rows to a ``ContentWriter`` in bounded chunks; each chunk becomes one
Parquet file in a temporary directory, and ``finish`` moves the directory into place, named by
the content's sha256 and the fingerprint of the code that parsed it, with a ``staged.json``
manifest written last. A complete directory is reused as it is by a later parse of the same
content with the same code (the staging is the parse cache); a parse that fails leaves nothing.

Reading a partition's rows back opens only the chunks that hold its stations.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecast.lake.ingest import RawObject
from forecast.schema import OBSERVATIONS, STATIONS, conform
from forecast.sources.common import file_source
from forecast.sources.limits import Limits
from forecast.sources.registry import source as source_named

MANIFEST = "staged.json"
STATIONS_FILE = "stations.parquet"


@dataclass(frozen=True)
class StagedContent:
    """One parsed content on disk: its chunks, which stations each holds, and its summary."""

    sha256: str
    name: str
    source: str
    raw_key: str
    directory: str
    rows: int
    station_rows: dict[str, int]
    chunks: tuple[tuple[str, tuple[str, ...]], ...]
    first_observation: str | None
    last_observation: str | None
    drift: tuple[str, ...] = ()
    content_key: str = ""

    def stations(self) -> pa.Table:
        """The content's station metadata (``STATIONS``)."""
        return pq.read_table(Path(self.directory) / STATIONS_FILE)

    def rows_of(self, stations: Iterable[str]) -> pa.Table:
        """The content's observations of ``stations`` (only the chunks holding them are read)."""
        wanted = set(stations)
        parts = [
            pq.read_table(Path(self.directory) / file)
            for file, held in self.chunks
            if wanted.intersection(held)
        ]
        if not parts:
            return OBSERVATIONS.empty_table()
        table = pa.concat_tables(parts)
        mask = pc.is_in(table.column("station_id"), value_set=pa.array(sorted(wanted), pa.string()))
        return table.filter(mask)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StagedContent:
        """Rebuild from a manifest."""
        chunks = tuple((str(f), tuple(held)) for f, held in values["chunks"])
        return cls(**{**values, "chunks": chunks, "drift": tuple(values.get("drift") or ())})


@dataclass
class ContentWriter:
    """A parser's sink: chunks to Parquet files in a temporary directory (see the module doc)."""

    target: Path
    scratch: Path = field(init=False)
    chunks: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    station_rows: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    first: Any = None
    last: Any = None

    def __post_init__(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(tempfile.mkdtemp(dir=self.target.parent, prefix=".staging-"))

    def __call__(self, chunk: pa.Table) -> None:
        """Write one chunk of ``OBSERVATIONS`` rows."""
        if not chunk.num_rows:
            return
        chunk = conform(chunk, OBSERVATIONS)
        name = f"chunk-{len(self.chunks):05d}.parquet"
        pq.write_table(chunk, self.scratch / name, compression="zstd")
        counts = pc.value_counts(chunk.column("station_id")).to_pylist()
        for entry in counts:
            station = entry["values"]
            self.station_rows[station] = self.station_rows.get(station, 0) + entry["counts"]
        self.chunks.append((name, tuple(sorted(e["values"] for e in counts))))
        self.rows += chunk.num_rows
        bounds = pc.min_max(chunk.column("timestamp")).as_py()
        if bounds["min"] is not None:
            self.first = bounds["min"] if self.first is None else min(self.first, bounds["min"])
            self.last = bounds["max"] if self.last is None else max(self.last, bounds["max"])

    def finish(
        self, *, sha256: str, name: str, source: str, raw_key: str, stations: pa.Table,
        drift: tuple[str, ...], content_key: str = "",
    ) -> StagedContent:  # fmt: skip
        """Write the stations and the manifest, and move the directory into place."""
        pq.write_table(conform(stations, STATIONS), self.scratch / STATIONS_FILE)
        staged = StagedContent(
            sha256=sha256, name=name, source=source, raw_key=raw_key,
            directory=str(self.target), rows=self.rows, station_rows=dict(self.station_rows),
            chunks=tuple(self.chunks),
            first_observation=self.first.isoformat() if self.first is not None else None,
            last_observation=self.last.isoformat() if self.last is not None else None,
            drift=tuple(drift), content_key=content_key or sha256,
        )  # fmt: skip
        (self.scratch / MANIFEST).write_text(json.dumps(staged.to_dict(), indent=1))
        if self.target.exists():  # a concurrent parse of the same content finished first
            shutil.rmtree(self.scratch, ignore_errors=True)
            return load_staged(self.target) or staged
        self.scratch.rename(self.target)
        return staged

    def discard(self) -> None:
        """Remove what was written (the parse failed)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def staged_directory(root: Path, content_key: str, fingerprint: str) -> Path:
    """Where a content parsed by code ``fingerprint`` is staged under ``root``."""
    return root / "parsed" / f"{content_key}-{fingerprint}"


def load_staged(directory: Path) -> StagedContent | None:
    """Return the staged content in ``directory``, or None if it is not complete there."""
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return None
    values = json.loads(manifest.read_text())
    values["directory"] = str(directory)
    return StagedContent.from_dict(values)


def stage(
    directory: Path,
    parse: Callable[[ContentWriter], tuple[pa.Table, tuple[str, ...]]],
    *,
    sha256: str,
    name: str,
    source: str,
    raw_key: str,
    content_key: str = "",
) -> tuple[StagedContent, bool]:
    """Return the content staged in ``directory``, parsing it first unless already complete.

    ``parse(writer)`` feeds the writer and returns (stations, drift). Returns the staged content
    and whether it was parsed now (False: reused).
    """
    found = load_staged(directory)
    if found is not None:
        return found, False
    writer = ContentWriter(directory)
    try:
        stations, drift = parse(writer)
    except BaseException:
        writer.discard()
        raise
    staged = writer.finish(
        sha256=sha256, name=name, source=source, raw_key=raw_key, stations=stations, drift=drift,
        content_key=content_key,
    )  # fmt: skip
    return staged, True


def remove_staged(contents: Iterable[StagedContent]) -> None:
    """Delete staged contents (once they are loaded and recorded in the ledger)."""
    for content in contents:
        shutil.rmtree(content.directory, ignore_errors=True)


PARSE_CHUNK_ROWS = 20_000


def stage_raw_file(
    path: Path,
    *,
    root: Path,
    fingerprint: str,
    record: RawObject,
    limits: Limits,
    streams: Mapping[str, str],
) -> tuple[StagedContent, bool]:
    """Parse the raw object at ``path`` into staged chunks (or reuse them); see ``stage``.

    The parser (the record's source's, ``registry``) streams the object and the writer puts
    each chunk of at most ``PARSE_CHUNK_ROWS`` rows on disk as it comes, so the parse holds one
    chunk of rows, never the whole object's. A parse that fails after some chunks were written
    leaves nothing (``stage`` discards them). The staging is named by the record's content key:
    the same bytes under a name that says something else parse on their own.
    """

    def parse(writer: ContentWriter) -> tuple[pa.Table, tuple[str, ...]]:
        raw = file_source(
            path, name=record.name, raw_key=record.raw_key, sha256=record.sha256,
            container=record.container_of, stream=record.stream, content_key=record.content_key,
        )  # fmt: skip
        parse_stream = source_named(record.source).parse_stream
        summary = parse_stream(
            raw, writer, limits=limits, chunk_rows=PARSE_CHUNK_ROWS, streams=streams
        )
        return summary.stations, tuple(summary.drift)

    return stage(
        staged_directory(root, record.content_key or record.sha256, fingerprint), parse,
        sha256=record.sha256, name=record.name, source=record.source, raw_key=record.raw_key,
        content_key=record.content_key,
    )  # fmt: skip


@dataclass(frozen=True)
class StagedRun:
    """The run's parsed contents on disk and what partitioning needs of them."""

    contents: tuple[StagedContent, ...]

    def station_rows(self) -> dict[str, int]:
        """Observations per station over every content."""
        total: dict[str, int] = {}
        for content in self.contents:
            for station, count in content.station_rows.items():
                total[station] = total.get(station, 0) + count
        return total

    def stations(self) -> pa.Table:
        """Every station's metadata (a station described by several contents: its last one)."""
        tables = [content.stations() for content in self.contents]
        if not tables:
            return STATIONS.empty_table()
        stations = pa.concat_tables(tables)
        ids = stations.column("station_id").to_pylist()
        last = {station_id: index for index, station_id in enumerate(ids)}
        return stations.take(sorted(last.values()))

    def directories(self) -> list[str]:
        """Where the contents are staged."""
        return [content.directory for content in self.contents]

    def rows_of(self, stations: Iterable[str]) -> pa.Table:
        """Every content's observations of ``stations``."""
        wanted = list(stations)
        parts = [c.rows_of(wanted) for c in self.contents if set(wanted) & set(c.station_rows)]
        return pa.concat_tables(parts) if parts else OBSERVATIONS.empty_table()
