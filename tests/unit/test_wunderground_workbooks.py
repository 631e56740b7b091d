"""Weather Underground workbooks that drift from the real layout: what is skipped, kept or refused."""

import hashlib
import io
import zipfile
from datetime import date, time
from pathlib import Path

import openpyxl
import pyarrow.compute as pc
import pytest
from openpyxl.chart import BarChart, Reference
from python_calamine import CalamineWorkbook

from forecast.errors import SourceFormatError
from forecast.samples import write_wunderground_workbook
from forecast.schema import OBSERVATIONS
from forecast.sources import wunderground
from forecast.sources.common import RawFile
from forecast.sources.limits import Limits

LA_MADELEINE = "Weather Underground - La Madeleine, FR.xlsx"
COMPARED = [
    name for name in OBSERVATIONS.names if name not in ("raw_sha256", "content_key")
]  # the bytes differ


def _raw(path: Path) -> RawFile:
    content = path.read_bytes()
    return RawFile(path.name, content, f"raw/{path.name}", hashlib.sha256(content).hexdigest())


def _workbook(tmp_path: Path, days: int = 1, **options) -> Path:
    """Write a real-format workbook of ``days`` sheets from 01/10/2024 and return its path.

    The last sheet stops at 00:59 (12 rows) to keep the tests fast.
    """
    options.setdefault("last_day_until", time(0, 59))
    return write_wunderground_workbook(
        tmp_path / LA_MADELEINE, first_day=date(2024, 10, 1), days=days, **options
    ).path


def _edit(path: Path, change) -> RawFile:
    """Apply ``change(workbook)`` with openpyxl, save, and return the file as a RawFile."""
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)
    return _raw(path)


def _row(parsed, sheet: str, row: int) -> dict:
    rows = [r for r in parsed.observations.to_pylist() if (r["sheet"], r["row"]) == (sheet, row)]
    assert len(rows) == 1
    return rows[0]


def test_real_layout_workbook_reports_no_drift(tmp_path):
    parsed = wunderground.parse(_raw(_workbook(tmp_path, days=2)))
    assert parsed.drift == ()


def test_hidden_sheets_are_skipped_and_reported(tmp_path):
    def hide(book):
        book["021024"].sheet_state = "hidden"
        notes = book.create_sheet("Notes")
        notes["A1"] = "written by hand"
        notes.sheet_state = "veryHidden"

    parsed = wunderground.parse(_edit(_workbook(tmp_path, days=2), hide))
    assert set(parsed.observations.column("sheet").to_pylist()) == {"011024"}
    assert parsed.drift == (
        "hidden sheet '021024' skipped",
        "very hidden sheet 'Notes' skipped",
    )


def test_chart_sheet_is_skipped_and_reported(tmp_path):
    def add_chart(book):
        chart = BarChart()
        chart.add_data(Reference(book["011024"], min_col=11, min_row=3, max_row=20))
        book.create_chartsheet("UV chart").add_chart(chart)

    parsed = wunderground.parse(_edit(_workbook(tmp_path), add_chart))
    assert parsed.observations.num_rows == 12
    assert parsed.drift == ("chart sheet 'UV chart' skipped",)


def test_sheet_not_named_as_a_date_is_skipped_when_another_sheet_is(tmp_path):
    def add_summary(book):
        book.create_sheet("Summary", 0)["A1"] = "Weekly summary"

    parsed = wunderground.parse(_edit(_workbook(tmp_path), add_summary))
    assert parsed.observations.num_rows == 12
    assert parsed.drift == ("sheet 'Summary' is not a DDMMYY date: skipped",)


def test_workbook_without_any_date_sheet_fails_listing_the_sheet_names(tmp_path):
    path = _workbook(tmp_path, days=2, sheet_names=["Monday", "Tuesday"])
    with pytest.raises(SourceFormatError, match=r"no sheet is \(sheets: 'Monday', 'Tuesday'\)"):
        wunderground.parse(_raw(path))


def test_only_hidden_date_sheets_fail_the_file(tmp_path):
    def hide_all(book):
        book.create_sheet("Cover")
        book["011024"].sheet_state = "hidden"

    with pytest.raises(SourceFormatError, match=r"sheet 'Cover': sheet name is not a DDMMYY"):
        wunderground.parse(_edit(_workbook(tmp_path), hide_all))


