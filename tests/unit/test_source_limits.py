"""Resource limits and strict input checks of the parsers: refused before any real work."""

import hashlib
import io
import json
import zipfile
from datetime import date, datetime, time
from pathlib import Path

import pytest

from forecast.errors import SourceFormatError
from forecast.samples import write_infoclimat_json, write_wunderground_workbook
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.sources.limits import Limits

LA_MADELEINE = "Weather Underground - La Madeleine, FR.xlsx"


def _raw(name: str, content: bytes) -> RawFile:
    return RawFile(name, content, f"raw/{name}", hashlib.sha256(content).hexdigest())


def _infoclimat(tmp_path: Path) -> bytes:
    return write_infoclimat_json(
        tmp_path / "ic.json", start=datetime(2024, 10, 5), hours=1, stations=("07015",)
    ).path.read_bytes()


def _workbook(tmp_path: Path) -> bytes:
    return write_wunderground_workbook(
        tmp_path / LA_MADELEINE, first_day=date(2024, 10, 1), days=1, last_day_until=time(0, 59)
    ).path.read_bytes()


def _with_member(workbook: bytes, name: str, data: bytes) -> bytes:
    """Return the workbook with one more zip member."""
    out = io.BytesIO(workbook)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


# ------------------------------------------------------------------------------------ limits


def test_default_limits_are_the_documented_figures():
    assert Limits() == Limits(
        max_file_bytes=50 * 2**20,
        max_uncompressed_bytes=200 * 2**20,
        max_compression_ratio=200,
        max_rows_per_sheet=20_000,
    )


@pytest.mark.parametrize(
    ("parser", "name"),
    [
        (infoclimat.parse, "ic.json"),
        (wunderground.parse, LA_MADELEINE),
        (wunderground.parse, "Weather Underground - La Madeleine, FR - 011024.csv"),
    ],
)
def test_file_over_max_file_bytes_is_refused_naming_limit_and_size(parser, name):
    with pytest.raises(
        SourceFormatError, match=r"file is 2000 bytes, over the limit max_file_bytes = 1999 bytes"
    ):
        parser(_raw(name, b" " * 2000), limits=Limits(max_file_bytes=1999))


def test_workbook_expanding_past_max_uncompressed_bytes_is_refused(tmp_path):
    content = _workbook(tmp_path)
    declared = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(content)).infolist())
    with pytest.raises(
        SourceFormatError,
        match=rf"archive expands to {declared} bytes, over the limit max_uncompressed_bytes = 10000 bytes",
    ):
        wunderground.parse(
            _raw(LA_MADELEINE, content), limits=Limits(max_uncompressed_bytes=10_000)
        )


def test_member_with_a_bomb_compression_ratio_is_refused_before_calamine_opens_it(tmp_path):
    # 8 MiB of zeros deflate about 1000:1. The archive is not even a workbook: the refusal
    # names the ratio, not calamine's "not a readable Excel workbook", so it came first.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (8 * 2**20))
    with pytest.raises(
        SourceFormatError,
        match=r"member 'xl/worksheets/sheet1.xml' has compression ratio \d+ .* over the limit max_compression_ratio = 200",
    ):
        wunderground.parse(_raw(LA_MADELEINE, buffer.getvalue()))


def test_bomb_member_inside_a_real_workbook_is_refused(tmp_path):
    content = _with_member(_workbook(tmp_path), "xl/media/image1.png", b"\0" * (4 * 2**20))
    with pytest.raises(SourceFormatError, match=r"'xl/media/image1.png' has compression ratio"):
        wunderground.parse(_raw(LA_MADELEINE, content))


def test_real_format_workbook_is_well_within_the_default_limits(tmp_path):
    parsed = wunderground.parse(_raw(LA_MADELEINE, _workbook(tmp_path)))
    assert parsed.observations.num_rows == 12


# ----------------------------------------------------------------------- InfoClimat strictness


def test_utf8_byte_order_mark_is_removed_and_reported_as_drift(tmp_path):
    content = _infoclimat(tmp_path)
    plain = infoclimat.parse(_raw("ic.json", content))
    with_bom = infoclimat.parse(_raw("ic.json", b"\xef\xbb\xbf" + content))
    assert with_bom.drift == ("UTF-8 byte-order mark removed",)
    assert plain.drift == ()
    assert with_bom.observations.drop_columns(["raw_sha256", "content_key"]).equals(
        plain.observations.drop_columns(["raw_sha256", "content_key"])
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"status": "Montr\xe9al"}', r"not UTF-8 text, byte 0xe9 at offset 17"),
        (b'\xef\xbb\xbf{"a": "\xff"}', r"not UTF-8 text, byte 0xff at offset 10"),
        (
            '{"status": "OK"}'.encode("utf-16"),
            r"not UTF-8 text, byte 0xff at offset 0",
        ),
    ],
    ids=["latin-1", "after-bom", "utf-16"],
)
def test_non_utf8_bytes_are_refused_with_their_offset(content, message):
    with pytest.raises(SourceFormatError, match=rf"file 'ic.json': not valid JSON: {message}"):
        infoclimat.parse(_raw("ic.json", content))


def test_truncated_json_is_refused_with_line_and_column(tmp_path):
    content = _infoclimat(tmp_path)
    cut = content[: content.index(b'"temperature"')]
    line = cut.count(b"\n") + 1
    with pytest.raises(
        SourceFormatError, match=rf"not valid JSON at line {line}, column \d+: .*truncated\?"
    ):
        infoclimat.parse(_raw("ic.json", cut))


def test_text_that_is_not_json_is_refused_with_line_and_column():
    with pytest.raises(
        SourceFormatError, match=r"not valid JSON at line 2, column 1: Expecting value"
    ):
        infoclimat.parse(_raw("ic.json", b"\n<!DOCTYPE html><html></html>"))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused_by_name(tmp_path, literal):
    document = json.loads(_infoclimat(tmp_path))
    document["stations"][0]["latitude"] = "PLACEHOLDER"
    text = json.dumps(document).replace('"PLACEHOLDER"', literal)
    with pytest.raises(SourceFormatError, match=rf"non-standard literal {literal} "):
        infoclimat.parse(_raw("ic.json", text.encode()))


def test_duplicate_key_is_refused_naming_the_key_and_the_record(tmp_path):
    text = _infoclimat(tmp_path).decode()
    first = text.index('"temperature"', text.index('"id_station"'))  # in a record, not metadata
    text = text[:first] + '"temperature": "99.9", ' + text[first:]
    with pytest.raises(
        SourceFormatError,
        match=r"duplicate key 'temperature' in an object \(id_station='07015', dh_utc='2024-10-05 00:00:00'\)",
    ):
        infoclimat.parse(_raw("ic.json", text.encode()))


def test_duplicate_top_level_key_is_refused():
    with pytest.raises(SourceFormatError, match=r"duplicate key 'hourly' in an object$"):
        infoclimat.parse(_raw("ic.json", b'{"hourly": {}, "hourly": {}}'))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"status": "KO", "errors": ["bad token"]}, r"field 'status': status is 'KO'.*bad token"),
        ({"stations": {}, "hourly": {}, "metadata": {}}, r"missing or malformed 'stations'"),
        (
            {"stations": ["07015"], "hourly": {}, "metadata": {}},
            r"field 'stations\[0\]': station entries must be JSON objects",
        ),
    ],
    ids=["api-error", "stations-not-list", "station-not-object"],
)
def test_wrong_top_level_shape_is_refused(document, message):
    with pytest.raises(SourceFormatError, match=message):
        infoclimat.parse(_raw("ic.json", json.dumps(document).encode()))
