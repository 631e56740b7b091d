"""What the pipeline knows of a source, in one place: the descriptor each source package exports.

Landing, ingest, staging, validation and the MongoDB write plan read sources only through their
descriptors, collected in ``forecast.sources.registry``: adding a source is one package with one
descriptor and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from forecast.sources.common import ChunkSink, RawSource, StreamSummary
from forecast.sources.limits import Limits


class ParseStream(Protocol):
    """A streaming parser: a raw object's observations to ``sink`` in chunks, and a summary."""

    def __call__(
        self,
        source: RawSource,
        sink: ChunkSink,
        *,
        limits: Limits,
        chunk_rows: int,
        streams: Mapping[str, str],
    ) -> StreamSummary: ...


@dataclass(frozen=True)
class Source:
    """One source of observations.

    Attributes:
        name: The source's name: the ``source`` of its rows and raw objects, and the
            ``network`` of its stations.
        suffixes: Landing file names it reads as files of its own format (lower case).
        recognises_file: Whether a file's first bytes (decompressed) are of its format.
        recognises_record: Whether an Airbyte record's fields are its (the first non-empty
            record of an object, or its first field only when that record is very long).
        context: What of an object's landing name (file name, Airbyte stream) changes what its
            parse gives, given the run's stream mapping (``wu_streams``): "" when nothing does.
            Two names with one content are one content only when this agrees.
        parse_stream: Its streaming parser (``RawSource`` -> chunks of ``OBSERVATIONS``), for
            its files and for Airbyte objects of its records.
        lineage: The ``OBSERVATIONS`` columns that say where in its object a row came from;
            MongoDB documents keep them under ``metadata``.
        location: Rows (of this source) -> "where it came from" text for messages and reasons.
    """

    name: str
    suffixes: tuple[str, ...]
    recognises_file: Callable[[bytes], bool]
    recognises_record: Callable[[Sequence[str]], bool]
    context: Callable[[str, str, Mapping[str, str]], str]
    parse_stream: ParseStream
    lineage: tuple[str, ...]
    location: Callable[[pa.Table], pa.Array]
