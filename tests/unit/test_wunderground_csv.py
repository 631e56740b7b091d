"""Weather Underground day sheets exported as CSV: the same rows as the workbook they came from."""

import csv
import hashlib
import io
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from forecast.errors import SourceFormatError
from forecast.samples import write_wunderground_workbook
from forecast.schema import MEASUREMENT_KEYS
from forecast.sources import wunderground
from forecast.sources.common import RawFile, raw_source
from forecast.sources.limits import Limits

WORKBOOK = "Weather Underground - La Madeleine, FR.xlsx"
EXPORT = "Weather Underground - La Madeleine, FR - 011024.csv"
SAME = [
    "station_id", "timestamp", *MEASUREMENT_KEYS, "flags", "parse_errors", "unit_errors", "sheet",
    "row",
]  # fmt: skip


def _raw(name: str, content: bytes) -> RawFile:
    return RawFile(name, content, f"raw/{name}", hashlib.sha256(content).hexdigest())


def _displayed(value: object, separator: str) -> str:
    """Return a cell as Excel or Google Sheets shows it, hence exports it."""
    if value is None:
        return ""
    if isinstance(value, time):
        return f"{value:%I:%M %p}".removeprefix("0")  # the `h:mm AM/PM` number format
    return str(value).replace("\xa0", separator)


def _sheet_rows(workbook: Path, sheet: str) -> list[list[object]]:
    return [list(r) for r in openpyxl.load_workbook(workbook)[sheet].iter_rows(values_only=True)]


