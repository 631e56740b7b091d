"""Weather Underground workbooks (one sheet per day), read sheet by sheet.

Quirks handled (see ../shared/data/raw/FORMATS.md §2): no station inside the file (the registry
maps the file name to it); the date only in the sheet name, as DDMMYY; an empty row 2. Workbook
drift, decided here and reported as drift notes: hidden sheets and chart (or other non-work)
sheets are skipped; a sheet whose name is not a DDMMYY date is skipped when another sheet is a
date sheet (the file fails when none is); merged cells are accepted in the header row only. A
formula cell without a cached value reads as empty, and a measurement there gets a parse error
(found in the sheet XML: calamine reads it as an empty cell).

Memory is bounded by one sheet (at most ``Limits.max_rows_per_sheet`` rows) and the compressed
workbook, which calamine holds in memory (at most ``Limits.max_file_bytes``); a stream that cannot
seek is first spooled to a temporary file. Errors may come after chunks of earlier sheets were
handed to the sink (the caller discards them).
"""

from __future__ import annotations

import contextlib
import io
import posixpath
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import BinaryIO
from xml.etree import ElementTree

from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    SheetMetadata,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from forecast.errors import SourceFormatError
from forecast.sources.common import Chunks, ChunkSink, RawSource, StreamSummary
from forecast.sources.limits import Limits, check_archive, check_rows
from forecast.sources.streams import read_blocks
from forecast.sources.wunderground.cells import (
    PROVIDED,
    Day,
    Finisher,
    Layout,
    day_of,
    day_table,
    layout_notes,
)
from forecast.sources.wunderground.stations import station_for_file, station_table

# calamine's enums are not hashable: pairs compared with ==, not dict keys.
_SKIPPED_TYPES = (
    (SheetTypeEnum.ChartSheet, "chart sheet"),
    (SheetTypeEnum.DialogSheet, "dialog sheet"),
    (SheetTypeEnum.MacroSheet, "macro sheet"),
    (SheetTypeEnum.Vba, "VBA module"),
)
_HIDDEN = ((SheetVisibleEnum.Hidden, "hidden"), (SheetVisibleEnum.VeryHidden, "very hidden"))
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


@contextlib.contextmanager
def _seekable(stream: BinaryIO) -> Iterator[BinaryIO]:
    """Yield ``stream`` if it can seek (a zip needs it), else a temporary copy of it."""
    seekable = getattr(stream, "seekable", None)
    if seekable is not None and seekable():
        yield stream
        return
    with tempfile.TemporaryFile() as copy:
        for block in read_blocks(stream):
            copy.write(block)
        copy.seek(0)
        yield copy


