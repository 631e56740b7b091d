"""InfoClimat open-data stations: the JSON documents of the open-data API (``api`` fetches them;
``document`` parses them, streamed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from forecast.sources.descriptor import Source
from forecast.sources.infoclimat.document import NAME, parse, parse_stream
from forecast.sources.streams import BOM

__all__ = ["NAME", "SOURCE", "location", "parse", "parse_stream"]


def location(rows: pa.Table) -> pa.Array:
    """Where each row came from: ``file '…', station '…', record N`` (``…, line L, station
    …`` for a document in an Airbyte record)."""
    record = pc.fill_null(rows.column("record_index").cast(pa.string()), "?")
    in_file = pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', station '", rows.column("station_id"),
        "', record ", record, "",
    )  # fmt: skip
    in_line = pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', line ", rows.column("row").cast(pa.string()),
        ", station '", rows.column("station_id"), "', record ", record, "",
    )  # fmt: skip
    return pc.coalesce(in_line, in_file)


_DOCUMENT_FIELDS = frozenset({"status", "errors", "data", "stations", "metadata", "hourly"})


def recognises_file(head: bytes) -> bool:
    """A JSON object's text (an open-data document)."""
    return head.removeprefix(BOM).lstrip(b" \t\r\n").startswith(b"{")


def recognises_record(fields: Sequence[str]) -> bool:
    """A record holding a document (``status``, ``stations``, ``hourly``, ``metadata``...)."""
    return bool(_DOCUMENT_FIELDS.intersection(fields))


def context(name: str, stream: str, streams: Mapping[str, str]) -> str:
    """Nothing: a document names its stations, whatever the file or stream is called."""
    return ""


SOURCE = Source(
    name=NAME,
    suffixes=(".json",),
    recognises_file=recognises_file,
    recognises_record=recognises_record,
    context=context,
    parse_stream=parse_stream,
    lineage=("source_file", "row", "record_index", "record_id", "extracted_at"),
    location=location,
)
