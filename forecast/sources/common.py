"""What every source parser shares: a raw object's identity, chunked output, lineage columns.

Streaming parsers (``parse_stream``) read a ``RawSource`` (identity and a way to open its bytes)
and hand conformed observation chunks to a ``ChunkSink``; ``Chunks`` cuts what they produce
into tables of a bounded number of rows, in order.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from forecast.schema import OBSERVATIONS, conform
from forecast.sources.containers import PLAIN_FILE, Container, open_content
from forecast.tables import constant, empty_lists


@dataclass(frozen=True)
class RawFile:
    """The bytes of one raw-zone object and where they came from."""

    name: str
    content: bytes
    raw_key: str
    sha256: str


@dataclass(frozen=True)
class RawSource:
    """A raw object to parse, without its bytes: ``open()`` gives a fresh binary stream of the
    object as stored, ``content()`` of what it holds (decompressed).

    ``container`` says how the object holds its records (a file of the source's format, or an
    Airbyte object), ``stream`` the Airbyte stream it was landed under (its folder), and
    ``content_key`` what its rows are identified by (``forecast.lake.ingest``: the content and
    what its name says; the sha256 when not given).
    """

    name: str
    raw_key: str
    sha256: str
    size: int
    open: Callable[[], ContextManager[BinaryIO]]
    container: Container = PLAIN_FILE
    stream: str = ""
    content_key: str = ""

    def content(self, max_bytes: int) -> ContextManager[BinaryIO]:
        """Return a fresh stream of the object's content, decompressed to at most
        ``max_bytes`` when it is gzip-compressed."""
        return open_content(self.open, self.container, self.name, max_bytes)


@dataclass(frozen=True)
class StreamSummary:
    """What a streamed parse found besides its rows."""

    stations: pa.Table  # forecast.schema.STATIONS, as today's Parsed.stations
    drift: tuple[str, ...]  # as today's Parsed.drift
    rows: int  # observations handed to the sink
    parts: tuple[str, ...] = ()  # in file order: the day sheets read, or the hourly stations


ChunkSink = Callable[[pa.Table], None]  # receives tables conformed to forecast.schema.OBSERVATIONS


def raw_source(raw: RawFile) -> RawSource:
    """Return ``raw`` as a RawSource whose streams read its bytes from memory."""
    content = raw.content
    return RawSource(raw.name, raw.raw_key, raw.sha256, len(content), lambda: io.BytesIO(content))


def file_source(
    path: Path, *, name: str, raw_key: str, sha256: str, container: Container = PLAIN_FILE,
    stream: str = "", content_key: str = "",
) -> RawSource:  # fmt: skip
    """Return the raw object stored at ``path`` as a RawSource that reads it from disk.

    The size is the file's size now (what ``Limits.max_file_bytes`` is checked against before
    anything is read); each ``open()`` is a new buffered binary handle.
    """
    return RawSource(
        name, raw_key, sha256, path.stat().st_size, lambda: path.open("rb"), container, stream,
        content_key,
    )  # fmt: skip


class Chunks:
    """Cuts a sequence of conformed tables into chunks of at most ``chunk_rows`` rows, in order.

    Tables are handed to ``sink`` as soon as ``chunk_rows`` rows are waiting; ``close()``
    hands over the rest. After ``halt()`` (the file will fail) nothing more is handed over.
    """

    def __init__(self, sink: ChunkSink, chunk_rows: int) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
        self._sink, self._size = sink, chunk_rows
        self._waiting: list[pa.Table] = []
        self._rows = 0
        self.handed = 0  # rows handed to the sink so far
        self.halted = False

    def add(self, table: pa.Table) -> None:
        """Queue ``table``'s rows, handing over every full chunk."""
        if self.halted or not table.num_rows:
            return
        self._waiting.append(table)
        self._rows += table.num_rows
        if self._rows < self._size:
            return
        waiting = pa.concat_tables(self._waiting)
        start = 0
        while self._rows - start >= self._size:
            self._hand(waiting.slice(start, self._size))
            start += self._size
        self._waiting = [waiting.slice(start)] if start < self._rows else []
        self._rows -= start

    def close(self) -> None:
        """Hand over the rows still waiting."""
        if self._rows and not self.halted:
            self._hand(pa.concat_tables(self._waiting))
        self._waiting, self._rows = [], 0

    def halt(self) -> None:
        """Drop what is waiting and hand nothing more over (the parse is going to fail)."""
        self.halted = True
        self._waiting, self._rows = [], 0

    def _hand(self, table: pa.Table) -> None:
        self._sink(table.combine_chunks())
        self.handed += table.num_rows


@dataclass(frozen=True)
class Parsed:
    """A parsed raw file: its observations, the stations they belong to and schema-drift notes.

    ``drift`` holds human-readable notes for the run report on what the file did differently
    from the documented format and the parser accepted anyway (an extra column, a hidden sheet).
    """

    observations: pa.Table
    stations: pa.Table
    drift: tuple[str, ...] = ()


def collect(parse_stream: Callable[..., StreamSummary], raw: RawFile, **options: object) -> Parsed:
    """Return ``parse_stream`` run over ``raw``'s bytes with every chunk kept, as one Parsed."""
    chunks: list[pa.Table] = []
    summary = parse_stream(raw_source(raw), chunks.append, **options)
    if not chunks:
        empty = conform(OBSERVATIONS.empty_table(), OBSERVATIONS)
        return Parsed(empty, summary.stations, summary.drift)
    return Parsed(pa.concat_tables(chunks), summary.stations, summary.drift)


def attach_lineage(observations: pa.Table, raw: RawSource, source: str) -> pa.Table:
    """Return observations with the raw object's lineage columns (source, file, key, sha256,
    content key); an Airbyte record's ``record_id`` and ``extracted_at`` are the parser's."""
    length = observations.num_rows
    if "unit_errors" not in observations.column_names:  # a source whose units are file-level
        observations = observations.append_column("unit_errors", empty_lists(length))
    content_key = raw.content_key or raw.sha256
    for name, value in (
        ("source", source),
        ("source_file", raw.name),
        ("raw_key", raw.raw_key),
        ("raw_sha256", raw.sha256),
        ("content_key", content_key),
    ):
        observations = observations.append_column(name, constant(value, length, pa.string()))
    return observations
