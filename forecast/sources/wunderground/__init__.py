"""Weather Underground personal stations: workbooks (one sheet per day), CSV exports of a sheet,
and the records Airbyte's File source makes of a workbook.

The station comes from the file name, or the Airbyte stream's (``stations``); the day from the
sheet name, the export's name, or a Date column of the records; every container's cells become
observations through one code path (``cells``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.sources.common import ChunkSink, Parsed, RawFile, RawSource, StreamSummary, collect
from forecast.sources.containers import ZIP_MAGIC
from forecast.sources.descriptor import Source
from forecast.sources.limits import DEFAULT_LIMITS, Limits, check_size
from forecast.sources.streams import BOM
from forecast.sources.wunderground.cells import NAME, header_matches
from forecast.sources.wunderground.csv_export import delimiter, is_csv, parse_export
from forecast.sources.wunderground.records import looks_like_rows, parse_records
from forecast.sources.wunderground.stations import (
    normalise_file_stem,
    station_for_file,
    station_for_stream,
)
from forecast.sources.wunderground.workbook import parse_workbook


def parse_stream(
    source: RawSource,
    sink: ChunkSink,
    *,
    limits: Limits = DEFAULT_LIMITS,
    chunk_rows: int = 20_000,
    streams: Mapping[str, str] | None = None,
) -> StreamSummary:
    """Parse a workbook, a ``.csv`` export of one sheet or an Airbyte object of rows, handing
    chunks of at most ``chunk_rows`` observations to ``sink``; ``max_file_bytes`` is checked
    before opening. ``streams`` maps Airbyte stream names to station ids (``wu_streams``).

    Raises:
        SourceFormatError: names file, sheet (or line), row and field. It may come after chunks
            of earlier sheets were handed to ``sink``: discard them.
    """
    check_size(source.name, source.size, limits)
    if source.container.airbyte:
        return parse_records(
            source, sink, limits=limits, chunk_rows=chunk_rows, streams=streams or {}
        )
    parse = parse_export if is_csv(source.name) else parse_workbook
    return parse(source, sink, limits=limits, chunk_rows=chunk_rows)


def parse(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse a workbook (or a ``.csv`` export) in memory: ``parse_stream``'s chunks, joined."""
    return collect(parse_stream, raw, limits=limits)


def parse_csv(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse one day sheet exported as CSV in memory (see ``csv_export.parse_export``)."""
    check_size(raw.name, len(raw.content), limits)
    return collect(parse_export, raw, limits=limits, chunk_rows=20_000)


def location(rows: pa.Table) -> pa.Array:
    """Where each row came from: ``file '…', sheet '…', row N``, or for an Airbyte record
    ``file '…', line N``."""
    row = rows.column("row").cast(pa.string())
    in_sheet = pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', sheet '", rows.column("sheet"), "', row ", row, ""
    )  # fmt: skip
    in_records = pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', line ", row, ""
    )
    return pc.coalesce(in_sheet, in_records)


def recognises_file(head: bytes) -> bool:
    """A workbook (a zip), or a CSV export whose header line names the workbook's columns."""
    if head.startswith(ZIP_MAGIC):
        return True
    line = head.removeprefix(BOM).split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return delimiter(line, header_matches) is not None


def context(name: str, stream: str, streams: Mapping[str, str]) -> str:
    """The station an object's name gives (and a CSV export's day): an Airbyte stream's, a
    workbook's file name's; the name itself when it names no registered station (its parse
    then fails alone)."""
    try:
        if stream:
            return station_for_stream(stream, streams, file=name).id
        if is_csv(name):
            return f"export:{normalise_file_stem(name).casefold()}"
        return station_for_file(name).id
    except SourceFormatError:
        return f"name:{stream or normalise_file_stem(name).casefold()}"


SOURCE = Source(
    name=NAME,
    suffixes=(".xlsx", ".csv"),
    recognises_file=recognises_file,
    recognises_record=looks_like_rows,
    context=context,
    parse_stream=parse_stream,
    lineage=("source_file", "sheet", "row", "record_id", "extracted_at"),
    location=location,
)
