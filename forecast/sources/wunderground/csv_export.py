"""A Weather Underground day sheet exported as CSV: file name, text and rows, then observations.

What Excel and Google Sheets write for one sheet of the workbooks (see
../shared/data/raw/FORMATS.md §2, §3.2): the header row with the workbook's names, then the
cells as displayed (times as ``12:04 AM``, values as ``56.8 °F`` with U+00A0 or an ASCII space
before the unit), possibly the empty second row as a line of separators. Three exports are
read as they come:

* Google Sheets "Download -> CSV" of one sheet: UTF-8 without a BOM, ``,``, named
  ``<spreadsheet title> - <sheet>.csv``; for an uploaded workbook the title keeps its suffix:
  ``Weather Underground - La Madeleine, FR.xlsx - 011024.csv`` (either spelling of the name);
* Excel "CSV UTF-8": UTF-8 with a byte-order mark;
* Excel "CSV (semicolon delimited)" from a Western-European locale: ``;`` and Windows-1252
  text (``°`` is byte 0xB0, the no-break space 0xA0), which is not UTF-8.

The day is not in the file: the name carries it as a ``" - DDMMYY"`` token.

Detection is kept safe (``dialects``): the separator is the one that splits the header line
into the workbook's column names; Windows-1252 is tried only for a file without a BOM whose
header, decoded so, is the workbook's header, and only once the file has proved not to be
UTF-8. Anything else is read as UTF-8, with today's errors (not UTF-8, required column missing).

The bytes become the same rows that calamine gives for a worksheet, and ``cells`` turns both
into canonical observations with one code path.
The stream is read in blocks, at least twice: ``scan`` checks the whole text (encoding, row
limit, CSV syntax) and finds the header and the widest row, then ``row_chunks`` gives the rows
in chunks.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from forecast.errors import SourceFormatError
from forecast.sources.common import Chunks, ChunkSink, RawSource, StreamSummary
from forecast.sources.limits import Limits, check_rows
from forecast.sources.streams import BLOCK_SIZE, BOM, NotUtf8, TextBlocks, lines, read_blocks
from forecast.sources.wunderground.cells import (
    PROVIDED,
    Day,
    Finisher,
    Layout,
    day_of,
    day_table,
    header_matches,
    layout_notes,
)
from forecast.sources.wunderground.stations import (
    RegisteredStation,
    normalise_file_stem,
    station_for_file,
    station_table,
)

CSV_SUFFIX = ".csv"
_DAY_TOKEN = re.compile(r"^(?P<stem>.*\S)\s+-\s+(?P<day>\d{6})$")
_WORKBOOK_SUFFIX = re.compile(r"\.xlsx$", re.IGNORECASE)  # Google Sheets keeps it in the title
_DELIMITERS = (",", ";", "\t")  # ";" is what Excel writes in locales with a decimal comma
UTF8, CP1252 = "utf-8", "cp1252"
_ENCODING_NAMES = {UTF8: "UTF-8", CP1252: "Windows-1252"}
_HEADER_BYTES = 64 * 1024  # most bytes of the header line looked at (the real one has ~100)
CP1252_NOTE = "CSV export read as Windows-1252 text (it is not UTF-8)"


def is_csv(file_name: str) -> bool:
    """Return True when the file name ends with ``.csv`` (any case)."""
    return file_name.casefold().endswith(CSV_SUFFIX)


def split_day_token(file_name: str) -> tuple[str, str]:
    """Return the station part of a CSV export's name and its DDMMYY token.

    ``Weather Underground - La Madeleine, FR - 011024.csv`` (or its ``+`` spelling), and Google
    Sheets' ``Weather Underground - La Madeleine, FR.xlsx - 011024.csv``, give
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
    return _WORKBOOK_SUFFIX.sub("", match["stem"]).rstrip(), match["day"]


HeaderCheck = Callable[[Sequence[str]], bool]
"""Whether header cells are the workbook's (every required column found by its aliases)."""


