"""Airbyte's side of the landing, for tests, demos and benchmarks: what its File source and its
S3 destination make of a file, written without Airbyte.

The shape is the one the real connector gives (``airbyte-source-file`` 0.6.0, read on the real
files; see ``forecast.sources.containers`` and ``forecast.sources.wunderground.records``):

* an InfoClimat JSON file is one record, the whole document, re-serialised compactly;
* a Weather Underground workbook is one record per row of every sheet in order, keyed by the
  header, an empty cell a missing key, times as ``"00:04:00"``, the UV column as a float
  (``0.0``), an empty record ``{}`` for each sheet's blank second row, and no sheet name. Users
  add a ``Date`` column before the sync: ``day_column`` writes one, from the sheet name, in
  ``day_format`` (or a local ``DateTime`` one).

The S3 destination writes ``<stream>/<YYYY>_<MM>_<DD>_<epoch ms>_<part>.<ext>`` with each record
in an envelope (current generation: ``_airbyte_raw_id``, ``_airbyte_extracted_at``,
``_airbyte_meta``, ``_airbyte_generation_id``; older: ``_airbyte_ab_id``,
``_airbyte_emitted_at``), nested under ``_airbyte_data`` or flattened beside it, as JSON Lines,
CSV (plain or gzip) or Parquet. Record ids are random per sync (seeded here), as a re-sync of the
same data gets new ones.

Standard library, openpyxl and pyarrow only.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import load_workbook


@dataclass(frozen=True)
class Format:
    """One output format of the S3 destination.

    Attributes:
        kind: ``"jsonl"``, ``"csv"`` or ``"parquet"``.
        compressed: gzip (JSON Lines and CSV only).
        flattened: root-level flattening (the record's fields beside the envelope's).
        generation: ``"current"`` or ``"older"`` envelope fields.
    """

    kind: str = "jsonl"
    compressed: bool = False
    flattened: bool = False
    generation: str = "current"

    @property
    def extension(self) -> str:
        """The object's extension: ``.jsonl``, ``.jsonl.gz``, ``.csv``, ``.csv.gz``, ``.parquet``."""
        return f".{self.kind}" + (".gz" if self.compressed else "")

    def describe(self) -> str:
        """``jsonl.gz, flattened, older envelope``."""
        parts = [self.extension.lstrip(".")]
        parts += ["flattened"] if self.flattened else []
        parts += ["older envelope"] if self.generation == "older" else []
        return ", ".join(parts)


FORMATS: tuple[Format, ...] = (
    Format("jsonl"),
    Format("jsonl", compressed=True),
    Format("jsonl", flattened=True),
    Format("jsonl", compressed=True, generation="older"),
    Format("csv"),
    Format("csv", compressed=True),
    Format("csv", flattened=True),
    Format("csv", generation="older"),
    Format("parquet", flattened=True),
)
"""Every form the pipeline reads: JSON Lines and CSV, plain and gzip, nested and flattened, both
envelope generations, and Parquet."""


# ------------------------------------------------------------------------------ the File source


def infoclimat_records(path: Path) -> Iterator[dict[str, Any]]:
    """The File source's records of an InfoClimat JSON file: the document, as one record."""
    yield json.loads(path.read_bytes())


def _cell(value: Any) -> Any:
    """A workbook cell as the File source emits it (pandas then orjson)."""
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # the blank second row makes pandas read a numeric column as float
    return value


def _day(sheet: str, day_format: str) -> str:
    day = datetime.strptime(sheet, "%d%m%y")
    return sheet if day_format == "DDMMYY" else day.strftime(day_format)


