"""Weather Underground workbooks (one sheet per day) -> canonical observations and stations.

Quirks handled (see ../shared/data/raw/FORMATS.md §2): no station inside the file (the registry
maps the file name to it); the date only in the sheet name, as DDMMYY; the time of day in local
wall-clock time; an empty row 2; values as ``56.8\u00a0°F`` text with a no-break space before the
unit; wind direction as 16-point compass names with cardinals spelled out, empty when missing.
Columns are found by header name through ``ALIASES``, never by position.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from python_calamine import CalamineError, CalamineWorkbook

from forecast import units
from forecast.errors import SourceFormatError
from forecast.localtime import FLAG_AMBIGUOUS, FLAG_NONEXISTENT, to_utc
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, conform
from forecast.sources.common import (
    Parsed,
    RawFile,
    as_array,
    attach_lineage,
    collect_messages,
    constant,
    flags_where,
    messages_where,
    parse_numbers,
)
from forecast.stations import station_for_file, station_table

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
"""Canonical column -> accepted header spellings (compared case-folded, trailing dots dropped)."""

_SHEET_DATE = re.compile(r"^\d{6}$")
_SPACE = r"[\s\x{00A0}]"  # RE2's \s is ASCII-only; the source separates units with U+00A0
_NUMBER_UNIT = rf"^{_SPACE}*(?P<number>[^\s\x{{00A0}}]*){_SPACE}*(?P<unit>.*?){_SPACE}*$"


def _header_key(text: object) -> str:
    return " ".join(str(text).split()).casefold().rstrip(".")


def _map_header(header: Sequence[object], file: str, sheet: str) -> dict[str, int]:
    """Return canonical column -> position, from the header row's names."""
    lookup = {alias: key for key, spellings in ALIASES.items() for alias in spellings}
    positions: dict[str, int] = {}
    for position, text in enumerate(header):
        key = lookup.get(_header_key(text))
        if key is not None and key not in positions:
            positions[key] = position
    for key, spellings in ALIASES.items():
        if key not in positions:
            raise SourceFormatError(
                f"required column missing (accepted headers: {', '.join(spellings)})",
                file=file, sheet=sheet, row=1, field=spellings[0],
            )  # fmt: skip
    return positions


def _sheet_date(sheet: str, file: str) -> datetime:
    if _SHEET_DATE.match(sheet):
        try:
            return datetime.strptime(sheet, "%d%m%y")
        except ValueError:
            pass
    raise SourceFormatError("sheet name is not a DDMMYY date", file=file, sheet=sheet)