def _archive(file: BinaryIO, name: str, limits: Limits) -> zipfile.ZipFile:
    """Return the workbook's zip, its directory checked against the limits before any read."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SourceFormatError(f"not a readable Excel workbook: {exc}", file=name) from exc
    check_archive(archive, name, limits)
    return archive


def _open(file: BinaryIO, name: str) -> CalamineWorkbook:
    """Return the workbook; calamine reads the whole (compressed) file into memory."""
    try:
        file.seek(0)
        return CalamineWorkbook.from_filelike(file)
    except (CalamineError, ValueError, OSError) as exc:
        raise SourceFormatError(f"not a readable Excel workbook: {exc}", file=name) from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(archive: zipfile.ZipFile, member: str, file: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(archive.read(member))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile) as exc:
        raise SourceFormatError(
            f"not a readable Excel workbook: part {member!r}: {exc}", file=file
        ) from exc


def _sheet_parts(archive: zipfile.ZipFile, file: str) -> dict[str, str]:
    """Return sheet name -> zip member holding its XML, from the workbook part and its rels."""
    book = "xl/workbook.xml"
    for rel in _xml(archive, "_rels/.rels", file):
        if rel.get("Type", "").endswith("/officeDocument"):
            book = rel.get("Target", book).lstrip("/")
    folder, name = posixpath.split(book)
    targets = {
        rel.get("Id"): rel.get("Target", "")
        for rel in _xml(archive, posixpath.join(folder, "_rels", f"{name}.rels"), file)
    }
    parts: dict[str, str] = {}
    for element in _xml(archive, book, file).iter():
        if _local(element.tag) != "sheet":
            continue
        rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
        target = targets.get(rid, "")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
        parts[element.get("name", "")] = posixpath.normpath(path)
    return parts


def _cell_position(ref: str) -> tuple[int, int]:
    """Return (row number, column position) of an A1 reference: ``"B4"`` -> ``(4, 1)``."""
    letters = ref.rstrip("0123456789")
    column = 0
    for letter in letters:
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(ref[len(letters) :]), column - 1


def _uncached_formulas(xml: bytes) -> dict[int, list[int]]:
    """Return column position -> row numbers of the formula cells without a cached value.

    calamine reads such a cell as ``''``, exactly like an empty cell, and exposes no formulas,
    so they are found in the sheet XML. openpyxl writes a formula it cannot compute (any
    ``"=B3*2"`` string) as ``<c r="B4"><f>B3*2</f><v /></c>``: no cached value. Excel writes
    a formula whose result is the empty string as ``t="str"`` with an empty ``<v>``: that is a
    cached (empty) value. Cells are only walked when the sheet holds a formula at all.
    """
    found: dict[int, list[int]] = {}
    if not _HAS_FORMULA.search(xml):
        return found
    for _, element in ElementTree.iterparse(io.BytesIO(xml)):
        if _local(element.tag) != "c":
            continue
        children = {_local(child.tag): child for child in element}
        value = children.get("v")
        cached = value is not None and (bool(value.text) or element.get("t") == "str")
        if "f" in children and not cached and element.get("r"):
            row, column = _cell_position(element.get("r", ""))
            found.setdefault(column, []).append(row)
        element.clear()
    return found


def _skip_note(meta: SheetMetadata) -> str | None:
    """Return the drift note for a sheet that is not read, or None for a visible worksheet."""
    kind = next((kind for typ, kind in _SKIPPED_TYPES if meta.typ == typ), None)
    if kind is None and meta.typ != SheetTypeEnum.WorkSheet:
        kind = "non-worksheet"
    if kind is not None:
        return f"{kind} {meta.name!r} skipped"
    hidden = next((label for state, label in _HIDDEN if meta.visible == state), None)
    return None if hidden is None else f"{hidden} sheet {meta.name!r} skipped"


def _day_sheets(
    workbook: CalamineWorkbook, file: str
) -> tuple[list[tuple[str, datetime]], list[str]]:
    """Return the (name, date) of the sheets to read, and drift notes on the others.

    Raises:
        SourceFormatError: no visible worksheet is named as a DDMMYY date.
    """
    drift: list[str] = []
    worksheets: list[str] = []
    for meta in workbook.sheets_metadata:
        note = _skip_note(meta)
        if note is None:
            worksheets.append(meta.name)
        else:
            drift.append(note)
    days = [(name, date) for name in worksheets if (date := day_of(name)) is not None]
    names = ", ".join(repr(name) for name in workbook.sheet_names)
    if not days and worksheets:
        raise SourceFormatError(
            f"sheet name is not a DDMMYY date, and no sheet is (sheets: {names})",
            file=file,
            sheet=worksheets[0],
        )
    if not days:
        raise SourceFormatError(f"no visible worksheet (sheets: {names})", file=file)
    drift += [f"sheet {n!r} is not a DDMMYY date: skipped" for n in worksheets if day_of(n) is None]
    return days, drift


def _merge_notes(sheet: CalamineSheet, file: str) -> list[str]:
    """Return a drift note for merged header cells; refuse merged cells below the header."""
    header: list[str] = []
    for (top, left), (bottom, right) in sheet.merged_cell_ranges or ():
        ref = f"{_column_name(left)}{top + 1}:{_column_name(right)}{bottom + 1}"
        if bottom > 0:
            raise SourceFormatError(
                f"merged cells {ref} in the data area: rows cannot be aligned to the header",
                file=file, sheet=sheet.name, row=top + 1, field=ref,
            )  # fmt: skip
        header.append(ref)
    return [f"sheet {sheet.name!r}: merged header cells {', '.join(header)}"] if header else []


def _column_name(position: int) -> str:
    name = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _read_day(
    workbook: CalamineWorkbook,
    archive: zipfile.ZipFile,
    parts: Mapping[str, str],
    name_and_date: tuple[str, datetime],
    file: str,
    limits: Limits,
) -> tuple[Day, list[str]]:
    """Return one date sheet's cells and its merge notes, after the row limit and merges."""
    name, date = name_and_date
    sheet = workbook.get_sheet_by_name(name)
    check_rows(sheet.end[0] if sheet.end else 0, file, name, limits)
    notes = _merge_notes(sheet, file)
    rows = sheet.to_python(skip_empty_area=False)
    part = parts.get(name, "")
    if part not in archive.namelist():
        # calamine found the sheet by its own route; without its XML, formula cells without a
        # cached value cannot be told from empty cells: say so rather than guess.
        notes.append(f"sheet {name!r}: formula cells not checked (sheet XML not found)")
        return Day(name, date, rows), notes
    try:
        xml = archive.read(part)
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise SourceFormatError(
            f"not a readable Excel workbook: part {part!r}: {exc}", file=file, sheet=name
        ) from exc
    return Day(name, date, rows, _uncached_formulas(xml)), notes


def parse_workbook(
    source: RawSource, sink: ChunkSink, *, limits: Limits, chunk_rows: int
) -> StreamSummary:
    """Parse a Weather Underground workbook sheet by sheet, handing chunks to ``sink``.

    Each chunk holds at most ``chunk_rows`` rows, and may span days; the station comes from the
    file name. ``limits``: the zip directory is checked before any sheet is read, then the rows
    of each day.

    Raises:
        SourceFormatError: unknown station file name, not a readable workbook, no date sheet,
            missing column or merged data cells (names file, sheet, row and field). It may come
            after chunks of earlier sheets were handed to ``sink``: discard them.
    """
    station = station_for_file(source.name)
    chunks = Chunks(sink, chunk_rows)
    finish = Finisher(station, source)
    layouts: list[tuple[str, Layout]] = []
    with (
        source.content(limits.max_uncompressed_bytes) as stream,
        _seekable(stream) as file,
        _archive(file, source.name, limits) as archive,
        _open(file, source.name) as workbook,
    ):
        chosen, drift = _day_sheets(workbook, source.name)
        parts = _sheet_parts(archive, source.name)
        for name_and_date in chosen:
            day, notes = _read_day(workbook, archive, parts, name_and_date, source.name, limits)
            drift += notes
            table, layout = day_table(day, source.name)
            layouts.append((name_and_date[0], layout))
            if table.num_rows:
                chunks.add(finish(table))
    chunks.close()
    found = (*drift, *layout_notes(layouts))
    sheets = tuple(name for name, _ in layouts)
    return StreamSummary(station_table(station, PROVIDED), found, chunks.handed, sheets)
