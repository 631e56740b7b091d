"""InfoClimat open-data stations: the JSON documents of the open-data API (``api`` fetches them;
``document`` parses them, streamed)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from forecast.sources.descriptor import Source
from forecast.sources.infoclimat.document import NAME, parse, parse_stream

__all__ = ["NAME", "SOURCE", "location", "parse", "parse_stream"]


def location(rows: pa.Table) -> pa.Array:
    """Where each row came from: ``file '…', station '…', record N``."""
    return pc.binary_join_element_wise(
        "file '", rows.column("source_file"), "', station '", rows.column("station_id"),
        "', record ", pc.fill_null(rows.column("record_index").cast(pa.string()), "?"), "",
    )  # fmt: skip


SOURCE = Source(
    name=NAME,
    suffixes=(".json",),
    parse_stream=parse_stream,
    lineage=("source_file", "record_index"),
    location=location,
)
