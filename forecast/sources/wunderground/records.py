"""The records Airbyte's File source makes of a Weather Underground workbook, as landed by its S3
destination (JSON Lines, CSV or Parquet, in envelopes: ``forecast.sources.containers``).

What the File source does to a workbook (seen with ``airbyte-source-file`` 0.6.0 on the real
files): every sheet is read in order and each row becomes one record keyed by the header
(``"Time": "00:04:00"``, ``"Temperature": "56.8\u00a0°F"``, ``"UV": 0.0``); an empty cell is a
missing key; each sheet's blank second row becomes an empty record ``{}``; the order of the keys
varies; and the sheet name, which is the day, is dropped. So:

* the station comes from the stream's name (``stations.station_for_stream``);
* the day comes from a ``Date`` column (``YYYY-MM-DD``, ``DD/MM/YYYY`` or the sheet's ``DDMMYY``)
  or a local ``DateTime`` one, which users add to every sheet before the sync (as text: the
  File source cannot serialise Excel date cells). An object none of whose records has one
  fails whole, saying why and what to do; a record whose day is empty or unreadable keeps its
  values with a null timestamp and a parse error, like a bad Time cell;
* the cells then go through the workbook's own code (``cells``), local time to UTC included.

Records are read in batches of at most ``chunk_rows``; each batch's records are grouped into
days in order, so memory is one batch whatever the object's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.sources.common import Chunks, ChunkSink, RawSource, StreamSummary
from forecast.sources.containers import Record, records
from forecast.sources.limits import Limits, check_rows
from forecast.sources.wunderground.cells import (
    ALIASES,
    PROVIDED,
    Day,
    Finisher,
    Layout,
    canonical_column,
    day_of,
    day_table,
)
from forecast.sources.wunderground.stations import station_for_stream, station_table

DAY_COLUMNS = ("date", "day", "local date")
DATETIME_COLUMNS = ("datetime", "date time", "local datetime", "local date time", "date/time")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
_DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
)  # fmt: skip
MAX_RECORD_BYTES = 1024 * 1024
"""A Weather Underground record (one row) longer than this is refused, not read."""
UNDATED = (
    "no record has a 'Date' (or 'DateTime') column: Airbyte's File source dropped the sheet "
    "names, which are the days, so these rows cannot be placed in time. Land the workbook "
    "itself (its sheets keep the days), or add a Date column to every sheet (text, YYYY-MM-DD) "
    "before the sync"
)
_TIME = "time"
_ROW_FIELDS = 3
"""Measurement columns a record must name, besides Time, to be taken for a Weather Underground
row (an empty cell is a missing key: a row may lack a few)."""


def looks_like_rows(fields: Sequence[str]) -> bool:
    """Return True when an Airbyte record's fields are a Weather Underground row's: Time and at
    least a few measurement columns, by their ``ALIASES``."""
    found = {canonical_column(name) for name in fields}
    return _TIME in found and len(found & set(PROVIDED)) >= _ROW_FIELDS


def _day_column(fields: Iterable[str]) -> tuple[str | None, bool]:
    """Return the record field holding the day (a Date column before a DateTime one), and
    whether it is a date-time."""
    named = {" ".join(str(f).split()).casefold(): f for f in fields}
    for alias in DAY_COLUMNS:
        if alias in named:
            return named[alias], False
    for alias in DATETIME_COLUMNS:
        if alias in named:
            return named[alias], True
    return None, False


def _header(batch: Sequence[Record], day: str | None, file: str) -> list[str]:
    """Return the columns of a batch of records: every canonical column (its spelling in the
    records, else its first alias: a column whose cells are all empty has no key), then the
    other fields, the day column left out.

    Raises:
        SourceFormatError: no record of the batch has a Time field.
    """
    seen: dict[str, None] = {}
    for record in batch:
        seen.update(dict.fromkeys(record.fields))
    by_key: dict[str, str] = {}
    extras = []
    for name in seen:
        key = canonical_column(name)
        if name == day:
            continue
        if key is not None and key not in by_key:
            by_key[key] = name
        else:
            extras.append(name)
    if _TIME not in by_key:
        spellings = ALIASES[_TIME]
        raise SourceFormatError(
            f"required column missing (accepted headers: {', '.join(spellings)})",
            file=file, field=spellings[0],
        )  # fmt: skip
    return [by_key.get(key, spellings[0]) for key, spellings in ALIASES.items()] + extras


def _dates(values: list[object], datetime_column: bool) -> tuple[list[datetime | None], str]:
    """Return each record's day (None: empty or unreadable) parsed from its day cells."""
    text = pc.utf8_trim_whitespace(
        pa.array([None if v in (None, "") else str(v) for v in values], pa.string())
    )
    formats = _DATETIME_FORMATS + _DATE_FORMATS if datetime_column else _DATE_FORMATS
    parsed = pc.coalesce(
        *(pc.strptime(text, format=f, unit="s", error_is_null=True) for f in formats)
    )
    days: list[datetime | None] = []
    for value, stamp in zip(text.to_pylist(), parsed.to_pylist(), strict=True):
        if stamp is not None:
            days.append(datetime(stamp.year, stamp.month, stamp.day))
        else:
            days.append(day_of(value) if value else None)
    kind = "YYYY-MM-DD HH:MM:SS" if datetime_column else "YYYY-MM-DD, DD/MM/YYYY or DDMMYY"
    return days, kind