def _export(
    rows: list[list[object]],
    *,
    separator: str = "\xa0",
    bom: bool = True,
    empty_second_row: bool = True,
    delimiter: str = ",",
) -> bytes:
    """Return ``rows`` as an Excel "CSV UTF-8" export of the sheet (CRLF line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for i, row in enumerate(rows):
        if i == 1 and not empty_second_row:
            continue
        writer.writerow([_displayed(v, separator) for v in row])
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> Path:
    """A two-day real-format workbook whose first day, 011024, the tests export."""
    path = tmp_path_factory.mktemp("wu") / WORKBOOK
    write_wunderground_workbook(
        path,
        first_day=date(2024, 10, 1),
        days=2,
        last_day_until=time(3, 0),
        cell_overrides={("011024", 5, "Wind"): None, ("011024", 7, "Temperature"): "N/A"},
    )
    return path


@pytest.fixture(scope="module")
def from_workbook(workbook: Path):
    """The observations of sheet 011024 as parsed from the workbook itself."""
    table = wunderground.parse(_raw(WORKBOOK, workbook.read_bytes())).observations
    return table.filter(pc.equal(table.column("sheet"), "011024"))


def test_csv_export_gives_the_same_rows_as_the_workbook_sheet(workbook, from_workbook):
    parsed = wunderground.parse(_raw(EXPORT, _export(_sheet_rows(workbook, "011024"))))
    assert parsed.observations.num_rows == from_workbook.num_rows == 288
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))
    assert parsed.observations.column("source_file").unique().to_pylist() == [EXPORT]
    assert parsed.drift == ()


@pytest.mark.parametrize(
    "options",
    [
        {"separator": " "},
        {"bom": False},
        {"delimiter": ";"},
    ],
    ids=["ascii-space-before-unit", "no-bom", "semicolon"],
)
def test_export_variants_give_the_same_measurements(workbook, from_workbook, options):
    content = _export(_sheet_rows(workbook, "011024"), **options)
    parsed = wunderground.parse(_raw(EXPORT, content))
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))


def test_without_the_empty_second_row_rows_are_numbered_by_csv_line(workbook, from_workbook):
    content = _export(_sheet_rows(workbook, "011024"), empty_second_row=False)
    table = wunderground.parse(_raw(EXPORT, content)).observations
    assert table.column("row").to_pylist() == list(range(2, 290))
    keep = [c for c in SAME if c != "row"]
    assert table.select(keep).equals(from_workbook.select(keep))


def test_plus_spelling_and_upper_case_suffix_are_dispatched_to_the_csv_parser(workbook):
    content = _export(_sheet_rows(workbook, "011024"))
    name = "Weather+Underground+-+La+Madeleine,+FR+-+011024.CSV"
    table = wunderground.parse(_raw(name, content)).observations
    assert table.column("station_id").unique().to_pylist() == ["ILAMAD25"]
    assert table.column("sheet").unique().to_pylist() == ["011024"]


def test_parse_csv_is_callable_directly(workbook, from_workbook):
    parsed = wunderground.parse_csv(_raw(EXPORT, _export(_sheet_rows(workbook, "011024"))))
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12:04 AM", datetime(2024, 9, 30, 22, 4)),
        ("12:04\u202fPM", datetime(2024, 10, 1, 10, 4)),
        ("1:30 pm", datetime(2024, 10, 1, 11, 30)),
        ("23:59", datetime(2024, 10, 1, 21, 59)),
    ],
    ids=["midnight", "noon-narrow-space", "lower-case", "24-hour"],
)
def test_times_as_displayed_are_local_times_of_the_named_day(text, expected):
    content = f"Time,Temperature,Dew Point,Humidity,Wind,Speed,Gust,Pressure,Precip. Rate.,Precip. Accum.,UV,Solar\n{text},56.8 °F,53.1 °F,87 %,WSW,8.2 mph,10.4 mph,29.48 in,0.00 in,0.00 in,0,0 w/m²\n"
    row = wunderground.parse(_raw(EXPORT, content.encode())).observations.to_pylist()[0]
    assert row["timestamp"].replace(tzinfo=None) == expected
    assert row["row"] == 2 and row["parse_errors"] == []


def _only_line_changed(table, from_workbook, line: int, changed: dict) -> None:
    """Assert the export's rows equal the workbook's but for ``changed`` on CSV ``line``."""
    table, from_workbook = table.select(SAME), from_workbook.select(SAME)
    assert table.column("row").equals(from_workbook.column("row"))
    others = pc.not_equal(from_workbook.column("row"), line)
    assert table.filter(others).equals(from_workbook.filter(others))
    (row,) = table.filter(pc.equal(table.column("row"), line)).to_pylist()
    (expected,) = from_workbook.filter(pc.equal(from_workbook.column("row"), line)).to_pylist()
    assert row == {**expected, **changed}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "field 'Time': not a time of day: 'soon'"),
        ("", "field 'Time': time of day is empty"),
    ],
    ids=["text", "empty"],
)
def test_bad_time_text_is_a_null_timestamp_with_a_parse_error(
    workbook, from_workbook, text, message
):
    rows = _sheet_rows(workbook, "011024")
    rows[5][0] = text
    table = wunderground.parse(_raw(EXPORT, _export(rows))).observations
    _only_line_changed(table, from_workbook, 6, {"timestamp": None, "parse_errors": [message]})


def test_value_in_another_unit_is_a_unit_error_not_a_parse_error(workbook, from_workbook):
    rows = _sheet_rows(workbook, "011024")
    rows[5][1] = "13.8\xa0°C"
    table = wunderground.parse(_raw(EXPORT, _export(rows))).observations
    message = "field 'Temperature' has an unexpected unit (expected '°F'): '13.8\xa0°C'"
    _only_line_changed(table, from_workbook, 6, {"temperature": None, "unit_errors": [message]})


def test_extra_column_in_the_export_is_ignored_and_reported(workbook, from_workbook):
    rows = _sheet_rows(workbook, "011024")
    rows[0].append("Feels Like")
    content = _export(rows)
    parsed = wunderground.parse(_raw(EXPORT, content))
    assert parsed.drift == ("sheet '011024': extra column 'Feels Like' ignored",)
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Weather Underground - La Madeleine, FR.csv", r"must end with ' - DDMMYY'"),
        (
            "Weather Underground - La Madeleine, FR - 321024.csv",
            r"date token '321024' is not a DDMMYY date",
        ),
        (
            "Weather Underground - Nowhere, XX - 011024.csv",
            r"no Weather Underground station is registered for 'Weather Underground - Nowhere, XX'",
        ),
    ],
    ids=["no-token", "not-a-date", "unknown-station"],
)
def test_file_name_must_carry_a_known_station_and_a_ddmmyy_token(workbook, name, message):
    with pytest.raises(SourceFormatError, match=rf"file '{name}': .*{message}"):
        wunderground.parse(_raw(name, _export(_sheet_rows(workbook, "011024"))))


def test_non_utf8_export_is_refused_with_the_byte_offset():
    content = "Time,Temperature\n12:04 AM,56.8 °F\n".encode("cp1252")
    with pytest.raises(SourceFormatError, match=r"not UTF-8 text: byte 0xb0 at offset 31"):
        wunderground.parse(_raw(EXPORT, content))


def test_quoted_value_spanning_lines_is_refused_naming_its_line(workbook):
    rows = _sheet_rows(workbook, "011024")
    rows[3][4] = "North\nNNW"
    with pytest.raises(SourceFormatError, match=r"row 4: a quoted value spans several lines"):
        wunderground.parse(_raw(EXPORT, _export(rows)))


def test_export_over_the_row_limit_is_refused(workbook):
    with pytest.raises(
        SourceFormatError,
        match=r"sheet '011024': sheet has 289 rows below the header, over the limit max_rows_per_sheet = 100",
    ):
        wunderground.parse(
            _raw(EXPORT, _export(_sheet_rows(workbook, "011024"))),
            limits=Limits(max_rows_per_sheet=100),
        )


def test_empty_export_is_refused():
    with pytest.raises(SourceFormatError, match=r"CSV is empty \(no header row\)"):
        wunderground.parse(_raw(EXPORT, b"\xef\xbb\xbf"))


# ------------------------------------------------------------------ names and dialects of exports


@pytest.mark.parametrize(
    ("name", "station"),
    [
        ("Weather Underground - La Madeleine, FR.xlsx - 011024.csv", "ILAMAD25"),
        ("Weather+Underground+-+La+Madeleine,+FR.xlsx - 011024.csv", "ILAMAD25"),
        ("Weather Underground - Ichtegem, BE.XLSX - 011024.csv", "IICHTE19"),
    ],
    ids=["google-sheets", "google-sheets-plus-spelling", "upper-case-suffix"],
)
def test_google_sheets_download_names_identify_the_station_and_day(workbook, name, station):
    table = wunderground.parse(_raw(name, _export(_sheet_rows(workbook, "011024")))).observations
    assert table.column("station_id").unique().to_pylist() == [station]
    assert table.column("sheet").unique().to_pylist() == ["011024"]


def _cp1252(rows: list[list[object]], **options) -> bytes:
    text = _export(rows, bom=False, delimiter=";", **options).decode("utf-8")
    return text.encode("cp1252")


def test_windows_1252_semicolon_export_gives_the_same_rows_and_says_so(workbook, from_workbook):
    content = _cp1252(_sheet_rows(workbook, "011024"))
    assert b"\xa0\xb0F" in content
    parsed = wunderground.parse(_raw(EXPORT, content))
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))
    assert parsed.drift == ("CSV export read as Windows-1252 text (it is not UTF-8)",)


def test_separator_is_the_one_that_makes_the_header_the_workbooks(workbook, from_workbook):
    rows = _sheet_rows(workbook, "011024")
    rows = [[*r, "a,b,c,d,e,f,g,h,i,j,k,l,m,n" if i == 0 else ""] for i, r in enumerate(rows)]
    content = _export(rows, delimiter=";")  # more commas than semicolons in the header line
    assert content.splitlines()[0].count(b",") > content.splitlines()[0].count(b";")
    parsed = wunderground.parse(_raw(EXPORT, content))
    assert parsed.observations.select(SAME).equals(from_workbook.select(SAME))
    assert parsed.drift == ("sheet '011024': extra column 'a,b,c,d,e,f,g,h,i,j,k,l,m,n' ignored",)


def test_a_byte_order_mark_means_utf8_so_windows_1252_is_not_tried(workbook):
    content = b"\xef\xbb\xbf" + _cp1252(_sheet_rows(workbook, "011024"))
    offset = content.index(b"\xa0")
    with pytest.raises(SourceFormatError) as caught:
        wunderground.parse(_raw(EXPORT, content))
    assert str(caught.value) == (
        f"file '{EXPORT}': not UTF-8 text: byte 0xa0 at offset {offset} "
        "(export the sheet as 'CSV UTF-8')"
    )


def test_text_in_neither_encoding_names_both_offsets(workbook):
    rows = _sheet_rows(workbook, "011024")
    rows[5][4] = "N\x81E"  # 0x81 is not a Windows-1252 character
    text = _export(rows, bom=False, delimiter=";").decode("utf-8")
    content = text.encode("latin-1")  # latin-1 keeps 0x81; elsewhere it equals Windows-1252
    first, undefined = content.index(b"\xa0"), content.index(b"\x81")
    with pytest.raises(SourceFormatError) as caught:
        wunderground.parse(_raw(EXPORT, content))
    assert str(caught.value) == (
        f"file '{EXPORT}': not UTF-8 text: byte 0xa0 at offset {first}, nor Windows-1252 "
        f"text: byte 0x81 at offset {undefined} (export the sheet as 'CSV UTF-8')"
    )


def test_windows_1252_export_streams_in_bounded_chunks_like_the_one_shot_parse(workbook):
    content = _cp1252(_sheet_rows(workbook, "011024"))
    whole = wunderground.parse(_raw(EXPORT, content)).observations
    chunks = []
    summary = wunderground.parse_stream(
        raw_source(_raw(EXPORT, content)), chunks.append, chunk_rows=50
    )
    assert [c.num_rows for c in chunks] == [50] * 5 + [38]
    assert pa.concat_tables(chunks).equals(whole) and summary.parts == ("011024",)