@dataclass(frozen=True)
class Dialect:
    """How to read a CSV export's bytes: its text encoding and separator."""

    encoding: str
    delimiter: str


def delimiter(header: str, matches: HeaderCheck) -> str | None:
    """Return the separator that splits ``header`` into the workbook's columns, or None."""
    for delimiter in _DELIMITERS:
        if matches(next(csv.reader([header], delimiter=delimiter), [])):
            return delimiter
    return None


def _header_line(stream: BinaryIO) -> bytes:
    """Return the bytes of the first line (at most ``_HEADER_BYTES``), without its end."""
    head = b""
    for block in read_blocks(stream, 4096):
        head += block
        end = re.search(rb"[\r\n]", head)
        if end is not None:
            return head[: end.start()]
        if len(head) >= _HEADER_BYTES:
            break
    return head[:_HEADER_BYTES]


def dialects(stream: BinaryIO, matches: HeaderCheck) -> list[Dialect]:
    """Return the ways to read the export, in the order to try them (see the module notes).

    UTF-8 comes first, with the separator that makes the header the workbook's (else the most
    frequent one, as before: the header check then fails with its own message). Windows-1252
    follows only for a file without a BOM whose header, decoded as Windows-1252, is the
    workbook's.
    """
    line = _header_line(stream)
    text = line.removeprefix(BOM).decode(UTF8, errors="replace")
    found = [Dialect(UTF8, delimiter(text, matches) or max(_DELIMITERS, key=text.count))]
    if not line.startswith(BOM):
        try:
            separator = delimiter(line.decode(CP1252), matches)
        except UnicodeDecodeError:
            separator = None
        if separator is not None:
            found.append(Dialect(CP1252, separator))
    return found


@dataclass(frozen=True)
class Shape:
    """What the first pass over a CSV export found: its header row, dialect and lines."""

    header: list[str]  # padded with empty names to the widest row
    delimiter: str
    lines: int
    encoding: str = UTF8


class _Counted:
    """An iterator of lines that counts the lines given out."""

    def __init__(self, source: Iterator[str]) -> None:
        self._source, self.count = source, 0

    def __iter__(self) -> Iterator[str]:
        for line in self._source:
            self.count += 1
            yield line


def _text_lines(stream: BinaryIO, block_size: int, encoding: str = UTF8) -> Iterator[str]:
    return lines(iter(TextBlocks(stream, block_size, encoding)))


def _encoding_error(errors: list[NotUtf8], file: str) -> SourceFormatError:
    tried = ", nor ".join(f"{_ENCODING_NAMES[e.encoding]} text: {e}" for e in errors)
    return SourceFormatError(f"not {tried} (export the sheet as 'CSV UTF-8')", file=file)


def read_shape(
    open_: Callable[[], ContextManager[BinaryIO]],
    file: str,
    sheet: str,
    limits: Limits,
    matches: HeaderCheck,
    block_size: int = BLOCK_SIZE,
) -> Shape:
    """Return the shape of the export ``open_`` reads, in the first dialect its text is in.

    Raises:
        SourceFormatError: not text in any dialect tried (every byte offset named), or as
            ``scan``.
    """
    with open_() as stream:
        tried = dialects(stream, matches)
    errors: list[NotUtf8] = []
    for dialect in tried:
        with open_() as stream:
            try:
                return scan(stream, file, sheet, limits, block_size, dialect)
            except NotUtf8 as exc:
                errors.append(exc)
    raise _encoding_error(errors, file) from errors[0]


