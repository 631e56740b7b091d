"""Reading a Weather Underground day sheet exported as CSV: file name, text and rows.

What Excel ("Save as CSV UTF-8") and Google Sheets ("Download as CSV") write for one sheet of
the workbooks (see ../shared/data/raw/FORMATS.md §2, §3.2): the header row with the workbook's
names, then the cells as displayed (times as ``12:04 AM``, values as ``56.8 °F`` with U+00A0
or an ASCII space before the unit), possibly the empty second row as a line of commas, UTF-8
with or without a byte-order mark. The day is not in the file: the name carries it as a
``" - DDMMYY"`` token, which is also how Google Sheets names the download of one sheet
(``<workbook> - <sheet>.csv``).

This module only turns the bytes into the same list of rows that calamine gives for a
worksheet; ``forecast.sources.wunderground`` turns both into canonical observations with one
code path.
"""

from __future__ import annotations

import csv
import re

from forecast.errors import SourceFormatError
from forecast.sources.common import RawFile
from forecast.sources.limits import Limits, check_rows
from forecast.stations import normalise_file_stem

CSV_SUFFIX = ".csv"
_BOM = b"\xef\xbb\xbf"
_DAY_TOKEN = re.compile(r"^(?P<stem>.*\S)\s+-\s+(?P<day>\d{6})$")
_LINE_END = re.compile(r"\r\n|\r|\n")  # what the csv module treats as the end of a record
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


def _text(raw: RawFile) -> str:
    body = raw.content[len(_BOM) :] if raw.content.startswith(_BOM) else raw.content
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(raw.content) - len(body)
        raise SourceFormatError(
            f"not UTF-8 text: byte 0x{raw.content[offset]:02x} at offset {offset} "
            "(export the sheet as 'CSV UTF-8')",
            file=raw.name,
        ) from exc


def _delimiter(header: str) -> str:
    return max(_DELIMITERS, key=header.count)  # ties keep the first, ","


def _spanning_record(lines: list[str], delimiter: str) -> int:
    """Return the line number where the first record spanning several lines starts."""
    reader = csv.reader(lines, delimiter=delimiter)
    start = 1
    for _ in reader:
        if reader.line_num != start:
            return start
        start = reader.line_num + 1
    return start


def read_rows(raw: RawFile, sheet: str, limits: Limits) -> list[list[str]]:
    """Return the CSV's rows as lists of text, row ``i`` being line ``i + 1`` of the file.

    The header is padded with empty names to the widest row, so that values beyond the header
    show up as unnamed columns rather than vanishing.

    Raises:
        SourceFormatError: not UTF-8, empty, over ``limits.max_rows_per_sheet``, or a quoted
            value spanning lines (which would make line numbers lie).
    """
    text = _text(raw)
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines or not lines[0].strip():
        raise SourceFormatError("CSV is empty (no header row)", file=raw.name, sheet=sheet, row=1)
    check_rows(len(lines) - 1, raw.name, sheet, limits)
    delimiter = _delimiter(lines[0])
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise SourceFormatError(
            f"not a readable CSV line: {exc}", file=raw.name, sheet=sheet, row=reader.line_num
        ) from exc
    if len(rows) != len(lines):
        raise SourceFormatError(
            "a quoted value spans several lines (one line per row is expected)",
            file=raw.name,
            sheet=sheet,
            row=_spanning_record(lines, delimiter),
        )
    width = max(map(len, rows))
    rows[0] = rows[0] + [""] * (width - len(rows[0]))
    return rows
