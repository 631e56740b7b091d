"""The real files landed as Airbyte's S3 destination writes them, in every form the pipeline reads,
give the documents the files give.

The objects are made inside the test from the real files, in the shape the real File source
gives (``forecast.airbyte``: seen with ``airbyte-source-file`` 0.6.0): the InfoClimat file as one
record, each workbook as one record per row of every sheet plus an empty record per sheet, with
the ``Date`` column a user adds before the sync. Each object goes through what ingest and
transform do to it (``recognise``: container, source, records digest; the source's parser) and
then validation and the MongoDB write plan. Only the lineage that names the object differs from
the files' documents (file, raw key and sha256, sheet, row or line, record id and time).
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from forecast import airbyte
from forecast.errors import SourceFormatError
from forecast.lake.ingest import Landed, content_key, recognise
from forecast.mongo.plan import RunContext, write_plan
from forecast.quality.validate import validate
from forecast.sources import registry
from forecast.sources.common import RawFile, collect, file_source
from forecast.sources.limits import Limits

NOW = datetime(2024, 10, 8, tzinfo=UTC)
RUN = RunContext("airbyte-run", NOW)
FILES = {
    "infoclimat": "infoclimat/Data_Source1_011024-071024.json",
    "la_madeleine": "wunderground/Weather Underground - La Madeleine, FR.xlsx",
    "Ichtegem_BE": "wunderground/Weather Underground - Ichtegem, BE.xlsx",
}
LINEAGE = {"source_file", "raw_key", "raw_sha256", "content_key", "sheet", "row",
           "record_index", "record_id", "extracted_at", "digest"}  # fmt: skip


def _documents(observations: pa.Table, stations: pa.Table) -> dict[str, dict]:
    """The documents' bodies by ``_id``, what names the object left out."""
    valid = validate(observations, stations=stations, now=NOW).valid
    documents = {}
    for plan in write_plan(valid, stations, RUN):
        bodies = plan.set_fields.to_pylist()
        for document_id, body in zip(plan.ids.to_pylist(), bodies, strict=True):
            documents[document_id] = {
                k: v for k, v in body.items() if k.removeprefix("metadata.") not in LINEAGE
            }
    return documents


