"""The sources the pipeline reads: one line per source package.

Landing, staging, validation and the MongoDB write plan ask this registry, never a source
module by name. A new source is a package under ``forecast/sources/`` exporting a ``SOURCE``
descriptor (``forecast.sources.descriptor.Source``) and one line here.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc

from forecast.sources import infoclimat, wunderground
from forecast.sources.descriptor import Source

SOURCES: dict[str, Source] = {
    infoclimat.SOURCE.name: infoclimat.SOURCE,
    wunderground.SOURCE.name: wunderground.SOURCE,
}
NETWORKS: tuple[str, ...] = tuple(SOURCES)
"""The stations' networks: one per source."""


def source(name: str) -> Source:
    """Return the source called ``name``.

    Raises:
        KeyError: no such source (the message lists the known ones).
    """
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r} (known: {', '.join(SOURCES)})") from None


def for_file_name(name: str) -> Source | None:
    """Return the source whose own file format a landing file name has, by its suffix."""
    suffix = PurePosixPath(name).suffix.lower()
    return next((s for s in SOURCES.values() if suffix in s.suffixes), None)


def locations(rows: pa.Table) -> pa.Array:
    """Return, per row, where it came from, as its source words it (``Source.location``)."""
    where = pa.nulls(rows.num_rows, pa.string())
    for name in pc.unique(rows.column("source")).to_pylist():
        if name in SOURCES:
            mine = pc.equal(rows.column("source"), name)
            where = pc.if_else(mine, SOURCES[name].location(rows), where)
    return where
