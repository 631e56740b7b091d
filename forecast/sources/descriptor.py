"""What the pipeline knows of a source, in one place: the descriptor each source package exports.

Landing, ingest, staging, validation and the MongoDB write plan read sources only through their
descriptors, collected in ``forecast.sources.registry``: adding a source is one package with one
descriptor and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from forecast.sources.common import ChunkSink, RawSource, StreamSummary
from forecast.sources.limits import Limits


class ParseStream(Protocol):
    """A streaming parser: a raw object's observations to ``sink`` in chunks, and a summary."""

    def __call__(
        self, source: RawSource, sink: ChunkSink, *, limits: Limits, chunk_rows: int
    ) -> StreamSummary: ...


@dataclass(frozen=True)
class Source:
    """One source of observations.

    Attributes:
        name: The source's name: the ``source`` of its rows and raw objects, and the
            ``network`` of its stations.
        suffixes: Landing file names it reads as files of its own format (lower case).
        parse_stream: Its streaming parser (``RawSource`` -> chunks of ``OBSERVATIONS``).
        lineage: The ``OBSERVATIONS`` columns that say where in its object a row came from;
            MongoDB documents keep them under ``metadata``.
        location: Rows (of this source) -> "where it came from" text for messages and reasons.
    """

    name: str
    suffixes: tuple[str, ...]
    parse_stream: ParseStream
    lineage: tuple[str, ...]
    location: Callable[[pa.Table], pa.Array]