def _text_column(cells: tuple[object, ...]) -> pa.Array:
    """Return cells as strings; empty cells ('' from calamine) become null."""
    try:
        column = pa.array(cells, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        # A number typed into a text column: keep it as text so the unit check reports it.
        column = pa.array([None if c is None else str(c) for c in cells], pa.string())
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _measure(column: Column, cells: tuple[object, ...], header: str) -> tuple[pa.Array, pa.Array]:
    """Return a column's canonical values and its per-row error messages (null if fine)."""
    text = _text_column(cells)
    # One regex, not utf8_split_whitespace(max_splits=1): in pyarrow 25 the latter sometimes
    # leaves a trailing space unsplit on an array's last element (seen on the real workbooks).
    parts = pc.extract_regex(text, _NUMBER_UNIT)
    number = parts.field("number")
    unit = parts.field("unit")
    values, bad_number = parse_numbers(number)
    bad_unit = pc.fill_null(pc.and_(pc.is_valid(text), pc.not_equal(unit, column.unit)), False)
    expected = f"{column.unit!r}" if column.unit else "no unit"
    errors = pc.coalesce(
        messages_where(bad_number, f"field {header!r} is not a number: ", text),
        messages_where(
            bad_unit, f"field {header!r} has an unexpected unit (expected {expected}): ", text
        ),
    )
    values = pc.if_else(bad_unit, None, values)
    if column.fahrenheit:
        values = units.fahrenheit_to_celsius(values)
    elif column.factor is not None:
        values = units.scale(values, column.factor)
    return values, errors


def _local_times(cells: tuple[object, ...], day: datetime, file: str, sheet: str) -> pa.Array:
    try:
        times = pa.array(cells, pa.time64("us"))
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        bad = next(i for i, c in enumerate(cells) if not hasattr(c, "hour"))
        raise SourceFormatError(
            f"not a time of day: {cells[bad]!r}", file=file, sheet=sheet, row=bad + 3, field="Time"
        ) from exc
    if times.null_count:
        bad = pc.index(pc.is_null(times), True).as_py()
        raise SourceFormatError(
            "time of day is empty", file=file, sheet=sheet, row=bad + 3, field="Time"
        )
    # The sheet's date at 00:00 as naive microseconds (never via the machine's time zone).
    midnight = pa.scalar((day - datetime(1970, 1, 1)) // timedelta(microseconds=1), pa.int64())
    return (
        pc.add(times.cast(pa.int64()), midnight).cast(pa.timestamp("us")).cast(pa.timestamp("ms"))
    )


def _sheet(rows: Sequence[Sequence[object]], sheet: str, file: str) -> pa.Table:
    """Return one day-sheet's rows as canonical columns (local time still naive)."""
    day = _sheet_date(sheet, file)
    if not rows:
        raise SourceFormatError("sheet is empty (no header row)", file=file, sheet=sheet)
    positions = _map_header(rows[0], file, sheet)
    numbered = [
        (i + 1, r) for i, r in enumerate(rows) if i > 0 and any(c not in ("", None) for c in r)
    ]
    if not numbered:
        return pa.table({})
    excel_rows, data = zip(*numbered, strict=True)
    width = max(positions.values()) + 1
    cells = list(zip(*(list(r) + [""] * (width - len(r)) for r in data), strict=True))
    columns: dict[str, pa.Array] = {}
    errors: list[pa.Array] = []
    header = rows[0]
    for column in COLUMNS:
        values, messages = _measure(
            column, cells[positions[column.key]], str(header[positions[column.key]])
        )
        columns[column.key] = values
        errors.append(messages)
    compass = _text_column(cells[positions["wind_direction"]])
    columns["wind_direction"] = units.compass_to_degrees(compass)
    unknown = pc.fill_null(
        pc.and_(pc.is_valid(compass), pc.is_null(columns["wind_direction"])), False
    )
    errors.append(
        messages_where(unknown, "field 'Wind' is not a 16-point compass direction: ", compass)
    )
    columns["local_time"] = _local_times(cells[positions["time"]], day, file, sheet)
    columns["row"] = pa.array(excel_rows, pa.int32())
    columns["parse_errors"] = collect_messages(errors, len(data))
    columns["sheet"] = constant(sheet, len(data), pa.string())
    return pa.table(columns)


def _open(raw: RawFile) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(raw.content))
    except (CalamineError, ValueError, OSError) as exc:
        raise SourceFormatError(f"not a readable Excel workbook: {exc}", file=raw.name) from exc


def parse(raw: RawFile) -> Parsed:
    """Parse a Weather Underground workbook into canonical observations and its station.

    Raises:
        SourceFormatError: unknown station file name, bad sheet name, missing column or bad
            time cell (names file, sheet, row and field).
    """
    station = station_for_file(raw.name)
    workbook = _open(raw)
    sheets = [
        _sheet(workbook.get_sheet_by_name(name).to_python(skip_empty_area=False), name, raw.name)
        for name in workbook.sheet_names
    ]
    sheets = [s for s in sheets if s.num_rows]
    stations = station_table(station, PROVIDED)
    if not sheets:
        return Parsed(OBSERVATIONS.empty_table(), stations)
    table = pa.concat_tables(sheets)
    local = as_array(table.column("local_time"))
    localised = to_utc(local, station.timezone)
    calm = pc.fill_null(pc.equal(table.column("wind_speed"), 0.0), False)
    flags = flags_where(
        {
            FLAG_CALM: calm,
            FLAG_AMBIGUOUS: localised.ambiguous,
            FLAG_NONEXISTENT: localised.nonexistent,
        },
        table.num_rows,
    )
    table = table.drop_columns(["local_time"]).append_column("timestamp", localised.utc)
    table = table.append_column("station_id", constant(station.id, table.num_rows, pa.string()))
    table = table.append_column("flags", flags)
    for key in MEASUREMENT_KEYS:
        if key not in table.column_names:
            table = table.append_column(key, pa.nulls(table.num_rows, pa.float64()))
    return Parsed(conform(attach_lineage(table, raw, SOURCE), OBSERVATIONS), stations)
