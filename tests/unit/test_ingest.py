"""Ingest into a lake of real directories: discovery, content-addressed raw objects, manifests."""

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from forecast.errors import ConfigurationError, DataContractError
from forecast.lake import store as lake_module
from forecast.lake.ingest import (
    LandingFile,
    discover,
    index_key,
    ingest_file,
    read_raw,
    write_manifest,
)
from forecast.lake.landing import LocalLanding
from forecast.lake.store import Lake
from tests.support import DirectoryFS

LANDING = LocalLanding(Path("/"))  # reads LandingFile.location, an absolute path

NOW = datetime(2024, 10, 8, 6, 30, tzinfo=UTC)
LATER = datetime(2024, 10, 9, 7, 0, tzinfo=UTC)
CONTENT = b'{"hourly": {"07015": []}}'
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake({zone: DirectoryFS(tmp_path / zone) for zone in lake_module.ZONES})


def landing_file(directory: Path, name: str, content: bytes = CONTENT) -> LandingFile:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return LandingFile(str(path), path.stat().st_size, path.relative_to(directory).as_posix())


def stored_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_discover_finds_files_and_airbyte_objects_in_subdirectories_and_says_why_not_the_rest(
    tmp_path,
):
    for name in (
        "infoclimat.json",
        "2024/10/Weather Underground - Ichtegem, BE.xlsx",
        "UPPER.JSON",
        "notes.txt",
        "data.csv",
        "la_madeleine/2024_10_08_1728374400000_0.jsonl.gz",
        "ic/2024_10_08_1728374400000_0.parquet",
        "ic/2024_10_08_1728374400000_1.avro",
        ".hidden.json",
        ".cache/inside.json",
        "~$Weather Underground - Ichtegem, BE.xlsx",
    ):
        landing_file(tmp_path, name)
    found, ignored = discover(tmp_path)
    assert [f.relative for f in found] == [
        "2024/10/Weather Underground - Ichtegem, BE.xlsx",
        "UPPER.JSON",
        "data.csv",  # CSV export of one workbook sheet, or an Airbyte CSV: its bytes will say
        "ic/2024_10_08_1728374400000_0.parquet",
        "ic/2024_10_08_1728374400000_1.avro",  # listed, to be refused with its reason
        "infoclimat.json",
        "la_madeleine/2024_10_08_1728374400000_0.jsonl.gz",
    ]
    assert all(Path(f.location) == tmp_path / f.relative for f in found)
    assert dict(ignored) == {
        ".cache/inside.json": "in a hidden folder",
        ".hidden.json": "a hidden or temporary file",
        "notes.txt": dict(ignored)["notes.txt"],
        "~$Weather Underground - Ichtegem, BE.xlsx": "a hidden or temporary file",
    }
    assert dict(ignored)["notes.txt"].startswith("not a type the pipeline reads (.json")


def test_discover_of_a_missing_directory_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="nowhere"):
        discover(tmp_path / "nowhere")


def test_discover_of_a_file_instead_of_a_directory_is_a_configuration_error(tmp_path):
    landing_file(tmp_path, "infoclimat.json")
    with pytest.raises(ConfigurationError):
        discover(tmp_path / "infoclimat.json")


def test_ingest_writes_the_object_under_source_date_and_sha_then_its_index_marker(lake, tmp_path):
    record = ingest_file(
        lake, LANDING, landing_file(tmp_path / "landing", "infoclimat.json"), run_id="r1", now=NOW
    )
    expected_key = f"source=infoclimat/ingest_date=2024-10-08/{SHA}.json"
    assert (record.raw_key, record.sha256, record.size, record.status, record.run_id) == (
        expected_key,
        SHA,
        len(CONTENT),
        "ingested",
        "r1",
    )
    assert stored_files(tmp_path / "raw") == sorted([expected_key, f"_index/sha256={SHA}.json"])
    # the marker says what the content is and where it was first seen; what a name says of it
    # (its content key) is each landing input's own
    assert lake.read_json("raw", index_key(SHA)) == record.to_dict() | {"content_key": ""}


