"""CSV exports of the real workbooks, made here as the common tools make them, load exactly like
the workbooks: same parsed rows, same validated rows, same Mongo documents.

Each export is generated inside the test from the real ``.xlsx`` (openpyxl reads the cells; they
are written as displayed: times in the ``h:mm AM/PM`` number format, text cells as they are, so
values keep their U+00A0 before the unit):

* Google Sheets "Download -> CSV" of each sheet: ``<workbook file name> - DDMMYY.csv`` (the
  workbook name with its ``.xlsx``, in either spelling), UTF-8 without BOM, ``,``, LF;
* Excel "CSV (semicolon delimited)" from a Western-European locale: ``;``, Windows-1252, CRLF;
* Excel "CSV UTF-8": UTF-8 with a BOM, ``,``, CRLF.

Only the lineage columns that name the object necessarily differ and are left out of the
comparisons: ``source_file``, ``raw_key`` and ``raw_sha256`` (``sheet`` is the DDMMYY token in
both, and ``row`` the sheet row / CSV line number, which coincide because the empty row 2 is
exported as an empty line).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime, time

import openpyxl
import pyarrow as pa
import pytest

from forecast.errors import SourceFormatError
from forecast.mongo.plan import RunContext, write_plan
from forecast.quality.validate import validate
from forecast.samples import plus_spelling
from forecast.sources import wunderground
from forecast.sources.common import Parsed, RawFile
from forecast.sources.registry import recognise_file

WORKBOOKS = (
    "Weather Underground - La Madeleine, FR.xlsx",
    "Weather Underground - Ichtegem, BE.xlsx",
)
SHEETS = ("011024", "021024", "031024", "041024", "051024", "061024", "071024")
LINEAGE = ["source_file", "raw_key", "raw_sha256", "content_key"]
DOCUMENT_LINEAGE = {"metadata.source_file", "metadata.raw_key", "metadata.raw_sha256",
                    "metadata.digest"}  # fmt: skip  # the digest covers the lineage fields
NOW = datetime(2024, 10, 8, tzinfo=UTC)
RUN = RunContext("csv-run", NOW)


def _raw(name: str, content: bytes) -> RawFile:
    return RawFile(name, content, f"raw/{name}", hashlib.sha256(content).hexdigest())


def _displayed(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, time):
        return f"{value:%I:%M %p}".removeprefix("0")  # the `h:mm AM/PM` number format
    return str(value)


def _csv(rows: list[tuple[object, ...]], *, delimiter: str, line_end: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    writer.writerows([_displayed(v) for v in row] for row in rows)
    return buffer.getvalue()


def google_sheets(stem_spelling: str, sheet: str, rows) -> tuple[str, bytes]:
    name = f"{stem_spelling} - {sheet}.csv"
    return name, _csv(rows, delimiter=",", line_end="\n").encode("utf-8")


def excel_semicolon(workbook: str, sheet: str, rows) -> tuple[str, bytes]:
    name = f"{workbook.removesuffix('.xlsx')} - {sheet}.csv"
    return name, _csv(rows, delimiter=";", line_end="\r\n").encode("cp1252")


def excel_utf8(workbook: str, sheet: str, rows) -> tuple[str, bytes]:
    name = f"{workbook.removesuffix('.xlsx')} - {sheet}.csv"
    return name, b"\xef\xbb\xbf" + _csv(rows, delimiter=",", line_end="\r\n").encode("utf-8")


VARIANTS = {
    "google-sheets": lambda wb, sheet, rows: google_sheets(wb, sheet, rows),
    "google-sheets-plus-spelling": lambda wb, sheet, rows: google_sheets(plus_spelling(wb), sheet, rows),
    "excel-semicolon-cp1252": excel_semicolon,
    "excel-csv-utf8-bom": excel_utf8,
}  # fmt: skip


@pytest.fixture(scope="module", params=WORKBOOKS)
def real_workbook(request, shared_raw) -> tuple[str, Parsed, dict[str, list[tuple]]]:
    path = shared_raw / "wunderground" / request.param
    content = path.read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert tuple(book.sheetnames) == SHEETS
    cells = {sheet: list(book[sheet].iter_rows(values_only=True)) for sheet in SHEETS}
    return request.param, wunderground.parse(_raw(request.param, content)), cells


def _exports(variant: str, workbook: str, cells) -> list[tuple[str, bytes]]:
    return [VARIANTS[variant](workbook, sheet, cells[sheet]) for sheet in SHEETS]


def _loaded(exports: list[tuple[str, bytes]]) -> tuple[pa.Table, pa.Table, tuple[str, ...]]:
    parsed = [wunderground.parse(_raw(name, content)) for name, content in exports]
    stations = parsed[0].stations
    assert all(p.stations.equals(stations) for p in parsed)
    drift = tuple(note for p in parsed for note in p.drift)
    return pa.concat_tables(p.observations for p in parsed), stations, drift


def _documents(valid: pa.Table, stations: pa.Table) -> list[tuple[list, pa.StructArray]]:
    plans = write_plan(valid, stations, RUN)
    out = []
    for plan in plans:
        fields = plan.set_fields
        kept = [i for i in range(fields.type.num_fields)
                if fields.type.field(i).name not in DOCUMENT_LINEAGE]  # fmt: skip
        names = [fields.type.field(i).name for i in kept]
        body = pa.StructArray.from_arrays([fields.field(i) for i in kept], names=names)
        out.append((plan.ids.to_pylist(), body))
    return out


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_csv_exports_of_the_real_workbooks_load_like_the_workbook(real_workbook, variant):
    workbook, from_workbook, cells = real_workbook
    exports = _exports(variant, workbook, cells)
    names = [name for name, _ in exports]
    assert all(recognise_file(content, name).name == "wunderground" for name, content in exports)
    if variant == "excel-semicolon-cp1252":  # really not UTF-8: ° and the no-break space
        assert b"\xa0\xb0F" in exports[0][1]
        with pytest.raises(UnicodeDecodeError):
            exports[0][1].decode("utf-8")
    observations, stations, drift = _loaded(exports)
    expected = from_workbook.observations
    assert observations.num_rows == {"Weather Underground - La Madeleine, FR.xlsx": 1908,
                                     "Weather Underground - Ichtegem, BE.xlsx": 1899}[workbook]  # fmt: skip
    assert set(observations.column("source_file").to_pylist()) == set(names)
    assert observations.drop_columns(LINEAGE).equals(expected.drop_columns(LINEAGE))
    assert stations.equals(from_workbook.stations)
    cp1252 = ("CSV export read as Windows-1252 text (it is not UTF-8)",) * len(SHEETS)
    assert drift == (cp1252 if variant == "excel-semicolon-cp1252" else ())

    checked = validate(observations, stations=stations, now=NOW)
    reference = validate(expected, stations=from_workbook.stations, now=NOW)
    assert checked.valid.num_rows > 0
    assert checked.valid.drop_columns(LINEAGE).equals(reference.valid.drop_columns(LINEAGE))
    assert checked.rejected.drop_columns(LINEAGE).equals(reference.rejected.drop_columns(LINEAGE))
    documents = _documents(checked.valid, stations)
    reference_documents = _documents(reference.valid, from_workbook.stations)
    assert [ids for ids, _ in documents] == [ids for ids, _ in reference_documents]
    assert all(a.equals(b) for (_, a), (_, b) in zip(documents, reference_documents, strict=True))


def _foreign_header(cells) -> list[tuple]:
    rows = list(cells["011024"])
    rows[0] = tuple("Température" if h == "Temperature" else h for h in rows[0])
    return rows


def test_a_semicolon_export_with_a_foreign_header_is_not_guessed_windows_1252(real_workbook):
    workbook, _, cells = real_workbook
    name, content = excel_semicolon(workbook, "011024", _foreign_header(cells))
    offset = content.index("é".encode("cp1252"))  # in the header itself
    # Decoded as Windows-1252 the header is still not the workbook's: today's refusal.
    with pytest.raises(SourceFormatError) as caught:
        wunderground.parse(_raw(name, content))
    assert str(caught.value) == (
        f"file '{name}': not UTF-8 text: byte 0xe9 at offset {offset} "
        "(export the sheet as 'CSV UTF-8')"
    )


def test_a_utf8_export_with_a_foreign_header_gets_the_missing_column_error(real_workbook):
    workbook, _, cells = real_workbook
    name, content = excel_utf8(workbook, "011024", _foreign_header(cells))
    with pytest.raises(SourceFormatError) as caught:
        wunderground.parse(_raw(name, content))
    error = caught.value
    assert (error.file, error.sheet, error.row, error.field) == (name, "011024", 1, "temperature")
    assert "required column missing (accepted headers: temperature, temp)" in str(error)
