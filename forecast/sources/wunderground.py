"""Weather Underground workbooks (one sheet per day) -> canonical observations and stations.

Quirks handled (see ../shared/data/raw/FORMATS.md §2): no station inside the file (the registry
maps the file name to it); the date only in the sheet name, as DDMMYY; the time of day in local
wall-clock time; an empty row 2; values as ``56.8\u00a0°F`` text with a no-break space before the
unit; wind direction as 16-point compass names with cardinals spelled out, empty when missing.
Columns are found by header name through ``ALIASES``, never by position.

Workbook drift, decided here and reported in ``Parsed.drift``: hidden sheets and chart (or other
non-work) sheets are skipped; a sheet whose name is not a DDMMYY date is skipped when another
sheet is a date sheet (the file fails when none is); extra, duplicate or unnamed columns are
ignored and reordered columns accepted; merged cells are accepted in the header row only. A
formula cell without a cached value reads as empty, and a measurement there gets a parse error.
A Time cell that is empty, not a time of day or such a formula leaves that row's timestamp null
with a parse error; the row's other values and the other rows are kept. A value in another unit
than the column's documented one is null with a message in ``unit_errors`` (not a parse error).
A one-sheet CSV export (``.csv``) goes through the same per-day code (``parse_csv``).

Streaming (``parse_stream``): a workbook is read sheet by sheet, each sheet's rows becoming one
or more chunks; a CSV export is read in blocks and converted in row chunks. Memory is bounded by
one sheet (at most ``Limits.max_rows_per_sheet`` rows) and the compressed workbook, which
calamine holds in memory (at most ``Limits.max_file_bytes``); a stream that cannot seek is first
spooled to a temporary file. Errors are today's, in the same order; like the sheets, they may
come after chunks of earlier sheets were handed to the sink (the caller discards them).
"""

from __future__ import annotations

import calendar
import contextlib
import io
import posixpath
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import BinaryIO
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    SheetMetadata,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from forecast.errors import SourceFormatError
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, conform
from forecast.sources import units, wunderground_csv
from forecast.sources.common import (
    Chunks,
    ChunkSink,
    Parsed,
    RawFile,
    RawSource,
    StreamSummary,
    as_array,
    attach_lineage,
    collect,
    collect_messages,
    constant,
    flags_where,
    messages_where,
    parse_numbers,
)
from forecast.sources.limits import (
    DEFAULT_LIMITS,
    Limits,
    check_archive,
    check_rows,
    check_size,
)
from forecast.sources.localtime import FLAG_AMBIGUOUS, FLAG_NONEXISTENT, LocalClock
from forecast.sources.stations import RegisteredStation, station_for_file, station_table
from forecast.sources.streams import BLOCK_SIZE, read_blocks

SOURCE = "wunderground"
FLAG_CALM = "wind_calm"


@dataclass(frozen=True)
class Column:
    """How one Weather Underground column becomes a canonical measurement."""

    key: str
    unit: str  # the unit text after the number ("" when the cell is a bare number)
    factor: float | None = None  # multiply to reach the canonical unit
    fahrenheit: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("temperature", "°F", fahrenheit=True),
    Column("dew_point", "°F", fahrenheit=True),
    Column("humidity", "%"),
    Column("wind_speed", "mph", units.MPH_TO_KMH),
    Column("wind_gust", "mph", units.MPH_TO_KMH),
    Column("pressure", "in", units.INHG_TO_HPA),
    Column("precip_rate", "in", units.INCH_TO_MM),  # labelled "in", really in/h
    Column("precip_accum", "in", units.INCH_TO_MM),
    Column("uv_index", ""),
    Column("solar_radiation", "w/m²"),
)
PROVIDED = [*(c.key for c in COLUMNS), "wind_direction"]

ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("time", "time (local)", "local time"),
    "temperature": ("temperature", "temp"),
    "dew_point": ("dew point", "dewpoint"),
    "humidity": ("humidity",),
    "wind_direction": ("wind", "wind direction"),
    "wind_speed": ("speed", "wind speed"),
    "wind_gust": ("gust", "wind gust"),
    "pressure": ("pressure",),
    "precip_rate": ("precip. rate", "precip rate", "precipitation rate"),
    "precip_accum": ("precip. accum", "precip accum", "precipitation accumulated"),
    "uv_index": ("uv", "uv index"),
    "solar_radiation": ("solar", "solar radiation"),
}
"""Canonical column -> accepted header spellings (compared case-folded, trailing dots dropped).

The key order is the real files' column order; another order is accepted and reported."""