def test_raw_object_bytes_are_the_landing_bytes(lake, tmp_path):
    content = bytes(range(256)) * 4  # not text: nothing may be decoded or re-encoded
    landing = landing_file(tmp_path / "landing", "Weather Underground - X.xlsx", content)
    record = ingest_file(lake, LANDING, landing, run_id="r1", now=NOW)
    assert (tmp_path / "raw" / record.raw_key).read_bytes() == content
    assert read_raw(lake, record) == content


def test_same_bytes_under_another_name_are_not_copied_again(lake, tmp_path):
    first = ingest_file(
        lake, LANDING, landing_file(tmp_path / "a", "infoclimat.json"), run_id="r1", now=NOW
    )
    before = stored_files(tmp_path / "raw")
    again = ingest_file(
        lake, LANDING, landing_file(tmp_path / "b", "renamed.json"), run_id="r2", now=LATER
    )
    assert (again.status, again.raw_key, again.run_id) == ("already_ingested", first.raw_key, "r2")
    assert stored_files(tmp_path / "raw") == before


def test_different_bytes_make_a_second_object(lake, tmp_path):
    ingest_file(
        lake, LANDING, landing_file(tmp_path / "a", "infoclimat.json"), run_id="r1", now=NOW
    )
    other = ingest_file(
        lake, LANDING, landing_file(tmp_path / "b", "infoclimat.json", b"{}"), run_id="r2", now=NOW
    )
    assert other.status == "ingested"
    assert len([k for k in stored_files(tmp_path / "raw") if k.startswith("source=")]) == 2


def test_tampered_raw_bytes_are_refused(lake, tmp_path):
    record = ingest_file(
        lake, LANDING, landing_file(tmp_path / "landing", "infoclimat.json"), run_id="r1", now=NOW
    )
    (tmp_path / "raw" / record.raw_key).write_bytes(CONTENT + b" ")
    with pytest.raises(DataContractError, match=SHA):
        read_raw(lake, record)


def test_manifest_lists_every_record_of_the_run(lake, tmp_path):
    records = [
        ingest_file(
            lake, LANDING, landing_file(tmp_path / "l", name, content), run_id="r1", now=NOW
        )
        for name, content in (("a.json", b"{}"), ("b.json", b"[]"))
    ]
    key = write_manifest(lake, [r.to_dict() for r in records], run_id="r1", now=NOW)
    assert key == "_manifests/ingest_date=2024-10-08/run=r1.json"
    stored = json.loads((tmp_path / "raw" / key).read_bytes())
    assert stored == {
        "run_id": "r1",
        "written_at": NOW.isoformat(),
        "files": [r.to_dict() for r in records],
    }
    assert [f["name"] for f in stored["files"]] == ["a.json", "b.json"]


def test_exists_is_true_only_for_written_keys(lake):
    lake.write("reports", "a/b.json", b"{}")
    assert lake.exists("reports", "a/b.json")
    assert not lake.exists("reports", "a/c.json")
    assert not lake.exists("processed", "a/b.json")


def test_reading_a_missing_key_raises_file_not_found_naming_zone_and_key(lake):
    with pytest.raises(FileNotFoundError, match=re.escape("processed/x.parquet")):
        lake.read("processed", "x.parquet")


def test_parquet_round_trips_schema_and_values(lake):
    table = pa.table(
        {
            "station_id": pa.array(["07015", "ILAMAD25"]),
            "timestamp": pa.array([NOW, LATER], pa.timestamp("ms", tz="UTC")),
            "temperature": pa.array([12.5, None], pa.float64()),
            "flags": pa.array([[], ["wind_calm"]], pa.list_(pa.string())),
        }
    )
    key = lake.write_parquet("processed", "observations/part-0.parquet", table)
    assert key == "observations/part-0.parquet"
    assert lake.read_parquet("processed", key).equals(table)


def test_a_lake_needs_exactly_its_four_zones(tmp_path):
    with pytest.raises(ValueError, match="zones"):
        Lake({"raw": DirectoryFS(tmp_path)})