def _parse(path: Path, relative: str, streams: dict[str, str] | None = None):
    """What ingest and transform make of a landed object: its record, then its parse."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    landed = Landed(str(path), relative)
    record = recognise(path, relative, sha, Limits())
    assert record.error is None, record.error
    record = dataclasses.replace(
        record, name=landed.name(record.container), stream=landed.stream, raw_key=f"raw/{sha}"
    )
    record = dataclasses.replace(record, content_key=content_key(record, streams or {}))
    source = file_source(
        path, name=record.name, raw_key=record.raw_key, sha256=sha,
        container=record.container_of, stream=record.stream, content_key=record.content_key,
    )  # fmt: skip
    chunks: list[pa.Table] = []
    summary = registry.source(record.source).parse_stream(
        source, chunks.append, limits=Limits(), chunk_rows=2_000, streams=streams or {}
    )
    return record, pa.concat_tables(chunks), summary.stations


@pytest.fixture(scope="module")
def from_files(shared_raw) -> dict[str, dict]:
    observations, stations = [], []
    for relative in FILES.values():
        content = (shared_raw / relative).read_bytes()
        raw = RawFile(Path(relative).name, content, "k", hashlib.sha256(content).hexdigest())
        source = registry.recognise_file(content[:65536], raw.name)
        parsed = collect(source.parse_stream, raw)
        observations.append(parsed.observations)
        stations.append(parsed.stations)
    documents = _documents(pa.concat_tables(observations), pa.concat_tables(stations))
    assert len(documents) == 4950
    return documents


def _land(shared_raw: Path, landing: Path, fmt: airbyte.Format, **options) -> list[Path]:
    paths = []
    for stream, relative in FILES.items():
        path = shared_raw / relative
        records = (
            airbyte.infoclimat_records(path)
            if stream == "infoclimat"
            else airbyte.wunderground_records(path, **options)
        )
        paths.append(airbyte.write_object(records, landing, stream, fmt, seed=len(paths)))
    return paths


@pytest.mark.parametrize("fmt", airbyte.FORMATS, ids=lambda f: f.describe())
def test_the_real_files_landed_by_airbyte_give_the_files_documents(
    fmt, shared_raw, from_files, tmp_path
):
    observations, stations, records = [], [], []
    for path in _land(shared_raw, tmp_path, fmt):
        relative = path.relative_to(tmp_path).as_posix()
        if fmt.kind == "parquet" and relative.startswith("infoclimat/"):
            with pytest.raises(SourceFormatError, match=r"Parquet.*JSON Lines or CSV"):
                _parse(path, relative)
            continue
        record, rows, described = _parse(path, relative)
        assert record.container == f"airbyte-{fmt.kind}"
        assert record.compression == ("gzip" if fmt.compressed else "")
        assert record.name == relative and record.stream == relative.split("/")[0]
        observations.append(rows)
        stations.append(described)
        records.append(record)
    assert {r.source for r in records} >= {"wunderground"}
    documents = _documents(pa.concat_tables(observations), pa.concat_tables(stations))
    expected = {
        key: body
        for key, body in from_files.items()
        if fmt.kind != "parquet" or body["station"]["network"] == "wunderground"
    }
    assert documents == expected


def test_a_record_keeps_its_object_line_id_and_extraction_time(shared_raw, tmp_path):
    (path,) = [
        p for p in _land(shared_raw, tmp_path, airbyte.Format("jsonl", compressed=True))
        if "Ichtegem" in str(p)
    ]  # fmt: skip
    record, rows, _ = _parse(path, path.relative_to(tmp_path).as_posix())
    assert record.records == 1906 and record.stream == "Ichtegem_BE"
    first = rows.slice(0, 1).to_pylist()[0]
    assert first["source_file"] == path.relative_to(tmp_path).as_posix()
    assert first["row"] == 2  # line 1 is the first sheet's empty record
    assert len(first["record_id"]) == 36 and first["extracted_at"] == datetime(
        2024, 10, 8, 6, tzinfo=UTC
    )
    assert first["sheet"] is None
    assert rows.num_rows == 1899


@pytest.mark.parametrize(
    ("day_column", "day_format"),
    [("Date", "%d/%m/%Y"), ("Date", "DDMMYY"), ("DateTime", "%Y-%m-%d")],
)
def test_every_way_of_writing_the_day_gives_the_same_rows(
    day_column, day_format, shared_raw, tmp_path
):
    path = shared_raw / FILES["la_madeleine"]
    fmt = airbyte.Format("jsonl")
    iso = airbyte.write_object(
        airbyte.wunderground_records(path), tmp_path / "a", "la_madeleine", fmt
    )
    other = airbyte.write_object(
        airbyte.wunderground_records(path, day_column=day_column, day_format=day_format),
        tmp_path / "b", "la_madeleine", fmt,
    )  # fmt: skip
    _, expected, _ = _parse(iso, "la_madeleine/x.jsonl")
    _, rows, _ = _parse(other, "la_madeleine/x.jsonl")
    compared = ["station_id", "timestamp", "temperature", "wind_direction", "flags", "parse_errors"]
    assert rows.select(compared).equals(expected.select(compared))


def test_records_without_a_day_fail_saying_airbyte_dropped_the_sheet_names(shared_raw, tmp_path):
    path = airbyte.write_object(
        airbyte.wunderground_records(shared_raw / FILES["la_madeleine"], day_column=None),
        tmp_path, "la_madeleine", airbyte.Format("jsonl", compressed=True),
    )  # fmt: skip
    with pytest.raises(SourceFormatError) as raised:
        _parse(path, path.relative_to(tmp_path).as_posix())
    message = str(raised.value)
    assert "la_madeleine/" in message and "'Date'" in message
    assert "dropped the sheet names" in message and "Land the workbook itself" in message


@pytest.mark.parametrize(
    "stream", ["la_madeleine", "la_madeleine_FR", "La Madeleine, FR", "ILAMAD25", "wu-la-madeleine"]
)
def test_the_station_comes_from_the_stream_name_in_any_case_and_separator(
    stream, shared_raw, tmp_path
):
    path = airbyte.write_object(
        airbyte.wunderground_records(shared_raw / FILES["la_madeleine"]), tmp_path, stream,
        airbyte.Format("csv", flattened=True),
    )  # fmt: skip
    _, rows, stations = _parse(path, path.relative_to(tmp_path).as_posix())
    assert set(rows.column("station_id").to_pylist()) == {"ILAMAD25"}
    assert stations.column("station_id").to_pylist() == ["ILAMAD25"]


def test_an_unknown_stream_fails_naming_it_and_how_to_map_it_and_a_mapping_reads_it(
    shared_raw, tmp_path
):
    path = airbyte.write_object(
        airbyte.wunderground_records(shared_raw / FILES["la_madeleine"]), tmp_path,
        "GreenCoop_WU_Source", airbyte.Format("jsonl"),
    )  # fmt: skip
    relative = path.relative_to(tmp_path).as_posix()
    with pytest.raises(SourceFormatError) as raised:
        _parse(path, relative)
    assert "'GreenCoop_WU_Source'" in str(raised.value)
    assert "--wu-stream 'GreenCoop_WU_Source=STATION_ID'" in str(raised.value)
    _, rows, _ = _parse(path, relative, streams={"GreenCoop_WU_Source": "ILAMAD25"})
    assert rows.num_rows == 1908


def test_a_resync_of_the_same_data_has_the_same_records_digest(shared_raw, tmp_path):
    path = shared_raw / FILES["Ichtegem_BE"]
    fmt = airbyte.Format("jsonl", compressed=True)
    first = airbyte.write_object(airbyte.wunderground_records(path), tmp_path, "Ichtegem_BE", fmt)
    later = airbyte.write_object(  # new ids and time, and the File source's keys in a new order
        airbyte.wunderground_records(path, seed=5), tmp_path, "Ichtegem_BE", fmt, seed=99,
        extracted_at=datetime(2024, 10, 15, 6, tzinfo=UTC), sync_id=2,
    )  # fmt: skip
    older = airbyte.write_object(
        airbyte.wunderground_records(path), tmp_path / "v1", "Ichtegem_BE",
        airbyte.Format("jsonl", compressed=True, generation="older"),
    )  # fmt: skip
    changed = airbyte.write_object(
        airbyte.wunderground_records(path, day_format="%d/%m/%Y"),
        tmp_path / "c",
        "Ichtegem_BE",
        fmt,
    )
    surveyed = {
        name: _parse(p, f"Ichtegem_BE/{p.name}")[0]
        for name, p in {"first": first, "later": later, "older": older, "changed": changed}.items()
    }
    assert first.read_bytes() != later.read_bytes()
    assert surveyed["first"].sha256 != surveyed["later"].sha256
    assert surveyed["first"].content == surveyed["later"].content == surveyed["older"].content
    assert surveyed["first"].content_key == surveyed["later"].content_key
    assert surveyed["changed"].content != surveyed["first"].content