_SHEET_DATE = re.compile(r"^\d{6}$")
_SPACE = r"[\s\x{00A0}]"  # RE2's \s is ASCII-only; the source separates units with U+00A0
_NUMBER_UNIT = rf"^{_SPACE}*(?P<number>[^\s\x{{00A0}}]*){_SPACE}*(?P<unit>.*?){_SPACE}*$"
# Times as displayed (CSV exports, text typed into a sheet): the `h:mm AM/PM` number format, with
# an ASCII, no-break or narrow no-break space (newer ICU locales) before AM/PM, or 24-hour.
_CLOCK_SPACE = r"[\s\x{00A0}\x{202F}]+"
_CLOCK_FORMATS = ("%I:%M %p", "%I:%M:%S %p", "%H:%M", "%H:%M:%S")
_EMPTY = ("", None)
# calamine's enums are not hashable: pairs compared with ==, not dict keys.
_SKIPPED_TYPES = (
    (SheetTypeEnum.ChartSheet, "chart sheet"),
    (SheetTypeEnum.DialogSheet, "dialog sheet"),
    (SheetTypeEnum.MacroSheet, "macro sheet"),
    (SheetTypeEnum.Vba, "VBA module"),
)
_HIDDEN = ((SheetVisibleEnum.Hidden, "hidden"), (SheetVisibleEnum.VeryHidden, "very hidden"))
_HAS_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


@dataclass(frozen=True)
class Day:
    """One day's cells as read from a worksheet or a CSV export, before any conversion.

    ``rows[0]`` is the header; ``rows[i]`` (``i >= 1``) is sheet row (or CSV line)
    ``i + start - 1``: ``start`` is 2 for a whole sheet, more for a later chunk of its rows.
    ``uncached`` maps a column position to the row numbers of its formula cells without a
    cached value.
    """

    name: str  # the sheet name, or the CSV file name's DDMMYY token
    date: datetime
    rows: Sequence[Sequence[object]]
    uncached: Mapping[int, Sequence[int]] = field(default_factory=dict)
    start: int = 2


@dataclass(frozen=True)
class Layout:
    """What a day's header row holds besides the required columns in the usual order."""

    named: tuple[str, ...] = ()  # "extra column 'Feels Like'", "duplicate column 'UV'"
    unnamed: tuple[int, ...] = ()  # positions of unnamed columns holding values
    reordered: bool = False

    @property
    def ignored(self) -> tuple[str, ...]:
        """Labels of the columns not read: named ones, then unnamed ones holding values."""
        return self.named + tuple(f"unnamed column {p + 1}" for p in self.unnamed)

    def merged(self, other: Layout) -> Layout:
        """Return the layout of a day read in two chunks of rows (same header)."""
        return Layout(self.named, tuple(sorted({*self.unnamed, *other.unnamed})), self.reordered)


# ------------------------------------------------------------------------- one day, any container


def _header_key(text: object) -> str:
    return " ".join(str(text).split()).casefold().rstrip(".")


_LOOKUP = {alias: key for key, spellings in ALIASES.items() for alias in spellings}


def header_matches(header: Sequence[object]) -> bool:
    """Return True when every required column is in ``header`` under one of its ``ALIASES``."""
    found = {_LOOKUP.get(_header_key(text)) for text in header if text not in _EMPTY}
    return found.issuperset(ALIASES)


def _map_header(
    header: Sequence[object], file: str, sheet: str
) -> tuple[dict[str, int], list[str]]:
    """Return canonical column -> position, and the named header cells that are not read."""
    lookup = _LOOKUP
    positions: dict[str, int] = {}
    ignored: list[str] = []
    for position, text in enumerate(header):
        key = lookup.get(_header_key(text))
        if key is not None and key not in positions:
            positions[key] = position
        elif text not in _EMPTY:
            ignored.append(f"{'duplicate' if key else 'extra'} column {str(text)!r}")
    for key, spellings in ALIASES.items():
        if key not in positions:
            raise SourceFormatError(
                f"required column missing (accepted headers: {', '.join(spellings)})",
                file=file, sheet=sheet, row=1, field=spellings[0],
            )  # fmt: skip
    return positions, ignored