def wunderground_records(
    path: Path, *, day_column: str | None = "Date", day_format: str = "%Y-%m-%d", seed: int = 0
) -> Iterator[dict[str, Any]]:
    """The File source's records of a Weather Underground workbook, sheet by sheet.

    Args:
        path: The workbook.
        day_column: The column a user adds before the sync (``"Date"``; ``"DateTime"`` for
            the local date and time; None: none, as the File source alone gives).
        day_format: How the day is written (``%Y-%m-%d``, ``%d/%m/%Y`` or ``DDMMYY``).
        seed: The order of the keys in each record (the File source's varies from run to run).
    """
    order = random.Random(seed)
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = [str(h) for h in next(rows, ()) if h is not None]
            for row in rows:
                record = {h: _cell(v) for h, v in zip(header, row, strict=False) if v is not None}
                if record and day_column:
                    day = _day(sheet.title, day_format)
                    if day_column.casefold() == "datetime":
                        day = (
                            f"{datetime.strptime(sheet.title, '%d%m%y'):%Y-%m-%d} {record['Time']}"
                        )
                    record[day_column] = day
                keys = list(record)
                order.shuffle(keys)
                yield {key: record[key] for key in keys}
    finally:
        workbook.close()


# --------------------------------------------------------------------------- the S3 destination


def _envelope(
    extracted_ms: int, sync_id: int, generation: str, ids: random.Random
) -> dict[str, Any]:
    record_id = str(uuid.UUID(int=ids.getrandbits(128), version=4))
    if generation == "older":
        return {"_airbyte_ab_id": record_id, "_airbyte_emitted_at": extracted_ms}
    return {
        "_airbyte_raw_id": record_id,
        "_airbyte_extracted_at": extracted_ms,
        "_airbyte_meta": {"sync_id": sync_id, "changes": []},
        "_airbyte_generation_id": 0,
    }


def _enveloped(
    records: Iterable[dict[str, Any]], fmt: Format, extracted_at: datetime, sync_id: int, seed: int
) -> Iterator[dict[str, Any]]:
    ids = random.Random(seed)
    millis = int(extracted_at.timestamp()) * 1000  # the File source's: whole seconds
    for record in records:
        envelope = _envelope(millis, sync_id, fmt.generation, ids)
        yield {**envelope, **record} if fmt.flattened else {**envelope, "_airbyte_data": record}


def _text(value: Any) -> str:
    """A CSV cell: text as it is, anything else as JSON (an object, a list, a number)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _write_jsonl(rows: Iterable[dict[str, Any]], stream: io.TextIOBase) -> None:
    for row in rows:
        stream.write(json.dumps(row, separators=(",", ":"), ensure_ascii=False))
        stream.write("\n")


def _write_csv(rows: Iterable[dict[str, Any]], stream: io.TextIOBase) -> None:
    rows = list(rows)
    header = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_text(row.get(column)) for column in header])


def write_object(
    records: Iterable[dict[str, Any]],
    landing: Path,
    stream: str,
    fmt: Format,
    *,
    extracted_at: datetime = datetime(2024, 10, 8, 6, tzinfo=UTC),
    sync_id: int = 1,
    seed: int = 0,
    part: int = 0,
) -> Path:
    """Write ``records`` as the S3 destination writes one object of ``stream`` under
    ``landing``; return its path (``<landing>/<stream>/<YYYY>_<MM>_<DD>_<epoch ms>_<part><ext>``).

    ``seed`` draws the record ids: another sync (another seed, another ``extracted_at``) of the
    same records gives other envelopes around the same data.
    """
    millis = int(extracted_at.timestamp() * 1000)
    path = landing / stream / f"{extracted_at:%Y_%m_%d}_{millis}_{part}{fmt.extension}"
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = _enveloped(records, fmt, extracted_at, sync_id, seed)
    if fmt.kind == "parquet":
        # pa.array reads every row's keys (Table.from_pylist would keep only the first row's):
        # like the destination's schema, every column for every row, null where a row has none
        pq.write_table(pa.Table.from_struct_array(pa.array(list(rows))), path)
        return path
    opener = gzip.open if fmt.compressed else open
    with opener(path, "wt", encoding="utf-8", newline="") as text:  # type: ignore[operator]
        (_write_jsonl if fmt.kind == "jsonl" else _write_csv)(rows, text)
    return path
