"""The real files as Airbyte's S3 destination lands them (``.jsonl.gz`` objects of records in
envelopes, made by ``forecast.airbyte`` in the real connector's shape) on S3 (a moto server over
HTTP), loaded end to end through the ``forecast`` CLI: the files' 4,950 documents with their
Airbyte lineage; an undated Weather Underground stream fails alone and says what to do; a
second sync of the same data changes nothing."""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from blocks.local import save_local_lake, save_mongo
from flows.cli import main
from forecast import airbyte
from tests.s3_support import AIRBYTE_PREFIX, moto_s3, station_counts
from tests.support import REAL_COUNTS, without_progress

pytestmark = pytest.mark.realdata

STREAMS = {  # stream names as seen in course repositories
    "GreenCoop_JSON_Source": "infoclimat/Data_Source1_011024-071024.json",
    "la_madeleine": "wunderground/Weather Underground - La Madeleine, FR.xlsx",
    "Ichtegem_BE": "wunderground/Weather Underground - Ichtegem, BE.xlsx",
}
FIRST_SYNC = datetime(2024, 10, 8, 6, tzinfo=UTC)
SECOND_SYNC = datetime(2024, 10, 15, 6, tzinfo=UTC)
JSONL_GZ = airbyte.Format("jsonl", compressed=True)


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def target(mongo_server, prefect_harness, tmp_path_factory):
    """A factory of fresh (lake block, mongo block, database) triples."""

    def fresh() -> tuple[str, str, str]:
        suffix = uuid.uuid4().hex[:10]
        names = (f"ab-lake-{suffix}", f"ab-mongo-{suffix}", f"ab_{suffix}")
        save_local_lake(tmp_path_factory.mktemp("ab") / "lake", name=names[0])
        save_mongo(mongo_server.uri, name=names[1], database=names[2])
        return names

    return fresh


def _sync(s3, bucket, shared_raw, work: Path, at: datetime, seed: int, undated=()) -> list[str]:
    """Land one sync of the three real files as Airbyte does; return the objects' keys."""
    keys = []
    for number, (stream, relative) in enumerate(STREAMS.items()):
        path = shared_raw / relative
        records = (
            airbyte.infoclimat_records(path)
            if path.suffix == ".json"
            else airbyte.wunderground_records(
                path, day_column=None if stream in undated else "Date", seed=seed
            )
        )
        local = airbyte.write_object(
            records, work, stream, JSONL_GZ, extracted_at=at, sync_id=seed, seed=seed * 10 + number
        )
        key = f"{AIRBYTE_PREFIX}{local.relative_to(work).as_posix()}"
        s3.put(bucket, key, local.read_bytes())
        keys.append(key)
    return keys


def _run(bucket: str, s3, lake: str, mongo: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "--landing", f"s3://{bucket}/{AIRBYTE_PREFIX}", "--s3-endpoint-url", s3.url,
            "--lake-block", lake, "--mongo-block", mongo, "--latency-iterations", "1"]  # fmt: skip
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), without_progress(err.getvalue())


@pytest.fixture(scope="module")
def synced(s3, shared_raw, target, mongo_server, tmp_path_factory):
    """The first sync loaded, then a second sync of the same data beside it loaded."""
    bucket = s3.new_bucket("landing")
    lake, mongo, database = target()
    first_keys = _sync(s3, bucket, shared_raw, tmp_path_factory.mktemp("sync1"), FIRST_SYNC, 1)
    first = _run(bucket, s3, lake, mongo)
    collection = mongo_server.client()[database]["weather_measurements"]
    lineage = collection.find_one({"station.id": "ILAMAD25"}, sort=[("timestamp", 1)])["metadata"]
    second_keys = _sync(s3, bucket, shared_raw, tmp_path_factory.mktemp("sync2"), SECOND_SYNC, 2)
    second = _run(bucket, s3, lake, mongo)
    return first, second, first_keys, second_keys, station_counts(mongo_server, database), lineage


def test_the_first_sync_loads_the_files_4950_documents(synced):
    (code, out, err), _, keys, _, counts, _ = synced
    assert (code, err) == (0, ""), out
    assert "files: 3 (0 failed, 0 ignored)" in out
    assert "extracted 4950, validated 4950, rejected 0" in out
    assert "inserted 4950, updated 0, unchanged 0, failed 0" in out
    assert counts == REAL_COUNTS
    assert all(re.fullmatch(r"airbyte-sync/\w+/2024_10_08_\d{13}_0\.jsonl\.gz", k) for k in keys)


def test_each_document_names_its_object_record_and_extraction_time(synced):
    *_, first_keys, _, _, lineage = synced
    assert f"{AIRBYTE_PREFIX}{lineage['source_file']}" in first_keys
    assert lineage["source_file"].startswith("la_madeleine/")
    assert re.fullmatch(r"[0-9a-f-]{36}", lineage["record_id"])
    assert lineage["extracted_at"] == FIRST_SYNC
    assert lineage["row"] == 2 and "sheet" not in lineage  # line 1: the sheet's empty record


def test_a_second_sync_of_the_same_data_changes_nothing_and_is_skipped_like_a_rerun(synced):
    _, (code, out, err), first_keys, second_keys, counts, _ = synced
    assert (code, err) == (0, ""), out
    assert set(first_keys).isdisjoint(second_keys)  # new objects: new names, ids and times
    assert "files: 6 (0 failed, 0 ignored)" in out
    assert "inserted 0, updated 0" in out
    assert "ledger: skipped 6 contents already loaded (6 by run" in out
    assert counts == REAL_COUNTS


def test_an_undated_wunderground_stream_fails_alone_saying_what_to_do(
    s3, shared_raw, target, mongo_server, tmp_path
):
    bucket = s3.new_bucket("landing")
    lake, mongo, database = target()
    _sync(s3, bucket, shared_raw, tmp_path, FIRST_SYNC, 1, undated={"la_madeleine"})
    code, out, err = _run(bucket, s3, lake, mongo)
    assert code == 3, out  # partial: the rest loaded
    (failed,) = [line for line in out.splitlines() if line.strip().startswith("FAILED")]
    assert "la_madeleine/2024_10_08_" in failed and "field 'Date'" in failed
    assert "dropped the sheet names" in failed and "add a Date column" in failed
    assert station_counts(mongo_server, database) == {
        k: v for k, v in REAL_COUNTS.items() if k != "ILAMAD25"
    }
    assert "forecast run" not in err  # a partial run has no error line