def test_calamine_reads_a_formula_without_cached_value_as_an_empty_string(tmp_path):
    # What the parser builds on: openpyxl stores "=B3*2" as <f>B3*2</f><v /> (never computed),
    # and calamine returns '' for it, exactly as for an empty cell.
    book = openpyxl.Workbook()
    book.active.append(["Temperature", "Twice"])
    book.active.append([2.5, "=A2*2"])
    buffer = io.BytesIO()
    book.save(buffer)
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(buffer.getvalue())).get_sheet_by_index(0)
    assert sheet.to_python() == [["Temperature", "Twice"], [2.5, ""]]


def test_measurement_formula_without_cached_value_is_null_with_a_parse_error(tmp_path):
    def formula(book):
        book["011024"]["B5"] = "=B3*2"  # Temperature
        book["011024"]["E6"] = '=IF(B3>0,"North","South")'  # Wind

    parsed = wunderground.parse(_edit(_workbook(tmp_path), formula))
    five, six = _row(parsed, "011024", 5), _row(parsed, "011024", 6)
    assert five["temperature"] is None
    assert five["parse_errors"] == ["field 'Temperature' is a formula without a cached value"]
    assert six["wind_direction"] is None
    assert six["parse_errors"] == ["field 'Wind' is a formula without a cached value"]
    assert sum(bool(e) for e in parsed.observations.column("parse_errors").to_pylist()) == 2