def _layout(
    header: Sequence[object], positions: Mapping[str, int], ignored: list[str], cells: list
) -> Layout:
    unnamed = tuple(
        p
        for p, text in enumerate(header)
        if text in _EMPTY and any(c not in _EMPTY for c in cells[p])
    )
    order = [positions[key] for key in ALIASES]
    return Layout(tuple(ignored), unnamed, order != sorted(order))


def day_of(name: str) -> datetime | None:
    """Return the date a DDMMYY sheet name (or file-name token) stands for, or None."""
    if not _SHEET_DATE.match(name):
        return None
    day, month, year = int(name[:2]), int(name[2:4]), 2000 + int(name[4:])
    if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
        return datetime(year, month, day)
    return None  # six digits that are not a date, e.g. 320124


def _text_column(cells: tuple[object, ...]) -> pa.Array:
    """Return cells as strings; empty cells ('' from calamine) become null."""
    try:
        column = pa.array(cells, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # A number typed into a text column: keep it as text so the unit check reports it.
        column = pa.array([None if c is None else str(c) for c in cells], pa.string())
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _measure(
    column: Column, cells: tuple[object, ...], header: str
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Return a column's canonical values, its per-row parse and unit messages (null if fine).

    A cell that is not a number gets the parse message only, even when its text after the
    number is not the expected unit either (``N/A`` has no unit).
    """
    text = _text_column(cells)
    # One regex, not utf8_split_whitespace(max_splits=1): in pyarrow 25 the latter sometimes
    # leaves a trailing space unsplit on an array's last element (seen on the real workbooks).
    parts = pc.extract_regex(text, _NUMBER_UNIT)
    number = parts.field("number")
    unit = parts.field("unit")
    values, bad_number = parse_numbers(number)
    bad_unit = pc.fill_null(pc.and_(pc.is_valid(text), pc.not_equal(unit, column.unit)), False)
    expected = f"{column.unit!r}" if column.unit else "no unit"
    errors = messages_where(bad_number, f"field {header!r} is not a number: ", text)
    unit_errors = messages_where(
        pc.and_(bad_unit, pc.invert(bad_number)),
        f"field {header!r} has an unexpected unit (expected {expected}): ",
        text,
    )
    values = pc.if_else(bad_unit, None, values)
    if column.fahrenheit:
        values = units.fahrenheit_to_celsius(values)
    elif column.factor is not None:
        values = units.scale(values, column.factor)
    return values, errors, unit_errors


def _clock_text(text: pa.Array) -> pa.Array:
    """Return times of day written as text (``12:04 AM``, ``0:04``) as time64; null if not."""
    normal = pc.utf8_upper(
        pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _CLOCK_SPACE, " "))
    )
    parsed = [
        pc.strptime(normal, format=f, unit="us", error_is_null=True).cast(pa.time64("us"))
        for f in _CLOCK_FORMATS
    ]
    return pc.coalesce(*parsed)


def _time_of_day(cells: tuple[object, ...]) -> pa.Array:
    """Return the Time cells as time64, null where a cell is empty or not a time."""
    try:
        return pa.array(cells, pa.time64("us"))  # a workbook: calamine gives datetime.time
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return _clock_text(_time_text(cells))  # a CSV export, or text among the times


def _time_text(cells: tuple[object, ...]) -> pa.Array:
    """Return Time cells as text: as they are for a CSV, ISO for workbook time values."""
    try:
        return pa.array(cells, pa.string())  # a CSV export: every cell is text
    except (pa.ArrowTypeError, pa.ArrowInvalid):  # a workbook with some text in Time
        return pa.array(
            [
                c.isoformat() if isinstance(c, time) else None if c is None else str(c)
                for c in cells
            ],
            pa.string(),
        )


def _time_messages(
    cells: tuple[object, ...], times: pa.Array, uncached: pa.Array, header: str
) -> pa.Array:
    """Return, per row, why its Time cell gave no time of day (null where it did)."""
    if not times.null_count:
        return pa.nulls(len(times), pa.string())
    bad = pc.is_null(times)
    text = _time_text(cells)
    empty = pc.and_(bad, pc.fill_null(pc.equal(text, ""), True))
    prefix = f"field {header!r}: "
    formula = f"{prefix}time of day is a formula without a cached value"
    return pc.coalesce(
        pc.if_else(pc.and_(bad, uncached), formula, pa.scalar(None, pa.string())),
        pc.if_else(empty, f"{prefix}time of day is empty", pa.scalar(None, pa.string())),
        messages_where(bad, f"{prefix}not a time of day: ", text),
    )


def _local_times(
    cells: tuple[object, ...], numbers: np.ndarray, day: Day, position: int, header: str
) -> tuple[pa.Array, pa.Array]:
    """Return the naive local timestamps of a day's rows and the Time cells' parse messages.

    A row whose Time cell is empty, not a time of day or a formula without a cached value has
    a null timestamp and a message; the other rows are unaffected.
    """
    times = _time_of_day(cells)
    messages = _time_messages(cells, times, _uncached_mask(day, position, numbers), header)
    # The sheet's date at 00:00 as naive microseconds (never via the machine's time zone).
    midnight = pa.scalar((day.date - datetime(1970, 1, 1)) // timedelta(microseconds=1), pa.int64())
    local = (
        pc.add(times.cast(pa.int64()), midnight).cast(pa.timestamp("us")).cast(pa.timestamp("ms"))
    )
    return local, messages


def _compass(cells: tuple[object, ...], header: str) -> tuple[pa.Array, pa.Array]:
    """Return wind directions in degrees and the messages for unknown compass text."""
    compass = _text_column(cells)
    degrees = units.compass_to_degrees(compass)
    unknown = pc.fill_null(pc.and_(pc.is_valid(compass), pc.is_null(degrees)), False)
    prefix = f"field {header!r} is not a 16-point compass direction: "
    return degrees, messages_where(unknown, prefix, compass)


_BY_KEY = {column.key: column for column in COLUMNS}


def _convert(
    key: str, cells: tuple[object, ...], header: str
) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """Return a column's canonical values, parse messages and unit messages (None: no units)."""
    if key == "wind_direction":
        return (*_compass(cells, header), None)
    return _measure(_BY_KEY[key], cells, header)


def _uncached_mask(day: Day, position: int, numbers: np.ndarray) -> pa.Array:
    """Return, per row, whether the column's cell is a formula without a cached value."""
    rows = np.asarray(day.uncached.get(position, ()), dtype=np.int64)
    return pa.array(np.isin(numbers, rows))


def _uncached_messages(
    day: Day, position: int, numbers: np.ndarray, header: str
) -> pa.Array | None:
    if not day.uncached.get(position):
        return None
    message = pa.scalar(f"field {header!r} is a formula without a cached value")
    return pc.if_else(_uncached_mask(day, position, numbers), message, pa.scalar(None, pa.string()))


def _data_rows(day: Day) -> tuple[list[int], list[Sequence[object]]]:
    """Return the row numbers and cells of the rows below the header holding anything."""
    formula_rows = {row for rows in day.uncached.values() for row in rows}
    shift = day.start - 1
    numbered = [
        (i + shift, r)
        for i, r in enumerate(day.rows)
        if i > 0 and (any(c not in _EMPTY for c in r) or i + shift in formula_rows)
    ]
    if not numbered:
        return [], []
    numbers, data = zip(*numbered, strict=True)
    return list(numbers), list(data)


def day_table(day: Day, file: str) -> tuple[pa.Table, Layout]:
    """Return one day's rows as canonical columns (local time still naive) and its layout.

    Cells that cannot be read become per-row messages: ``parse_errors`` (not a number, not a
    compass direction, not a time of day: that row's ``local_time`` is then null, formula
    without a cached value) and ``unit_errors`` (another unit than the column's).

    Raises:
        SourceFormatError: no header, or a required column missing.
    """
    if not day.rows:
        raise SourceFormatError("sheet is empty (no header row)", file=file, sheet=day.name)
    header = list(day.rows[0])
    positions, ignored = _map_header(header, file, day.name)
    numbers, data = _data_rows(day)
    width = len(header)
    cells = list(zip(*(list(r[:width]) + [""] * (width - len(r)) for r in data), strict=True))
    layout = _layout(header, positions, ignored, cells or [()] * width)
    if not data:
        return pa.table({}), layout
    row_numbers = np.asarray(numbers)
    time_at = positions["time"]
    columns: dict[str, pa.Array] = {}
    columns["local_time"], time_errors = _local_times(
        cells[time_at], row_numbers, day, time_at, str(header[time_at])
    )
    errors: list[pa.Array] = [time_errors]
    unit_errors: list[pa.Array] = []
    for key in PROVIDED:
        position = positions[key]
        name = str(header[position])
        columns[key], messages, wrong_units = _convert(key, cells[position], name)
        uncached = _uncached_messages(day, position, row_numbers, name)
        errors.extend([messages] if uncached is None else [messages, uncached])
        unit_errors.extend([] if wrong_units is None else [wrong_units])
    columns["row"] = pa.array(numbers, pa.int32())
    columns["parse_errors"] = collect_messages(errors, len(data))
    columns["unit_errors"] = collect_messages(unit_errors, len(data))
    columns["sheet"] = constant(day.name, len(data), pa.string())
    return pa.table(columns), layout


# ------------------------------------------------------------------------------- whole file


def _layout_notes(layouts: Sequence[tuple[str, Layout]]) -> list[str]:
    """Return drift notes: reordered columns per day, each ignored column once per file."""
    notes = [f"sheet {name!r}: columns reordered" for name, layout in layouts if layout.reordered]
    seen: dict[str, list[str]] = {}
    for name, layout in layouts:
        for label in layout.ignored:
            seen.setdefault(label, []).append(name)
    for label, names in seen.items():
        others = len(names) - 1
        also = f" (also in {others} other sheet{'s' if others > 1 else ''})" if others else ""
        notes.append(f"sheet {names[0]!r}: {label} ignored{also}")
    return notes


class _Finisher:
    """Turns a file's day tables, in order, into conformed observations with flags and lineage.

    Local times go to UTC with one ``LocalClock`` per file, so that a repeated ambiguous local
    time is resolved across days and chunks as in one table of the whole file.
    """

    def __init__(self, station: RegisteredStation, source: RawSource) -> None:
        self._station, self._source = station, source
        self._clock = LocalClock(station.timezone)

    def __call__(self, table: pa.Table) -> pa.Table:
        localised = self._clock.to_utc(as_array(table.column("local_time")))
        calm = pc.fill_null(pc.equal(table.column("wind_speed"), 0.0), False)
        flags = flags_where(
            {
                FLAG_CALM: calm,
                FLAG_AMBIGUOUS: localised.ambiguous,
                FLAG_NONEXISTENT: localised.nonexistent,
            },
            table.num_rows,
        )
        length = table.num_rows
        table = table.drop_columns(["local_time"]).append_column("timestamp", localised.utc)
        table = table.append_column("station_id", constant(self._station.id, length, pa.string()))
        table = table.append_column("flags", flags)
        for key in MEASUREMENT_KEYS:
            if key not in table.column_names:
                table = table.append_column(key, pa.nulls(length, pa.float64()))
        return conform(attach_lineage(table, self._source, SOURCE), OBSERVATIONS)


# ------------------------------------------------------------------------------- workbooks


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


def parse_stream(
    source: RawSource,
    sink: ChunkSink,
    *,
    limits: Limits = DEFAULT_LIMITS,
    chunk_rows: int = 20_000,
) -> StreamSummary:
    """Parse a Weather Underground workbook (or ``.csv`` export), handing chunks to ``sink``.

    The chunks, in order, are ``parse``'s observations row for row; each holds at most
    ``chunk_rows`` rows, and may span days. A workbook is read sheet by sheet, a CSV export in
    blocks (see the module notes).

    Args:
        source: The object's identity and how to open its bytes; a name ending in ``.csv``
            is a CSV export of one day sheet.
        sink: Receives each chunk, conformed to ``OBSERVATIONS``, with lineage.
        limits: Resource limits: ``max_file_bytes`` against ``source.size`` before opening,
            the zip directory before any sheet is read, the rows of each day.
        chunk_rows: Most rows in one chunk.

    Returns:
        The station, drift notes (as ``parse``) and the rows handed over.

    Raises:
        SourceFormatError: as ``parse``. It may come after chunks of earlier sheets were
            handed to ``sink``: discard them.
    """
    check_size(source.name, source.size, limits)
    if wunderground_csv.is_csv(source.name):
        return _csv_stream(source, sink, limits=limits, chunk_rows=chunk_rows)
    station = station_for_file(source.name)
    chunks = Chunks(sink, chunk_rows)
    finish = _Finisher(station, source)
    layouts: list[tuple[str, Layout]] = []
    with (
        source.open() as stream,
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
            layouts.append((day.name, layout))
            if table.num_rows:
                chunks.add(finish(table))
    chunks.close()
    found = (*drift, *_layout_notes(layouts))
    sheets = tuple(name for name, _ in layouts)
    return StreamSummary(station_table(station, PROVIDED), found, chunks.handed, sheets)


def parse(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse a Weather Underground workbook (or a ``.csv`` export of one sheet).

    ``parse_stream`` over the bytes in memory, its chunks concatenated.

    Args:
        raw: The file's bytes and identity; a name ending in ``.csv`` goes to ``parse_csv``.
        limits: Resource limits, checked before the workbook is opened.

    Returns:
        Observations, the station, and drift notes (skipped sheets, ignored or reordered
        columns, merged header cells).

    Raises:
        SourceFormatError: over a limit, unknown station file name, no date sheet, missing
            column or merged data cells (names file, sheet, row and field). A bad Time cell
            is not an error of the file: that row's timestamp is null, with a parse error.
    """
    return collect(parse_stream, raw, limits=limits)


# ------------------------------------------------------------------------------- CSV exports


def _csv_day(name: str) -> tuple[RegisteredStation, str, datetime]:
    """Return the station, DDMMYY token and date a CSV export's file name stands for."""
    stem, token = wunderground_csv.split_day_token(name)
    try:
        station = station_for_file(f"{stem}{wunderground_csv.CSV_SUFFIX}")
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


def _csv_stream(
    source: RawSource, sink: ChunkSink, *, limits: Limits, chunk_rows: int
) -> StreamSummary:
    """Parse a CSV export in passes over the stream: its dialect, checks, then rows in chunks."""
    check_size(source.name, source.size, limits)
    station, token, date = _csv_day(source.name)
    shape = wunderground_csv.read_shape(
        source.open, source.name, token, limits, header_matches, BLOCK_SIZE
    )
    chunks = Chunks(sink, chunk_rows)
    finish = _Finisher(station, source)
    layout: Layout | None = None
    with source.open() as stream:
        for start, rows in wunderground_csv.row_chunks(stream, shape, chunk_rows, BLOCK_SIZE):
            day = Day(token, date, [shape.header, *rows], start=start)
            table, part = day_table(day, source.name)
            layout = part if layout is None else layout.merged(part)
            if table.num_rows:
                chunks.add(finish(table))
    chunks.close()
    notes = tuple(_layout_notes([(token, layout or Layout())]))
    if shape.encoding == wunderground_csv.CP1252:
        notes = (wunderground_csv.CP1252_NOTE, *notes)
    return StreamSummary(station_table(station, PROVIDED), notes, chunks.handed, (token,))


def parse_csv(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse one day-sheet of a Weather Underground workbook exported as CSV.

    The day comes from the file name's ``" - DDMMYY"`` token and the station from the part
    before it (``Weather Underground - La Madeleine, FR - 011024.csv``, or as Google Sheets
    names it, ``Weather Underground - La Madeleine, FR.xlsx - 011024.csv``). Separator and
    encoding (UTF-8 with or without BOM, or Windows-1252) are detected from the header line
    (see ``wunderground_csv``). Rows are converted by the workbook's code, so the same cells give
    the same canonical rows; ``sheet`` is the token and ``row`` the CSV line number.

    Raises:
        SourceFormatError: no date token, unknown station, not UTF-8 (nor Windows-1252 with
            the workbook's header), over a limit or missing column (names file, sheet, row and
            field). A bad time is a row's parse error.
    """
    return collect(_csv_stream, raw, limits=limits, chunk_rows=20_000)
