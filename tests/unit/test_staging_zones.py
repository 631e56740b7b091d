"""Staged parses on disk, processed source-days, progress notes, one-line errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from forecast.errors import one_line
from forecast.lake import zones
from forecast.lake.staging import StagedRun, load_staged, stage
from forecast.lake.store import Lake
from forecast.run import progress
from tests.support import DirectoryFS
from tests.unit.rows import T0, series, stations

SITES = stations(("A", 50.0, 3.0), ("B", 44.0, 1.0))


def staged(tmp_path, name="c1", sha="aaa", rows=None):
    rows = rows if rows is not None else pa.concat_tables([series("A", temperature=[1.0, 2.0, 3.0]),
                                                          series("B", temperature=[4.0])])  # fmt: skip

    def parse(writer):
        for offset in range(0, rows.num_rows, 2):
            writer(rows.slice(offset, 2))
        return SITES, ("a note",)

    return stage(tmp_path / "parsed" / f"{sha}-fp", parse, sha256=sha, name=name,
                 source="wunderground", raw_key=f"raw/{name}")  # fmt: skip


def test_a_staged_content_reads_back_by_station_and_is_reused(tmp_path):
    content, fresh = staged(tmp_path)
    assert fresh and content.rows == 4 and content.station_rows == {"A": 3, "B": 1}
    assert [held for _, held in content.chunks] == [("A",), ("A", "B")]
    assert content.rows_of(["B"]).column("temperature").to_pylist() == [4.0]
    assert content.rows_of(["A"]).num_rows == 3 and content.drift == ("a note",)
    again, fresh = staged(tmp_path, rows=series("A", temperature=[9.0]))
    assert not fresh and again == content  # the staging is the parse cache
    assert content.first_observation == T0.isoformat()


def test_a_parse_that_fails_leaves_nothing_staged(tmp_path):
    def parse(writer):
        writer(series("A", temperature=[1.0]))
        raise ValueError("truncated")

    with pytest.raises(ValueError):
        stage(
            tmp_path / "parsed" / "bbb-fp", parse, sha256="bbb", name="x", source="s", raw_key="k"
        )
    assert load_staged(tmp_path / "parsed" / "bbb-fp") is None
    assert list((tmp_path / "parsed").iterdir()) == []


def test_a_run_reads_every_content_of_a_station(tmp_path):
    one, _ = staged(tmp_path, "c1", "aaa")
    two, _ = staged(
        tmp_path, "c2", "bbb", rows=series("A", start=T0 + timedelta(days=1), temperature=[5.0])
    )
    run = StagedRun((one, two))
    assert run.station_rows() == {"A": 4, "B": 1}
    assert run.rows_of(["A"]).num_rows == 4 and run.stations().num_rows == 2


def test_the_processed_zone_holds_one_file_per_source_day_and_reads_as_one_dataset(tmp_path):
    day1 = series("A", temperature=[1.0, 2.0])
    day2 = series("A", start=T0 + timedelta(days=1), temperature=[3.0])
    other = series("B", temperature=[4.0])
    days_dir = tmp_path / "days"
    written = zones.stage_days(days_dir, 0, pa.concat_tables([day1, day2]))
    written += zones.stage_days(days_dir, 1, other)  # another partition, same source-day
    assert sorted(written) == [("wunderground", "2024-10-05"), ("wunderground", "2024-10-05"),
                               ("wunderground", "2024-10-06")]  # fmt: skip
    lake = Lake(
        {z: DirectoryFS(tmp_path / "lake" / z) for z in ("raw", "processed", "rejected", "reports")}
    )
    keys = zones.write_processed_days(lake, days_dir, written)
    assert len(keys) == 2 and all(k.startswith("source=wunderground/date=2024-10-0") for k in keys)
    dataset = ds.dataset(tmp_path / "lake" / "processed", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 4 and set(table.column("date").to_pylist()) == {
        "2024-10-05",
        "2024-10-06",
    }
    again = zones.write_processed_days(lake, days_dir, written)
    assert again == keys  # the same inputs rewrite the same objects
    assert len(list((tmp_path / "lake" / "processed").rglob("*.parquet"))) == 2


def test_a_large_source_day_is_written_one_sorted_row_group_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr(zones, "ROW_GROUP_ROWS", 3)
    days_dir = tmp_path / "days"
    written = []
    for index, station in enumerate(["D", "B", "C", "A"]):  # four partitions, one station each
        rows = series(station, at=[10.0, 0.0], temperature=[float(index), float(index) + 0.5])
        written += zones.stage_days(days_dir, index, rows)
    lake = Lake(
        {z: DirectoryFS(tmp_path / "lake" / z) for z in ("raw", "processed", "rejected", "reports")}
    )
    (key,) = zones.write_processed_days(lake, days_dir, written)
    file = pq.ParquetFile(tmp_path / "lake" / "processed" / key)
    groups = [file.read_row_group(i) for i in range(file.num_row_groups)]
    assert [g.num_rows for g in groups] == [4, 4]  # files taken in station order until >= 3 rows
    assert [(g.column("station_id").to_pylist(), [t.minute for t in g.column("timestamp").to_pylist()])
            for g in groups] == [(["A", "A", "B", "B"], [0, 10, 0, 10]),
                                 (["C", "C", "D", "D"], [0, 10, 0, 10])]  # fmt: skip
    assert not list(days_dir.rglob("*.tmp")) and not list((tmp_path / "lake").rglob("*.partial"))


def test_progress_notes_add_up_what_was_loaded(tmp_path):
    assert progress.loaded_so_far(tmp_path) == {"partitions_loaded": 0}
    progress.record(tmp_path, "load", 0, {"input": 3, "inserted": 3})
    progress.record(tmp_path, "load", 1, {"input": 2, "inserted": 1, "unchanged": 1})
    assert progress.loaded_so_far(tmp_path) == {
        "partitions_loaded": 2, "input": 5, "inserted": 4, "updated": 0, "unchanged": 1, "failed": 0,
    }  # fmt: skip


def test_one_line_drops_driver_internals_and_credentials():
    from pymongo.errors import OperationFailure

    failure = OperationFailure("internal server error, full error: {'$clusterTime': 1}", 1, {})
    assert one_line(failure) == "OperationFailure: internal server error"
    assert (
        one_line(ValueError("mongodb://u:secret@h/ down\nand more"))
        == "ValueError: mongodb://***@h/ down and more"
    )
    assert one_line(KeyError()) == "KeyError"


def test_an_object_is_named_by_a_uri_a_person_can_open(tmp_path):
    class Bucket:  # the two attributes of a prefect-aws S3Bucket the URI needs
        bucket_name, bucket_folder, credentials = "forecast-lake", "reports/", None

    class Other:  # a filesystem block that is neither local nor S3
        def read_path(self, path: str) -> bytes:
            raise FileNotFoundError(path)

    lake = Lake({"raw": DirectoryFS(tmp_path / "raw"), "processed": Other(),
                 "rejected": Other(), "reports": Bucket()})  # fmt: skip
    key = "run=r1/quality.html"
    local = urlparse(lake.uri("raw", key))  # "=" is percent-encoded, as pathlib writes URIs
    assert (local.scheme, Path(unquote(local.path))) == ("file", (tmp_path / "raw" / key).resolve())
    assert lake.uri("reports", key) == "s3://forecast-lake/reports/run=r1/quality.html"
    assert lake.uri("processed", key) == key


def test_a_local_zone_write_that_fails_midway_leaves_the_old_object_and_no_scratch(
    tmp_path, monkeypatch
):
    import errno
    from pathlib import Path

    from prefect.filesystems import LocalFileSystem

    from forecast.lake.store import LocalZone

    zone = LocalZone(LocalFileSystem(basepath=str(tmp_path)))
    zone.write("latest/status.json", b"old")
    written = Path.write_bytes

    def half_then_full(self, data):
        written(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(OSError):
        zone.write("latest/status.json", b"new and longer")
    monkeypatch.undo()
    assert (tmp_path / "latest" / "status.json").read_bytes() == b"old"
    assert [p.name for p in (tmp_path / "latest").iterdir()] == ["status.json"]
