"""Helpers shared by the source parsers: raw file identity, number parsing, row messages.

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

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.schema import OBSERVATIONS, conform

_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True)
class RawFile:
    """The bytes of one raw-zone object and where they came from."""

    name: str
    content: bytes
    raw_key: str
    sha256: str


@dataclass(frozen=True)
class RawSource:
    """A raw object to parse, without its bytes: ``open()`` gives a fresh binary stream."""

    name: str
    raw_key: str
    sha256: str
    size: int
    open: Callable[[], ContextManager[BinaryIO]]


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


def file_source(path: Path, *, name: str, raw_key: str, sha256: str) -> RawSource:
    """Return the raw object stored at ``path`` as a RawSource that reads it from disk.

    The size is the file's size now (what ``Limits.max_file_bytes`` is checked against before
    anything is read); each ``open()`` is a new buffered binary handle.
    """
    return RawSource(name, raw_key, sha256, path.stat().st_size, lambda: path.open("rb"))


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


def attach_lineage(observations: pa.Table, raw: RawFile | RawSource, source: str) -> pa.Table:
    """Return observations with the raw file's lineage columns (source, file, key, sha256)."""
    length = observations.num_rows
    if "unit_errors" not in observations.column_names:  # a source whose units are file-level
        observations = observations.append_column("unit_errors", empty_lists(length))
    for name, value in (
        ("source", source),
        ("source_file", raw.name),
        ("raw_key", raw.raw_key),
        ("raw_sha256", raw.sha256),
    ):
        observations = observations.append_column(name, constant(value, length, pa.string()))
    return observations


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``values`` as one contiguous array (without a copy when it has one chunk)."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def parse_numbers(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return ``text`` parsed as float64 and a mask of cells that are present but not numbers.

    Null and empty strings are missing values (null), not errors.
    """
    text = text.cast(pa.string())
    stripped = pc.utf8_trim_whitespace(text)
    present = pc.and_kleene(pc.is_valid(stripped), pc.not_equal(stripped, ""))
    numeric = pc.match_substring_regex(stripped, _NUMBER)
    ok = pc.fill_null(pc.and_(present, numeric), False)
    bad = pc.fill_null(pc.and_(present, pc.invert(numeric)), False)
    values = pc.if_else(ok, stripped, pa.scalar(None, pa.string())).cast(pa.float64())
    return values, bad


def collect_messages(messages: list[pa.Array], length: int) -> pa.Array:
    """Return a list<string> column: for each row, the non-null entries of ``messages``."""
    list_type = pa.list_(pa.string())
    width = len(messages)
    if width == 0 or all(m.null_count == len(m) for m in messages):
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(length + 1, np.int32)), pa.array([], pa.string())
        ).cast(list_type)
    stacked = pa.concat_arrays([as_array(m).cast(pa.string()) for m in messages])  # column-major
    row_major = (np.arange(width)[None, :] * length + np.arange(length)[:, None]).ravel()
    interleaved = stacked.take(pa.array(row_major))
    valid = interleaved.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid.reshape(length, width).sum(axis=1))])
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), interleaved.filter(pa.array(valid))
    )


def messages_where(mask: pa.Array, prefix: str, values: pa.Array) -> pa.Array:
    """Return ``prefix + repr-ish value`` where ``mask`` is true, null elsewhere."""
    quoted = pc.binary_join_element_wise(
        pa.scalar("'"), pc.fill_null(values.cast(pa.string()), ""), pa.scalar("'"), ""
    )
    text = pc.binary_join_element_wise(pa.scalar(prefix), quoted, "")
    return pc.if_else(mask, text, pa.scalar(None, pa.string()))


def constant(value: object, length: int, type_: pa.DataType) -> pa.Array:
    """Return an array of ``length`` copies of ``value``."""
    return pa.repeat(pa.scalar(value, type_), length) if length else pa.array([], type_)


def empty_lists(length: int) -> pa.Array:
    """Return a list<string> column of ``length`` empty lists."""
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(length + 1, np.int32)), pa.array([], pa.string())
    )


def flags_where(masks: dict[str, pa.Array], length: int) -> pa.Array:
    """Return a list<string> column holding, per row, the names of the ``masks`` true there."""
    return collect_messages(
        [
            pc.if_else(pc.fill_null(m, False), pa.scalar(name), pa.scalar(None, pa.string()))
            for name, m in masks.items()
        ],
        length,
    )


def concat_lists(*columns: pa.Array) -> pa.Array:
    """Return the row-wise concatenation of list<string> columns of equal length."""
    length = len(columns[0])
    columns = tuple(as_array(c) for c in columns)
    values = pa.concat_arrays([pc.list_flatten(c).cast(pa.string()) for c in columns])
    rows = np.concatenate(
        [pc.list_parent_indices(c).to_numpy(zero_copy_only=False) for c in columns]
    )
    cols = np.concatenate([np.full(len(pc.list_flatten(c)), j) for j, c in enumerate(columns)])
    order = np.lexsort((cols, rows))  # stable: row, then column, then original position
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows.astype(np.int64), minlength=length))])
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), values.take(pa.array(order))
    )


def has_flag(flags: pa.Array | pa.ChunkedArray, *names: str) -> np.ndarray:
    """Return, per row of a list<string> column, how many of ``names`` it holds."""
    flags = as_array(flags)
    values = pc.list_flatten(flags)
    hits = pc.is_in(values, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
    return np.bincount(parents[hits].astype(np.int64), minlength=len(flags))
