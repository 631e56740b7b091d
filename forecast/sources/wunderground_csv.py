"""Reading a Weather Underground day sheet exported as CSV: file name, text and rows.

What Excel ("Save as CSV UTF-8") and Google Sheets ("Download as CSV") write for one sheet of
the workbooks (see ../shared/data/raw/FORMATS.md §2, §3.2): the header row with the workbook's
names, then the cells as displayed (times as ``12:04 AM``, values as ``56.8 °F`` with U+00A0
or an ASCII space before the unit), possibly the empty second row as a line of commas, UTF-8
with or without a byte-order mark. The day is not in the file: the name carries it as a
``" - DDMMYY"`` token, which is also how Google Sheets names the download of one sheet
(``<workbook> - <sheet>.csv``).

This module only turns the bytes into the same rows that calamine gives for a worksheet;
``forecast.sources.wunderground`` turns both into canonical observations with one code path.
The stream is read twice, in blocks: ``scan`` checks the whole text (UTF-8, row limit, CSV
syntax) and finds the header and the widest row, then ``row_chunks`` gives the rows in chunks.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from forecast.errors import SourceFormatError
from forecast.sources.limits import Limits, check_rows
from forecast.sources.streams import BLOCK_SIZE, NotUtf8, TextBlocks, lines
from forecast.stations import normalise_file_stem

CSV_SUFFIX = ".csv"
_DAY_TOKEN = re.compile(r"^(?P<stem>.*\S)\s+-\s+(?P<day>\d{6})$")
_DELIMITERS = (",", ";", "\t")  # ";" is what Excel writes in locales with a decimal comma


def is_csv(file_name: str) -> bool:
    """Return True when the file name ends with ``.csv`` (any case)."""
    return file_name.casefold().endswith(CSV_SUFFIX)


def split_day_token(file_name: str) -> tuple[str, str]:
    """Return the station part of a CSV export's name and its DDMMYY token.

    ``Weather Underground - La Madeleine, FR - 011024.csv`` (or its ``+`` spelling) gives
    ``("Weather Underground - La Madeleine, FR", "011024")``.

    Raises:
        SourceFormatError: the name does not end with ``" - DDMMYY"`` before the suffix.
    """
    match = _DAY_TOKEN.match(normalise_file_stem(file_name))
    if match is None:
        raise SourceFormatError(
            "a CSV export's name must end with ' - DDMMYY' (the day of the sheet), "
            "e.g. 'Weather Underground - La Madeleine, FR - 011024.csv'",
            file=file_name,
        )
    return match["stem"], match["day"]


def _delimiter(header: str) -> str:
    return max(_DELIMITERS, key=header.count)  # ties keep the first, ","


@dataclass(frozen=True)
class Shape:
    """What the first pass over a CSV export found: its header row, delimiter and lines."""

    header: list[str]  # padded with empty names to the widest row
    delimiter: str
    lines: int


class _Counted:
    """An iterator of lines that counts the lines given out."""

    def __init__(self, source: Iterator[str]) -> None:
        self._source, self.count = source, 0

    def __iter__(self) -> Iterator[str]:
        for line in self._source:
            self.count += 1
            yield line


def _text_lines(stream: BinaryIO, block_size: int) -> Iterator[str]:
    return lines(iter(TextBlocks(stream, block_size)))


def _utf8_error(exc: NotUtf8, file: str) -> SourceFormatError:
    return SourceFormatError(f"not UTF-8 text: {exc} (export the sheet as 'CSV UTF-8')", file=file)


def scan(
    stream: BinaryIO, file: str, sheet: str, limits: Limits, block_size: int = BLOCK_SIZE
) -> Shape:
    """Read the whole CSV once, in blocks, and return its shape; row ``i`` is line ``i + 1``.

    The header is padded with empty names to the widest row, so that values beyond the header
    show up as unnamed columns rather than vanishing. Every line is read before any refusal,
    so a byte that is not UTF-8 wins wherever it is, as when the whole text is decoded first.

    Raises:
        SourceFormatError: not UTF-8, empty, over ``limits.max_rows_per_sheet``, a line the
            csv module refuses, or a quoted value spanning lines (which would make line
            numbers lie), in that order.
    """
    counted = _Counted(_text_lines(stream, block_size))
    text = iter(counted)
    try:
        header = next(text, None)
        if header is None or not header.strip():
            for _ in text:
                pass
            raise SourceFormatError("CSV is empty (no header row)", file=file, sheet=sheet, row=1)
        delimiter = _delimiter(header)
        reader = csv.reader(_chain(header, text), delimiter=delimiter, strict=True)
        found = _read_records(reader)
        for _ in text:  # after a refused line: the rest must still be UTF-8
            pass
    except NotUtf8 as exc:
        raise _utf8_error(exc, file) from exc
    check_rows(counted.count - 1, file, sheet, limits)
    if found.error is not None:
        raise SourceFormatError(
            f"not a readable CSV line: {found.error}", file=file, sheet=sheet, row=found.error_line
        ) from found.error
    if found.records != counted.count:
        raise SourceFormatError(
            "a quoted value spans several lines (one line per row is expected)",
            file=file,
            sheet=sheet,
            row=found.spanning,
        )
    head = found.header
    return Shape(head + [""] * (found.width - len(head)), delimiter, counted.count)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


@dataclass
class _Records:
    header: list[str]
    records: int = 0
    width: int = 0
    spanning: int = 1  # the line where the first record spanning several lines starts
    error: csv.Error | None = None
    error_line: int = 0


def _read_records(reader: Iterator[list[str]]) -> _Records:
    """Read every record, noting the widest and the first spanning lines (or the csv error)."""
    found = _Records([])
    start, spanning = 1, None
    try:
        for row in reader:
            if not found.records:
                found.header = row
            found.records += 1
            found.width = max(found.width, len(row))
            line = reader.line_num  # type: ignore[attr-defined]
            if spanning is None and line != start:
                spanning = start
            start = line + 1
    except csv.Error as exc:
        found.error, found.error_line = exc, reader.line_num  # type: ignore[attr-defined]
    found.spanning = start if spanning is None else spanning
    return found


def row_chunks(
    stream: BinaryIO, shape: Shape, chunk_rows: int, block_size: int = BLOCK_SIZE
) -> Iterator[tuple[int, list[list[str]]]]:
    """Yield ``(line of the first row, rows)`` below the header, ``chunk_rows`` rows at a time.

    The stream must hold the bytes ``scan`` accepted. Yields at least once (maybe no rows).
    """
    reader = csv.reader(_text_lines(stream, block_size), delimiter=shape.delimiter, strict=True)
    next(reader, None)  # the header, as scan found it
    batch: list[list[str]] = []
    start = 2
    for row in reader:
        batch.append(row)
        if len(batch) == chunk_rows:
            yield start, batch
            start, batch = start + len(batch), []
    if batch or start == 2:
        yield start, batch
