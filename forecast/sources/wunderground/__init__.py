"""Weather Underground personal stations: workbooks (one sheet per day) and CSV exports of a sheet.

The station comes from the file name (``stations``), the day from the sheet name or the export's
name, and every container's cells become observations through one code path (``cells``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecast.sources.common import ChunkSink, Parsed, RawFile, RawSource, StreamSummary, collect
from forecast.sources.descriptor import Source
from forecast.sources.limits import DEFAULT_LIMITS, Limits, check_size
from forecast.sources.wunderground.cells import NAME
from forecast.sources.wunderground.csv_export import is_csv, parse_export
from forecast.sources.wunderground.workbook import parse_workbook


def parse_stream(
    source: RawSource, sink: ChunkSink, *, limits: Limits = DEFAULT_LIMITS, chunk_rows: int = 20_000
) -> StreamSummary:
    """Parse a workbook (or a ``.csv`` export of one sheet), handing chunks of at most
    ``chunk_rows`` observations to ``sink``; ``max_file_bytes`` is checked before opening.

    Raises:
        SourceFormatError: names file, sheet, row and field. It may come after chunks of earlier
            sheets were handed to ``sink``: discard them.
    """
    check_size(source.name, source.size, limits)
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
    """Where each row came from: ``file '…', sheet '…', row N``."""
    return pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', sheet '", rows.column("sheet"), "', row ",
        rows.column("row").cast(pa.string()), "",
    )  # fmt: skip


SOURCE = Source(
    name=NAME,
    suffixes=(".xlsx", ".csv"),
    parse_stream=parse_stream,
    lineage=("source_file", "sheet", "row"),
    location=location,
)
