"""Weather Underground day cells -> canonical observations, whatever container held them.

A day arrives as a header row and the rows below it: a worksheet (``workbook``), a CSV export of
one sheet (``csv_export``) or the records Airbyte's File source made of the sheets (``records``).
The quirks of the cells are handled here once (see ../shared/data/raw/FORMATS.md §2): the time of
day in local wall-clock time; values as ``56.8\u00a0°F`` text with a no-break space before the
unit; wind direction as 16-point compass names with cardinals spelled out, empty when missing.
Columns are found by header name through ``ALIASES``, never by position; extra, duplicate or
unnamed columns are ignored and reordered columns accepted (``Layout``, reported as drift).

A Time cell that is empty, not a time of day or a formula without a cached value leaves that
row's timestamp null with a parse error; the row's other values and the other rows are kept. A
value in another unit than the column's documented one is null with a message in
``unit_errors`` (not a parse error). ``Finisher`` turns a station's day tables, in order, into
conformed observations: local time to UTC (one clock per station and object, so a repeated
ambiguous hour is resolved across days and chunks), flags and lineage.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, conform
from forecast.sources import units
from forecast.sources.common import RawSource, attach_lineage
from forecast.sources.localtime import FLAG_AMBIGUOUS, FLAG_NONEXISTENT, LocalClock
from forecast.sources.wunderground.stations import RegisteredStation
from forecast.tables import (
    as_array,
    collect_messages,
    constant,
    flags_where,
    messages_where,
    parse_numbers,
)

NAME = "wunderground"
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


@dataclass(frozen=True)
class Day:
    """One day's cells as read from a worksheet, a CSV export or records, before any conversion.

    ``rows[0]`` is the header; ``rows[i]`` (``i >= 1``) is sheet row (or CSV line)
    ``i + start - 1``: ``start`` is 2 for a whole sheet, more for a later chunk of its rows;
    records give their lines in ``numbers`` instead. ``uncached`` maps a column position to the
    row numbers of its formula cells without a cached value. A day whose ``date`` is unknown
    (records without a readable day) gives rows without a time, each with the ``undated``
    message.
    """

    name: str | None  # the sheet name, the CSV file name's DDMMYY token; None for records
    date: datetime | None
    rows: Sequence[Sequence[object]]
    uncached: Mapping[int, Sequence[int]] = field(default_factory=dict)
    start: int = 2
    numbers: Sequence[int] | None = None
    undated: str = ""


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


def canonical_column(text: object) -> str | None:
    """Return the canonical column a header cell names (through ``ALIASES``), or None."""
    return _LOOKUP.get(_header_key(text))


def header_matches(header: Sequence[object]) -> bool:
    """Return True when every required column is in ``header`` under one of its ``ALIASES``."""
    found = {_LOOKUP.get(_header_key(text)) for text in header if text not in _EMPTY}
    return found.issuperset(ALIASES)


def _map_header(
    header: Sequence[object], file: str, sheet: str | None
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
    if day.date is None:
        undated = pa.repeat(pa.scalar(day.undated or "the day is unknown"), len(times))
        return pa.nulls(len(times), pa.timestamp("ms")), pc.coalesce(undated, messages)
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
    if day.numbers is not None:
        given = [(n, r) for n, r in zip(day.numbers, day.rows[1:], strict=True)
                 if any(c not in _EMPTY for c in r)]  # fmt: skip
        return [n for n, _ in given], [r for _, r in given]
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


# ------------------------------------------------------------------------- a source's days in order


def layout_notes(layouts: Sequence[tuple[str, Layout]]) -> list[str]:
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


class Finisher:
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
        return conform(attach_lineage(table, self._source, NAME), OBSERVATIONS)
