"""Streaming parsers: chunks of bounded size that add up to the one-shot parse, bounded reads,
errors located in the file, limits enforced as the file is read, staging chunk by chunk."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime, time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from forecast.errors import SourceFormatError
from forecast.lake.ingest import RawObject
from forecast.lake.staging import load_staged, stage_raw_file, staged_directory
from forecast.samples import write_infoclimat_json, write_wunderground_workbook
from forecast.schema import OBSERVATIONS
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile, RawSource, file_source
from forecast.sources.limits import Limits

JSON_NAME = "Data_Source1_011024-071024.json"
WORKBOOK = "Weather Underground - La Madeleine, FR.xlsx"


def _source(path: Path, name: str | None = None) -> RawSource:
    name = name or path.name
    return file_source(path, name=name, raw_key=f"raw/{name}", sha256="s" * 64)


def _raw(path: Path) -> RawFile:
    content = path.read_bytes()
    return RawFile(path.name, content, f"raw/{path.name}", "s" * 64)


def _chunks(parse_stream, source: RawSource, **options) -> list[pa.Table]:
    chunks: list[pa.Table] = []
    parse_stream(source, chunks.append, **options)
    return chunks


@pytest.fixture(scope="module")
def infoclimat_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ic") / JSON_NAME
    write_infoclimat_json(path, start=datetime(2024, 10, 5, tzinfo=UTC), hours=6,
                          record_overrides={("00052", 20): {"temperature": "warm"}})  # fmt: skip
    return path


@pytest.fixture(scope="module")
def workbook_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wu") / WORKBOOK
    write_wunderground_workbook(path, first_day=date(2024, 10, 1), days=3,
                                last_day_until=time(6, 0))  # fmt: skip
    return path


# ------------------------------------------------------------------------------ InfoClimat


@pytest.mark.parametrize(("chunk_rows", "block_size"), [(7, 97), (36, 4096), (1, 1 << 20)])
def test_infoclimat_chunks_are_bounded_and_add_up_to_the_one_shot_parse(
    infoclimat_file, chunk_rows, block_size
):
    whole = infoclimat.parse(_raw(infoclimat_file)).observations
    chunks = _chunks(infoclimat.parse_stream, _source(infoclimat_file),
                     chunk_rows=chunk_rows, block_size=block_size)  # fmt: skip
    assert all(0 < c.num_rows <= chunk_rows for c in chunks)
    assert all(c.schema == OBSERVATIONS for c in chunks)
    assert pa.concat_tables(chunks).equals(whole)
    assert len(chunks) == -(-whole.num_rows // chunk_rows)  # every chunk full but the last


def test_infoclimat_station_split_across_chunks_keeps_its_values_and_record_order(
    infoclimat_file,
):
    document = json.loads(infoclimat_file.read_text())
    records = document["hourly"]["00052"]  # 37 ten-minute records
    chunks = _chunks(infoclimat.parse_stream, _source(infoclimat_file), chunk_rows=10,
                     block_size=128)  # fmt: skip
    holding = [c for c in chunks if "00052" in c.column("station_id").to_pylist()]
    assert len(holding) >= 4  # split across chunks, some shared with neighbouring stations
    rows = pa.concat_tables(holding)
    rows = rows.filter(pc.equal(rows.column("station_id"), "00052"))
    expected = [None if r["temperature"] == "warm" else float(r["temperature"]) for r in records]
    assert rows.column("temperature").to_pylist() == expected
    assert rows.column("record_index").to_pylist() == list(range(len(records)))
    stamps = [t.strftime("%Y-%m-%d %H:%M:%S") for t in rows.column("timestamp").to_pylist()]
    assert stamps == [r["dh_utc"] for r in records]
    # The bad value of record 20 is that row's parse error, whichever chunk it falls in.
    errors = rows.column("parse_errors").to_pylist()
    assert errors[20] == ["field 'temperature' is not a number: 'warm'"]
    assert sum(bool(e) for e in errors) == 1


class _Recorder(io.RawIOBase):
    """A binary stream over bytes that records the size of every read asked of it."""

    def __init__(self, content: bytes) -> None:
        self._inner, self.asked = io.BytesIO(content), []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        return self._inner.read(size)


def test_infoclimat_file_is_read_in_blocks_never_whole(infoclimat_file):
    content = infoclimat_file.read_bytes()
    streams: list[_Recorder] = []

    def open_() -> _Recorder:
        streams.append(_Recorder(content))
        return streams[-1]

    source = RawSource(JSON_NAME, "raw/x", "s", len(content), open_)
    summary = infoclimat.parse_stream(source, lambda _: None, chunk_rows=50, block_size=1000)
    assert summary.parts == ("07015", "00052", "000R5", "STATIC0010")  # hourly order
    assert summary.rows == 6 + 3 * 37
    assert len(streams) == 1  # one pass over the file
    assert set(streams[0].asked) == {1000}  # never read(-1): never the whole file
    assert len(streams[0].asked) == len(content) // 1000 + 2  # up to the empty read at the end


def _cut(path: Path, content: bytes, tmp_path: Path, name: str = JSON_NAME) -> Path:
    out = tmp_path / name
    out.write_bytes(content)
    return out


def test_truncated_json_names_the_file_line_column_and_says_truncated(infoclimat_file, tmp_path):
    content = infoclimat_file.read_bytes()
    cut = content[: len(content) * 2 // 3]  # inside hourly, mid-record
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(cut)
    path = _cut(infoclimat_file, cut, tmp_path)
    sunk: list[pa.Table] = []
    with pytest.raises(SourceFormatError) as caught:
        infoclimat.parse_stream(_source(path), sunk.append, chunk_rows=5, block_size=256)
    error = caught.value
    assert error.file == JSON_NAME
    assert f"line {expected.value.lineno}, column {expected.value.colno}" in str(error)
    assert "truncated?" in str(error)
    assert sunk  # chunks went out before the end was found: the caller discards them


def test_malformed_record_deep_in_hourly_is_located_like_json_loads(infoclimat_file, tmp_path):
    text = infoclimat_file.read_text()
    at = text.index('"dh_utc": "2024-10-05 05:00:00"', text.index('"000R5": ['))
    broken = text[:at] + text[at:].replace('",\n', '"\n', 1)  # a missing comma in one record
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    path = _cut(infoclimat_file, broken.encode(), tmp_path)
    with pytest.raises(SourceFormatError) as caught:
        infoclimat.parse_stream(_source(path), lambda _: None, chunk_rows=4, block_size=300)
    message = str(caught.value)
    assert caught.value.file == JSON_NAME
    assert f"line {expected.value.lineno}, column {expected.value.colno}" in message
    assert "Expecting ',' delimiter" in message and "truncated" not in message


def test_records_that_are_not_objects_name_the_station_field(infoclimat_file, tmp_path):
    document = json.loads(infoclimat_file.read_text())
    document["hourly"]["000R5"][3] = "not a record"
    path = _cut(infoclimat_file, json.dumps(document, indent=4).encode(), tmp_path)
    with pytest.raises(SourceFormatError) as caught:
        infoclimat.parse_stream(_source(path), lambda _: None, chunk_rows=2, block_size=200)
    assert (caught.value.file, caught.value.field) == (JSON_NAME, "hourly.000R5")
    assert "records must be JSON objects" in str(caught.value)


def test_infoclimat_size_limit_is_checked_before_the_file_is_opened(infoclimat_file):
    opened: list[int] = []
    size = infoclimat_file.stat().st_size
    source = RawSource(JSON_NAME, "raw/x", "s", size, lambda: opened.append(1) or io.BytesIO())
    with pytest.raises(SourceFormatError, match="over the limit max_file_bytes = 1000 bytes"):
        infoclimat.parse_stream(source, lambda _: None, limits=Limits(max_file_bytes=1000))
    assert not opened


# ------------------------------------------------------------------------------ Weather Underground


@pytest.mark.parametrize("chunk_rows", [1, 50, 288, 10_000])
def test_workbook_chunks_are_bounded_and_add_up_to_the_one_shot_parse(workbook_file, chunk_rows):
    whole = wunderground.parse(_raw(workbook_file)).observations
    chunks: list[pa.Table] = []
    summary = wunderground.parse_stream(
        _source(workbook_file), chunks.append, chunk_rows=chunk_rows
    )
    assert summary.parts == ("011024", "021024", "031024") and summary.rows == whole.num_rows
    assert all(0 < c.num_rows <= chunk_rows for c in chunks)
    assert pa.concat_tables(chunks).equals(whole)
    assert len(chunks) == -(-whole.num_rows // chunk_rows)


def test_workbook_rows_over_the_limit_fail_at_that_sheet_after_earlier_sheets_streamed(
    tmp_path,
):
    path = tmp_path / WORKBOOK
    extra = [time(0, 5 * i + 1) for i in range(3)]  # 021024 gets 3 rows more than 011024
    write_wunderground_workbook(path, first_day=date(2024, 10, 1), days=3,
                                last_day_until=time(6, 0), extra_times={"021024": extra})  # fmt: skip
    rows_011024 = 288 + 1  # the empty row 2 counts: the limit is rows below the header
    sunk: list[pa.Table] = []
    with pytest.raises(SourceFormatError) as caught:
        wunderground.parse_stream(
            _source(path), sunk.append, chunk_rows=100,
            limits=Limits(max_rows_per_sheet=rows_011024),
        )  # fmt: skip
    assert (caught.value.file, caught.value.sheet) == (WORKBOOK, "021024")
    assert f"max_rows_per_sheet = {rows_011024}" in str(caught.value)
    # 011024 was read and handed over before 021024 was looked at: sheet by sheet.
    assert sum(c.num_rows for c in sunk) == 200
    assert {s for c in sunk for s in c.column("sheet").to_pylist()} == {"011024"}


def test_csv_export_chunks_add_up_to_the_one_shot_parse(workbook_file, tmp_path):
    import openpyxl

    sheet = openpyxl.load_workbook(workbook_file)["011024"]
    lines = []
    for row in sheet.iter_rows(values_only=True):
        cells = [
            "" if v is None else f"{v:%I:%M %p}" if isinstance(v, time) else str(v) for v in row
        ]
        lines.append(",".join(cells))
    path = tmp_path / "Weather Underground - La Madeleine, FR - 011024.csv"
    path.write_bytes("\r\n".join(lines).encode())
    whole = wunderground.parse(_raw(path)).observations
    chunks = _chunks(wunderground.parse_stream, _source(path), chunk_rows=40)
    assert whole.num_rows == 288
    assert all(0 < c.num_rows <= 40 for c in chunks) and len(chunks) == 8
    assert pa.concat_tables(chunks).equals(whole)


# ------------------------------------------------------------------------------ staging


def _record(name: str, raw_key: str, sha256: str) -> RawObject:
    return RawObject(
        "infoclimat", name, raw_key, sha256, 0, "", "r", "ingested", content_key=sha256
    )


def test_staging_writes_each_streamed_chunk_and_reads_back_the_one_shot_parse(
    infoclimat_file, tmp_path, monkeypatch
):
    monkeypatch.setattr("forecast.lake.staging.PARSE_CHUNK_ROWS", 16)
    parsed = infoclimat.parse(_raw(infoclimat_file))
    sha = hashlib.sha256(infoclimat_file.read_bytes()).hexdigest()
    staged, fresh = stage_raw_file(
        infoclimat_file, root=tmp_path, fingerprint="fp",
        record=_record(JSON_NAME, f"raw/{JSON_NAME}", sha), limits=Limits(), streams={},
    )  # fmt: skip
    assert fresh and staged.rows == parsed.observations.num_rows
    assert len(staged.chunks) == -(-staged.rows // 16)
    stations = sorted(staged.station_rows)
    back = staged.rows_of(stations)
    assert back.drop_columns(["raw_sha256", "content_key"]).equals(
        parsed.observations.drop_columns(["raw_sha256", "content_key"])
    )
    assert staged.stations().equals(parsed.stations)


def test_staging_a_file_that_fails_late_leaves_nothing(infoclimat_file, tmp_path, monkeypatch):
    monkeypatch.setattr("forecast.lake.staging.PARSE_CHUNK_ROWS", 8)
    content = infoclimat_file.read_bytes()
    path = _cut(infoclimat_file, content[: len(content) - 200], tmp_path)
    root = tmp_path / "work"
    with pytest.raises(SourceFormatError, match="truncated"):
        stage_raw_file(path, root=root, fingerprint="fp", record=_record(JSON_NAME, "raw/x", "abc"),
                       limits=Limits(), streams={})  # fmt: skip
    assert load_staged(staged_directory(root, "abc", "fp")) is None
    assert list((root / "parsed").iterdir()) == []  # no scratch directory left behind