def _undated_message(column: str, value: object, kind: str) -> str:
    if value in (None, ""):
        return f"field {column!r} is empty: the record's day is unknown"
    return f"field {column!r} is not a day ({kind}): {str(value)!r}"


def _days(
    batch: Sequence[Record], header: list[str], column: str, is_datetime: bool
) -> Iterator[Day]:
    """Yield the batch's records as days: runs of consecutive records on the same day (the
    File source emits a sheet's rows together), undated records as days of their own."""
    values = [record.fields.get(column) for record in batch]
    dates, kind = _dates(values, is_datetime)
    keys = [
        date if date is not None else ("undated", str(v))
        for date, v in zip(dates, values, strict=True)
    ]
    start = 0
    for end in range(1, len(batch) + 1):
        if end < len(batch) and keys[end] == keys[start]:
            continue
        run = batch[start:end]
        yield Day(
            None, dates[start], [header, *([r.fields.get(h, "") for h in header] for r in run)],
            numbers=[r.envelope.line for r in run],
            undated="" if dates[start] else _undated_message(column, values[start], kind),
        )  # fmt: skip
        start = end


@dataclass(frozen=True)
class _Envelopes:
    """A batch's envelope columns, built once and taken from for each of its days."""

    lines: pa.Array
    ids: pa.Array
    times: pa.Array

    @classmethod
    def of(cls, batch: Sequence[Record]) -> _Envelopes:
        return cls(
            pa.array([r.envelope.line for r in batch], pa.int32()),
            pa.array([r.envelope.record_id for r in batch], pa.string()),
            pa.array([r.envelope.extracted_at for r in batch], pa.timestamp("ms", tz="UTC")),
        )

    def attach(self, table: pa.Table) -> pa.Table:
        """Return a day's rows with their records' ids and extraction times (matched by line)."""
        at = pc.index_in(table.column("row"), value_set=self.lines)
        return table.append_column("record_id", self.ids.take(at)).append_column(
            "extracted_at", self.times.take(at)
        )


def _batches(found: Iterator[Record], size: int) -> Iterator[list[Record]]:
    while batch := list(islice(found, size)):
        yield batch


def parse_records(
    source: RawSource,
    sink: ChunkSink,
    *,
    limits: Limits,
    chunk_rows: int,
    streams: Mapping[str, str],
) -> StreamSummary:
    """Parse an Airbyte object of Weather Underground rows, handing chunks to ``sink``.

    Args:
        source: The object; ``source.stream`` names its station (``streams`` may map it).
        sink: Receives each chunk of at most ``chunk_rows`` rows, with lineage.
        limits: ``max_uncompressed_bytes`` for a gzip object, ``max_rows_per_sheet`` per day.
        chunk_rows: Most records read, and rows handed over, at once.
        streams: Stream name -> station id (the run parameter ``wu_streams``).

    Raises:
        SourceFormatError: an unknown stream, no day column (``UNDATED``), a record that is
            not an Airbyte record, or more rows on one day than ``max_rows_per_sheet``. It
            may come after chunks were handed to ``sink``: discard them.
    """
    station = station_for_stream(source.stream, streams, file=source.name)
    chunks = Chunks(sink, chunk_rows)
    finish = Finisher(station, source)
    per_day: dict[datetime | None, int] = {}
    layout: Layout | None = None
    with source.content(limits.max_uncompressed_bytes) as stream:
        found = records(stream, source.container, source.name, max_record_bytes=MAX_RECORD_BYTES)
        for batch in _batches(found, chunk_rows):
            rows = [record for record in batch if record.fields]
            if not rows:
                continue
            column, is_datetime = _day_column({f for r in rows for f in r.fields})
            if column is None:
                raise SourceFormatError(UNDATED, file=source.name, field="Date")
            header = _header(rows, column, source.name)
            envelopes = _Envelopes.of(rows)
            for day in _days(rows, header, column, is_datetime):
                per_day[day.date] = per_day.get(day.date, 0) + len(day.rows) - 1
                where = day.date.strftime("%Y-%m-%d") if day.date else None
                check_rows(per_day[day.date], source.name, where or "(no day)", limits)
                table, part = day_table(day, source.name)
                layout = part if layout is None else layout.merged(part)
                if table.num_rows:
                    chunks.add(finish(envelopes.attach(table)))
    chunks.close()
    notes = tuple(f"{label} ignored" for label in (layout or Layout()).ignored)
    days = tuple(sorted(d.date().isoformat() for d in per_day if d is not None))
    return StreamSummary(station_table(station, PROVIDED), notes, chunks.handed, days)
