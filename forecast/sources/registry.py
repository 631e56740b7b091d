"""The sources the pipeline reads: one line per source package.

Landing, staging, validation and the MongoDB write plan ask this registry, never a source
module by name. A new source is a package under ``forecast/sources/`` exporting a ``SOURCE``
descriptor (``forecast.sources.descriptor.Source``) and one line here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.sources import containers, infoclimat, wunderground
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
    """Return the source whose own file format a landing file name has, by its suffix (a
    ``.gz`` after it allowed)."""
    suffix = PurePosixPath(name.lower().removesuffix(".gz")).suffix
    return next((s for s in SOURCES.values() if suffix in s.suffixes), None)


def listed_suffixes() -> tuple[str, ...]:
    """The landing names a run reads: every source's own suffixes and the Airbyte objects',
    each also gzip-compressed (``.gz``)."""
    plain = (*(x for s in SOURCES.values() for x in s.suffixes), *containers.SUFFIXES)
    return (*plain, *(f"{suffix}.gz" for suffix in plain))


def recognise_file(head: bytes, name: str) -> Source:
    """Return the source of a file from its first (decompressed) bytes, else its name's suffix.

    Raises:
        SourceFormatError: no source recognises the file.
    """
    found = next((s for s in SOURCES.values() if s.recognises_file(head)), None)
    found = found or for_file_name(name)
    if found is None:
        raise SourceFormatError(
            f"not a file of any source ({', '.join(SOURCES)}) by its content or its name",
            file=name,
        )
    return found


def recognise_records(fields: Sequence[str], name: str, records: int) -> Source:
    """Return the source of an Airbyte object from its first non-empty record's fields.

    Raises:
        SourceFormatError: the object has no such record, or no source recognises its fields.
    """
    if not fields:
        raise SourceFormatError(
            f"an Airbyte object with no record holding data ({records} records, all empty)",
            file=name,
        )
    found = next((s for s in SOURCES.values() if s.recognises_record(fields)), None)
    if found is None:
        shown = ", ".join(repr(f) for f in list(fields)[:12])
        raise SourceFormatError(
            f"the records are not of any source ({', '.join(SOURCES)}): the first one's fields "
            f"are {shown}",
            file=name,
        )
    return found


def locations(rows: pa.Table) -> pa.Array:
    """Return, per row, where it came from, as its source words it (``Source.location``)."""
    where = pa.nulls(rows.num_rows, pa.string())
    for name in pc.unique(rows.column("source")).to_pylist():
        if name in SOURCES:
            mine = pc.equal(rows.column("source"), name)
            where = pc.if_else(mine, SOURCES[name].location(rows), where)
    return where