def scan(
    stream: BinaryIO,
    file: str,
    sheet: str,
    limits: Limits,
    block_size: int = BLOCK_SIZE,
    dialect: Dialect | None = None,
) -> Shape:
    """Read the whole CSV once, in blocks, and return its shape; row ``i`` is line ``i + 1``.

    The header is padded with empty names to the widest row, so that values beyond the header
    show up as unnamed columns rather than vanishing. Every line is read before any refusal,
    so a byte that is not text in the dialect's encoding wins wherever it is, as when the whole
    text is decoded first. Without a ``dialect``: UTF-8 and the header's most frequent separator.

    Raises:
        NotUtf8: a byte that is not text in the dialect's encoding (``read_shape`` words it).
        SourceFormatError: empty, over ``limits.max_rows_per_sheet``, a line the csv module
            refuses, or a quoted value spanning lines (which would make line numbers lie), in
            that order.
    """
    encoding = dialect.encoding if dialect is not None else UTF8
    counted = _Counted(_text_lines(stream, block_size, encoding))
    text = iter(counted)
    header = next(text, None)
    if header is None or not header.strip():
        for _ in text:
            pass
        raise SourceFormatError("CSV is empty (no header row)", file=file, sheet=sheet, row=1)
    delimiter = dialect.delimiter if dialect is not None else max(_DELIMITERS, key=header.count)
    reader = csv.reader(_chain(header, text), delimiter=delimiter, strict=True)
    found = _read_records(reader)
    for _ in text:  # after a refused line: the rest must still be text
        pass
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
    return Shape(head + [""] * (found.width - len(head)), delimiter, counted.count, encoding)


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
    text = _text_lines(stream, block_size, shape.encoding)
    reader = csv.reader(text, delimiter=shape.delimiter, strict=True)
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


# ------------------------------------------------------------------------------- one export


def _csv_day(name: str) -> tuple[RegisteredStation, str, datetime]:
    """Return the station, DDMMYY token and date a CSV export's file name stands for."""
    stem, token = split_day_token(name)
    try:
        station = station_for_file(f"{stem}{CSV_SUFFIX}")
    except SourceFormatError as exc:
        raise SourceFormatError(
            f"no Weather Underground station is registered for {stem!r} (the name before "
            "' - DDMMYY'); add it to forecast/data/stations.toml",
            file=name,
        ) from exc
    date = day_of(token)
    if date is None:
        raise SourceFormatError(
            f"the file name's date token {token!r} is not a DDMMYY date", file=name
        )
    return station, token, date


def parse_export(
    source: RawSource, sink: ChunkSink, *, limits: Limits, chunk_rows: int
) -> StreamSummary:
    """Parse one day-sheet of a Weather Underground workbook exported as CSV, in passes over
    the stream: its dialect, checks, then rows in chunks of at most ``chunk_rows``.

    The day comes from the file name's ``" - DDMMYY"`` token and the station from the part
    before it (``Weather Underground - La Madeleine, FR - 011024.csv``, or as Google Sheets
    names it, ``Weather Underground - La Madeleine, FR.xlsx - 011024.csv``). Separator and
    encoding (UTF-8 with or without BOM, or Windows-1252) are detected from the header line.
    Rows are converted by the workbook's code, so the same cells give the same canonical rows;
    ``sheet`` is the token and ``row`` the CSV line number.

    Raises:
        SourceFormatError: no date token, unknown station, not UTF-8 (nor Windows-1252 with
            the workbook's header), over a limit or missing column (names file, sheet, row and
            field). A bad time is a row's parse error.
    """
    station, token, date = _csv_day(source.name)

    def content() -> ContextManager[BinaryIO]:
        return source.content(limits.max_uncompressed_bytes)

    shape = read_shape(content, source.name, token, limits, header_matches, BLOCK_SIZE)
    chunks = Chunks(sink, chunk_rows)
    finish = Finisher(station, source)
    layout: Layout | None = None
    with content() as stream:
        for start, rows in row_chunks(stream, shape, chunk_rows, BLOCK_SIZE):
            day = Day(token, date, [shape.header, *rows], start=start)
            table, part = day_table(day, source.name)
            layout = part if layout is None else layout.merged(part)
            if table.num_rows:
                chunks.add(finish(table))
    chunks.close()
    notes = tuple(layout_notes([(token, layout or Layout())]))
    if shape.encoding == CP1252:
        notes = (CP1252_NOTE, *notes)
    return StreamSummary(station_table(station, PROVIDED), notes, chunks.handed, (token,))