def _patch_part(path: Path, member: str, old: bytes, new: bytes) -> RawFile:
    """Replace ``old`` by ``new`` in one zip member of the workbook (as Excel would have saved it)."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    assert old in parts[member]
    parts[member] = parts[member].replace(old, new)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return _raw(path)


def test_formula_with_a_cached_value_reads_the_value(tmp_path):
    path = _workbook(tmp_path)
    _edit(path, lambda book: book["011024"].__setitem__("K5", "=1+2"))  # UV
    raw = _patch_part(path, "xl/worksheets/sheet1.xml", b"<f>1+2</f><v />", b"<f>1+2</f><v>3</v>")
    row = _row(wunderground.parse(raw), "011024", 5)
    assert row["uv_index"] == 3.0 and row["parse_errors"] == []


def _before_and_after(path: Path, change) -> tuple:
    """Return the observations of the workbook re-saved by openpyxl, then after ``change``."""
    before = wunderground.parse(_edit(path, lambda book: None)).observations.select(COMPARED)
    after = wunderground.parse(_edit(path, change)).observations.select(COMPARED)
    assert after.column("row").equals(before.column("row"))
    assert after.column("sheet").equals(before.column("sheet"))
    return before, after


def test_time_formula_without_cached_value_is_a_null_timestamp_with_a_parse_error(tmp_path):
    before, after = _before_and_after(
        _workbook(tmp_path), lambda book: book["011024"].__setitem__("A7", "=A6+1/288")
    )
    others = pc.not_equal(before.column("row"), 7)
    assert after.filter(others).equals(before.filter(others))
    message = "field 'Time': time of day is a formula without a cached value"
    expected = {**_row_of(before, 7), "timestamp": None, "parse_errors": [message]}
    assert _row_of(after, 7) == expected


def _row_of(table, row: int) -> dict:
    rows = table.filter(pc.equal(table.column("row"), row)).to_pylist()
    assert len(rows) == 1
    return rows[0]


def test_sheet_without_any_readable_time_keeps_its_rows_with_null_timestamps(tmp_path):
    def spoil_times(book):
        sheet = book["021024"]
        sheet["A3"] = None  # empty
        sheet["A4"] = "=A3+1/288"  # formula without a cached value
        for row in range(5, 15):
            sheet[f"A{row}"] = f"slot {row}"

    before, after = _before_and_after(_workbook(tmp_path, days=2), spoil_times)
    first_day = pc.equal(before.column("sheet"), "011024")
    assert after.filter(first_day).equals(before.filter(first_day))
    second_day = pc.invert(first_day)
    spoilt, intact = after.filter(second_day), before.filter(second_day)
    assert spoilt.num_rows == 12 and spoilt.column("timestamp").null_count == 12
    assert spoilt.drop_columns(["timestamp", "parse_errors"]).equals(
        intact.drop_columns(["timestamp", "parse_errors"])
    )
    assert spoilt.column("parse_errors").to_pylist() == [
        ["field 'Time': time of day is empty"],
        ["field 'Time': time of day is a formula without a cached value"],
        *([f"field 'Time': not a time of day: 'slot {row}'"] for row in range(5, 15)),
    ]


def test_time_cell_holding_a_whole_number_is_a_null_timestamp_with_a_parse_error(tmp_path):
    # The cell keeps its h:mm AM/PM format: calamine reads 42 as the date 1900-02-11.
    before, after = _before_and_after(
        _workbook(tmp_path), lambda book: book["011024"].__setitem__("A8", 42)
    )
    others = pc.not_equal(before.column("row"), 8)
    assert after.filter(others).equals(before.filter(others))
    message = "field 'Time': not a time of day: '1900-02-11'"
    assert _row_of(after, 8) == {**_row_of(before, 8), "timestamp": None, "parse_errors": [message]}


def test_merged_cells_in_the_data_area_fail_the_file_naming_sheet_and_range(tmp_path):
    raw = _edit(_workbook(tmp_path), lambda book: book["011024"].merge_cells("B10:C11"))
    with pytest.raises(
        SourceFormatError, match=r"sheet '011024', row 10, field 'B10:C11': merged cells B10:C11"
    ):
        wunderground.parse(raw)


def test_merged_header_cells_are_accepted_and_reported(tmp_path):
    def merge_header(book):
        sheet = book["011024"]
        sheet["M1"] = "Station notes"
        sheet.merge_cells("M1:N1")

    parsed = wunderground.parse(_edit(_workbook(tmp_path), merge_header))
    assert parsed.observations.num_rows == 12
    assert parsed.drift == (
        "sheet '011024': merged header cells M1:N1",
        "sheet '011024': extra column 'Station notes' ignored",
    )


def test_extra_column_is_ignored_and_reported_once_per_file(tmp_path):
    def feels_like(book):
        for name in ("011024", "021024", "031024"):
            book[name]["M1"] = "Feels Like"
            book[name]["M3"] = "55.0\xa0°F"

    parsed = wunderground.parse(_edit(_workbook(tmp_path, days=3), feels_like))
    assert parsed.observations.num_rows == 2 * 288 + 12
    assert parsed.drift == (
        "sheet '011024': extra column 'Feels Like' ignored (also in 2 other sheets)",
    )


def test_duplicate_and_unnamed_columns_are_ignored_and_reported(tmp_path):
    def add_columns(book):
        sheet = book["011024"]
        sheet["M1"] = "Temperature"
        sheet["M3"] = "99.9\xa0°F"
        sheet["N3"] = "stray"

    parsed = wunderground.parse(_edit(_workbook(tmp_path), add_columns))
    assert _row(parsed, "011024", 3)["temperature"] != pytest.approx((99.9 - 32) * 5 / 9)
    assert parsed.drift == (
        "sheet '011024': duplicate column 'Temperature' ignored",
        "sheet '011024': unnamed column 14 ignored",
    )


def test_reordered_columns_are_read_by_name_and_reported(tmp_path):
    def move_uv_first(book):
        sheet = book["021024"]
        sheet.move_range("K1:K300", cols=3)  # UV -> column N
        sheet.move_range("L1:L300", cols=-1)  # Solar -> column K
        sheet.move_range("N1:N300", cols=-2)  # UV -> column L

    path = _workbook(tmp_path, days=2)
    before = wunderground.parse(_raw(path))
    after = wunderground.parse(_edit(path, move_uv_first))
    assert after.drift == ("sheet '021024': columns reordered",)
    assert after.observations.select(["uv_index", "solar_radiation"]).equals(
        before.observations.select(["uv_index", "solar_radiation"])
    )


def test_rows_over_the_limit_fail_the_file_naming_the_sheet_and_the_count(tmp_path):
    with pytest.raises(
        SourceFormatError,
        match=r"sheet '011024': sheet has 13 rows below the header, over the limit max_rows_per_sheet = 10",
    ):
        wunderground.parse(_raw(_workbook(tmp_path)), limits=Limits(max_rows_per_sheet=10))
