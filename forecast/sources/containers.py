"""Landing containers: how a raw object holds a source's records, decoded apart from the source.

Two kinds of object reach the landing:

* a **file** in its source's own format (an InfoClimat JSON document, a Weather Underground
  workbook or CSV export), plain or gzip-compressed;
* an **Airbyte object**, what Airbyte's S3 destination writes for one stream: records in
  envelopes, one per line (JSON Lines) or row (CSV, Parquet), plain or gzip-compressed.
  An envelope is ``_airbyte_raw_id`` (uuid), ``_airbyte_extracted_at`` (epoch ms),
  ``_airbyte_meta`` (``{"sync_id": n, "changes": [...]}``) and ``_airbyte_generation_id``, or,
  from older destinations, ``_airbyte_ab_id`` and ``_airbyte_emitted_at``. The record is under
  ``_airbyte_data`` ("no flattening"; a cell of JSON text in CSV) or its fields sit beside the
  envelope's ("root level flattening"). Objects are named
  ``<prefix><stream>/<YYYY>_<MM>_<DD>_<epoch ms>_<part>.<ext>``: the stream is the folder.

What an object is comes from its bytes (the gzip, zip, Parquet and Avro magic numbers, the first
key of a JSON text, the header of a CSV text), never from its name. Which source its records
belong to is for the sources to say (``forecast.sources.registry``), from the records' fields.

``survey`` reads an Airbyte object once, in bounded memory whatever the length of a line: it
counts the records and digests what they hold without their envelopes, so that a re-sync (the
same records under new ids and extraction times) has the same digest as the sync before it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import re
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from forecast.errors import SourceFormatError
from forecast.sources.streams import BLOCK_SIZE, BOM

FILE, JSONL, CSV, PARQUET = "file", "airbyte-jsonl", "airbyte-csv", "airbyte-parquet"
AIRBYTE = (JSONL, CSV, PARQUET)
GZIP = "gzip"
KIND_NAMES = {
    FILE: "file",
    JSONL: "Airbyte JSON Lines",
    CSV: "Airbyte CSV",
    PARQUET: "Airbyte Parquet",
}

PREFIX = "_airbyte_"
DATA = "_airbyte_data"
RECORD_IDS = ("_airbyte_raw_id", "_airbyte_ab_id")  # current destinations, older ones
EXTRACTED_AT = ("_airbyte_extracted_at", "_airbyte_emitted_at")

SUFFIXES = (".jsonl", ".ndjson", ".parquet", ".avro")
"""Names of the Airbyte objects a landing lists (besides the sources' own file suffixes); any of
them, or a source's, may end with ``.gz``."""

_GZIP_MAGIC, _PARQUET_MAGIC, _AVRO_MAGIC = b"\x1f\x8b", b"PAR1", b"Obj\x01"
ZIP_MAGIC = b"PK\x03\x04"
HEAD_BYTES = 64 * 1024
"""Bytes of an object's (decompressed) start that tell its container, and the most an
envelope's fields may take at the start of a JSON Lines record."""
WHOLE_RECORD_BYTES = 1024 * 1024
"""A JSON Lines record up to this long is decoded whole to name its fields (a longer one: its
first field only, read from its start)."""
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_CSV_FIELD_LIMIT = 2**31 - 1
_FIRST_KEY = re.compile(rb'^\{[ \t\n\r]*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Container:
    """How a raw object holds its records: a file of its source's format, or an Airbyte object;
    ``compression`` is ``"gzip"`` or ``""``."""

    kind: str = FILE
    compression: str = ""

    @property
    def airbyte(self) -> bool:
        """True for what Airbyte's S3 destination writes (records in envelopes)."""
        return self.kind in AIRBYTE

    def describe(self) -> str:
        """The container for a person: ``Airbyte JSON Lines, gzip``."""
        name = KIND_NAMES[self.kind]
        return f"{name}, {self.compression}" if self.compression else name


PLAIN_FILE = Container()
"""An uncompressed file of its source's own format."""


@dataclass(frozen=True)
class Envelope:
    """What Airbyte says of one record that the documents' lineage keeps: its id, when it was
    extracted, and where it is in the object (``line``: JSON Lines line, CSV line of the row, or
    Parquet row, from 1). ``_airbyte_meta`` and ``_airbyte_generation_id`` are not read."""

    line: int
    record_id: str | None = None
    extracted_at: datetime | None = None


@dataclass(frozen=True)
class Record:
    """One Airbyte record: its envelope and the source's fields (``{}`` for an empty record)."""

    envelope: Envelope
    fields: dict[str, Any]


# ------------------------------------------------------------------------------------- sniffing


def sniff(path: Path, name: str, *, max_bytes: int) -> tuple[Container, bytes]:
    """Return an object's container and its first (decompressed) bytes.

    Raises:
        SourceFormatError: an Avro object (not read), or a gzip stream that does not decompress.
    """
    with path.open("rb") as raw:
        first = raw.read(HEAD_BYTES)
    compression = GZIP if first.startswith(_GZIP_MAGIC) else ""
    head = first
    if compression:
        with open_content(
            lambda: path.open("rb"), Container(FILE, GZIP), name, max_bytes
        ) as stream:
            head = stream.read(HEAD_BYTES)
    return Container(_kind(head, name), compression), head


def _kind(head: bytes, name: str) -> str:
    if head.startswith(_PARQUET_MAGIC):
        return PARQUET
    if head.startswith(_AVRO_MAGIC):
        raise SourceFormatError(
            "an Avro object (Airbyte's Avro output format) is not read: choose JSON Lines, CSV "
            "or Parquet as the S3 destination's output format",
            file=name,
        )
    if head.startswith(ZIP_MAGIC):
        return FILE
    text = head.removeprefix(BOM).lstrip(b" \t\r\n")
    if text.startswith(b"{"):
        key = _FIRST_KEY.match(text)
        return JSONL if key is not None and key[1].startswith(PREFIX.encode()) else FILE
    first_line = text.split(b"\n", 1)[0].split(b"\r", 1)[0].decode("utf-8", errors="replace")
    header = next(csv.reader([first_line]), [])
    return CSV if any(column.strip() in RECORD_IDS for column in header) else FILE


class _Bounded(io.RawIOBase):
    """A decompressed stream that refuses to expand past ``limit`` bytes (a gzip bomb)."""

    def __init__(self, stream: BinaryIO, limit: int, name: str) -> None:
        self._stream, self._limit, self._name, self._read = stream, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceFormatError(f"not a readable gzip stream: {exc}", file=self._name) from exc
        self._read += len(data)
        if self._read > self._limit:
            raise SourceFormatError(
                f"decompresses to more than {self._limit} bytes, over the limit "
                "max_uncompressed_bytes (run parameter max_uncompressed_bytes)",
                file=self._name,
            )
        buffer[: len(data)] = data
        return len(data)


@contextmanager
def open_content(
    opener: Callable[[], ContextManager[BinaryIO]], container: Container, name: str, max_bytes: int
) -> Iterator[BinaryIO]:
    """Yield the object's content as a binary stream: decompressed (at most ``max_bytes``) when
    the container is gzip-compressed, else the object's own stream."""
    with opener() as raw:
        if container.compression != GZIP:
            yield raw
            return
        with gzip.GzipFile(fileobj=raw) as inflated:
            yield io.BufferedReader(_Bounded(inflated, max_bytes, name), BLOCK_SIZE)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ envelopes


def _instant(value: Any, name: str, line: int, field: str) -> datetime | None:
    """Return an envelope time (epoch ms as a number or text, or ISO-8601 text) in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        if isinstance(value, (int, float)) or str(value).strip().lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value) / 1000, UTC)
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError) as exc:
        raise SourceFormatError(
            f"not a time (epoch milliseconds or ISO-8601): {value!r}",
            file=name,
            row=line,
            field=field,
        ) from exc
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def envelope(fields: Mapping[str, Any], line: int, name: str) -> Envelope:
    """Return the envelope of a record from its ``_airbyte_*`` fields (either generation).

    Raises:
        SourceFormatError: the record has no id (``_airbyte_raw_id``/``_airbyte_ab_id``), or
            its extraction time is not a time.
    """
    record_id = next((fields[k] for k in RECORD_IDS if fields.get(k) not in (None, "")), None)
    if record_id is None:
        raise SourceFormatError(
            "not an Airbyte record: no _airbyte_raw_id (or _airbyte_ab_id)", file=name, row=line
        )
    field = next((k for k in EXTRACTED_AT if k in fields), EXTRACTED_AT[0])
    return Envelope(line, str(record_id), _instant(fields.get(field), name, line, field))


def split(fields: Mapping[str, Any], line: int, name: str) -> Record:
    """Return the record of an envelope object: its envelope and its data, nested under
    ``_airbyte_data`` (an object, or JSON text in CSV) or beside the envelope's fields.

    Raises:
        SourceFormatError: no record id, a bad extraction time, or data that is not an object.
    """
    found = envelope(fields, line, name)
    if DATA not in fields:  # flattened: an empty cell (CSV "", Parquet null) is no field
        data = {k: v for k, v in fields.items() if not k.startswith(PREFIX) and v not in ("", None)}
        return Record(found, data)
    return Record(found, _nested(fields[DATA], line, name))


def _nested(data: Any, line: int, name: str) -> dict[str, Any]:
    """The record under ``_airbyte_data``: an object, or its JSON text (a CSV cell).

    Raises:
        SourceFormatError: text that is not JSON, or a value that is not an object.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data) if data.strip() else {}
        except ValueError as exc:
            raise SourceFormatError(
                f"not JSON text: {exc}", file=name, row=line, field=DATA
            ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourceFormatError(
            f"the record must be a JSON object, not {type(data).__name__}", file=name, row=line,
            field=DATA,
        )  # fmt: skip
    return data


# -------------------------------------------------------------------------------------- records


def records(
    stream: BinaryIO, container: Container, name: str, *, max_record_bytes: int
) -> Iterator[Record]:
    """Yield an Airbyte object's records in order (``stream``: its decompressed content).

    A JSON Lines line or CSV row longer than ``max_record_bytes`` is refused: a source whose
    records can be that long reads them streamed (InfoClimat, ``infoclimat.document``).

    Raises:
        SourceFormatError: a line or row that is not an Airbyte record (names the line).
    """
    if container.kind == JSONL:
        return _jsonl_records(stream, name, max_record_bytes)
    if container.kind == CSV:
        return _csv_records(stream, name, max_record_bytes)
    if container.kind == PARQUET:
        return _parquet_records(stream, name)
    raise ValueError(f"a {container.describe()} holds no Airbyte records")


def _jsonl_records(stream: BinaryIO, name: str, limit: int) -> Iterator[Record]:
    line = 0
    while text := stream.readline(limit + 1):
        line += 1
        if len(text) > limit and not text.endswith(b"\n"):
            raise SourceFormatError(
                f"the record is longer than {limit} bytes (max_record_bytes)", file=name, row=line
            )
        if not text.strip():
            continue
        yield _whole_record(text, line, name)


@contextmanager
def _csv_rows(stream: BinaryIO, name: str, limit: int) -> Iterator[Iterator[list[str]]]:
    """Yield a csv reader over UTF-8 text (a BOM dropped), fields up to ``limit`` characters.

    The csv module's field limit is process-wide: it is raised once to the most it takes, and
    the objects' own limits (``limit``, ``max_file_bytes``) bound what is read.
    """
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        yield csv.reader(text)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"not UTF-8 text: {exc}", file=name) from exc
    except csv.Error as exc:
        raise SourceFormatError(f"not readable CSV: {exc}", file=name) from exc
    finally:
        text.detach()


def _csv_records(stream: BinaryIO, name: str, limit: int) -> Iterator[Record]:
    with _csv_rows(stream, name, limit) as rows:
        header = next(rows, None)
        if header is None:
            return
        for row in rows:
            if not row:
                continue
            line = rows.line_num  # type: ignore[attr-defined]
            if sum(len(cell) for cell in row) > limit:
                raise SourceFormatError(
                    f"the record is longer than {limit} characters (max_record_bytes)",
                    file=name, row=line,
                )  # fmt: skip
            if len(row) != len(header):
                raise SourceFormatError(
                    f"{len(row)} cells, the header has {len(header)}", file=name, row=line
                )
            fields = dict(zip(header, row, strict=True))
            if DATA not in fields:  # flattened: an object or a list is a cell of JSON text
                fields = {
                    k: _json_cell(v) if not k.startswith(PREFIX) else v for k, v in fields.items()
                }
            yield split(fields, line, name)


def _json_cell(text: str) -> Any:
    """A flattened CSV cell: an object's or a list's JSON text decoded, other text as it is."""
    if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _parquet_records(stream: BinaryIO, name: str) -> Iterator[Record]:
    try:
        parquet = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        raise SourceFormatError(f"not a readable Parquet file: {exc}", file=name) from exc
    line = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for fields in batch.to_pylist():
            line += 1
            yield split(fields, line, name)


# --------------------------------------------------------------------------------------- survey


@dataclass(frozen=True)
class Survey:
    """What one reading of an Airbyte object found.

    Attributes:
        records: Its records, empty ones (``{}``) included.
        digest: ``sha256`` of what the records hold, envelopes left out: a re-sync of the same
            data under new record ids and times has the same digest.
        fields: The fields of its first non-empty record (the first one only when that record is
            a JSON Lines line longer than ``WHOLE_RECORD_BYTES``): what says which source it is.
    """

    records: int
    digest: str
    fields: tuple[str, ...]


def survey(stream: BinaryIO, container: Container, name: str, *, max_record_bytes: int) -> Survey:
    """Read an Airbyte object once (``stream``: its decompressed content) in bounded memory.

    A record is digested as canonical JSON of its data (the File source writes a row's fields
    in an order that changes from sync to sync); a JSON Lines record too long to decode (an
    InfoClimat document) from the end of the envelope fields that open it (Airbyte writes them
    first) to its end, streamed, and a CSV cell that long as it is.

    Raises:
        SourceFormatError: a record that is not an Airbyte record, or unreadable bytes.
    """
    if container.kind == JSONL:
        return _jsonl_survey(stream, name)
    if container.kind == CSV:
        return _csv_survey(stream, name, max_record_bytes)
    if container.kind == PARQUET:
        return _parquet_survey(stream, name)
    raise ValueError(f"a {container.describe()} holds no Airbyte records")


def _canonical(fields: Mapping[str, Any]) -> bytes:
    """A record's fields as they are digested: JSON with sorted keys (the File source writes a
    row's keys in an order that changes from sync to sync)."""
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def _csv_survey(stream: BinaryIO, name: str, limit: int) -> Survey:
    digest = hashlib.sha256()
    count = 0
    fields: tuple[str, ...] = ()
    with _csv_rows(stream, name, limit) as rows:
        header = next(rows, None) or []
        data = [i for i, column in enumerate(header) if not column.startswith(PREFIX)]
        nested = header.index(DATA) if DATA in header else None
        for row in rows:
            if not row:
                continue
            count += 1
            if nested is None:
                cells = {header[i]: row[i] for i in data if i < len(row) and row[i]}
                digest.update(_canonical(cells))
                present = tuple(cells)
            elif not (text := row[nested].strip() if nested < len(row) else ""):
                present = ()
            elif len(text) <= WHOLE_RECORD_BYTES:  # decoded once, as split reads it
                cells = _nested(text, rows.line_num, name)  # type: ignore[attr-defined]
                digest.update(_canonical(cells))
                present = tuple(cells)
            else:  # a long record (a document): digested as written, its first key named
                digest.update(text.encode())
                first = _FIRST_KEY.match(text[:HEAD_BYTES].encode())
                present = (json.loads(b'"' + first[1] + b'"'),) if first else ("?",)
            digest.update(b"\n")
            if present and not fields:
                fields = present
    return Survey(count, f"sha256:{digest.hexdigest()}", fields)


def _parquet_survey(stream: BinaryIO, name: str) -> Survey:
    digest = hashlib.sha256()
    count = 0
    fields: tuple[str, ...] = ()
    for record in _parquet_records(stream, name):
        count += 1
        digest.update(_canonical(record.fields))
        digest.update(b"\n")
        if record.fields and not fields:
            fields = tuple(record.fields)
    return Survey(count, f"sha256:{digest.hexdigest()}", fields)


def _jsonl_survey(stream: BinaryIO, name: str) -> Survey:
    digest = hashlib.sha256()
    count = line = 0
    fields: tuple[str, ...] = ()
    while head := stream.readline(WHOLE_RECORD_BYTES):
        line += 1
        whole = head.endswith(b"\n") or len(head) < WHOLE_RECORD_BYTES
        if not head.strip():
            continue
        count += 1
        if whole:  # decoded: digested canonical, its fields known
            record = _whole_record(head, line, name)
            digest.update(_canonical(record.fields))
            found: tuple[str, ...] | None = tuple(record.fields) or None
        else:  # a long record (a document): digested as written, from its data on, streamed
            found = _long_record(stream, head, line, name, digest)
        digest.update(b"\n")
        if found is not None and not fields:
            fields = found
    return Survey(count, f"sha256:{digest.hexdigest()}", fields)


def _whole_record(text: bytes, line: int, name: str) -> Record:
    try:
        fields = json.loads(text)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise SourceFormatError(f"not a JSON line: {exc}", file=name, row=line) from exc
    if not isinstance(fields, dict):
        raise SourceFormatError("not a JSON object (an Airbyte record)", file=name, row=line)
    return split(fields, line, name)


def _long_record(
    stream: BinaryIO, head: bytes, line: int, name: str, digest: Any
) -> tuple[str, ...] | None:
    """Digest a JSON Lines record too long to decode, from the end of the envelope fields that
    open it (Airbyte writes them first) to its end; return its first data field (None: the
    record is empty)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"not UTF-8 text: {exc}", file=name, row=line) from exc
    start, first = _payload_start(text, name, line)
    offset = len(text[: start if start is not None else len(text)].encode())
    digest.update(head[offset:])
    while piece := stream.readline(BLOCK_SIZE):
        digest.update(piece.rstrip(b"\r\n"))
        if piece.endswith(b"\n"):
            break
    return (first,) if first is not None else None


def _payload_start(text: str, name: str, line: int) -> tuple[int | None, str | None]:
    """Return where a JSON Lines record's data starts after its leading envelope fields
    (None: only envelope fields), nested under ``_airbyte_data`` or not, and its first data
    field (None: the record is empty).

    Raises:
        SourceFormatError: the line does not start as a JSON object of fields.
    """
    pos = _WS.match(text).end()  # type: ignore[union-attr]
    if text[pos : pos + 1] != "{":
        raise SourceFormatError("not a JSON object (an Airbyte record)", file=name, row=line)
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    try:
        while text[pos : pos + 1] == '"':
            key, after = scanstring(text, pos + 1)
            colon = _WS.match(text, after).end()  # type: ignore[union-attr]
            if text[colon : colon + 1] != ":":
                break
            value = _WS.match(text, colon + 1).end()  # type: ignore[union-attr]
            if key == DATA:
                inner = _WS.match(text, value + 1).end()  # type: ignore[union-attr]
                if text[value : value + 1] != "{" or text[inner : inner + 1] != '"':
                    return value, None  # {} or not an object: split() says which
                return value, scanstring(text, inner + 1)[0]
            if not key.startswith(PREFIX):
                return pos, key
            end = _DECODER.raw_decode(text, value)[1]
            pos = _WS.match(text, end).end()  # type: ignore[union-attr]
            if text[pos : pos + 1] != ",":
                return None, None  # the envelope's fields only
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    except (ValueError, IndexError) as exc:
        raise SourceFormatError(
            f"the envelope fields at the start of the record are not JSON: {exc}", file=name,
            row=line,
        ) from exc  # fmt: skip
    raise SourceFormatError("not a JSON object of fields (an Airbyte record)", file=name, row=line)
