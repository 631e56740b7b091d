"""The three real files of ../shared/data/raw landed on S3 (a moto server) as Airbyte wrote them,
loaded end to end through the `forecast` CLI."""

from __future__ import annotations

import contextlib
import io
import uuid

import pytest

from blocks.local import save_local_lake, save_mongo
from flows.cli import main
from tests.s3_support import AIRBYTE_PREFIX, moto_s3, station_counts
from tests.support import REAL_COUNTS, without_progress

pytestmark = pytest.mark.realdata

EXPECTED = REAL_COUNTS
REAL_KEYS = [
    "airbyte-sync/infoclimat/Data_Source1_011024-071024.json",
    "airbyte-sync/wunderground/Weather Underground - Ichtegem, BE.xlsx",
    "airbyte-sync/wunderground/Weather Underground - La Madeleine, FR.xlsx",
]
ICHTEGEM = "wunderground/Weather Underground - Ichtegem, BE.xlsx"
ICHTEGEM_PLUS = "airbyte-sync/wunderground/Weather+Underground+-+Ichtegem,+BE.xlsx"


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def blocks(mongo_server, prefect_harness, tmp_path_factory):
    """Return a factory of fresh (lake block, mongo block, database) triples."""

    def fresh() -> tuple[str, str, str]:
        suffix = uuid.uuid4().hex[:10]
        lake, mongo, database = (
            f"s3-real-lake-{suffix}",
            f"s3-real-mongo-{suffix}",
            f"s3_real_{suffix}",
        )
        save_local_lake(tmp_path_factory.mktemp("s3-real") / "lake", name=lake)
        save_mongo(mongo_server.uri, name=mongo, database=database)
        return lake, mongo, database

    return fresh


def _run(landing: str, endpoint: str, lake: str, mongo: str) -> tuple[int, str, str]:
    """Run the CLI once; return its exit code, stdout and stderr (without the progress lines)."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "--landing", landing, "--s3-endpoint-url", endpoint, "--lake-block", lake,
            "--mongo-block", mongo, "--latency-iterations", "2"]  # fmt: skip
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), without_progress(err.getvalue())


@pytest.fixture(scope="module")
def first_run(s3, shared_raw, blocks, station_counts_of):
    """Upload the real files under their real names, then run the CLI on the bucket.

    A rerun from S3 is idempotent like one from a directory: tests/flows/test_s3.py shows it
    on generated files, tests/realdata/test_real_files.py on the real files from a directory.
    """
    bucket = s3.new_bucket("landing")
    files = sorted(p for p in shared_raw.rglob("*") if p.suffix in {".json", ".xlsx"})
    keys = [f"{AIRBYTE_PREFIX}{p.parent.name}/{p.name}" for p in files]
    assert keys == REAL_KEYS
    for path, key in zip(files, keys, strict=True):
        s3.put(bucket, key, path.read_bytes())
    lake, mongo, database = blocks()
    landing = f"s3://{bucket}/{AIRBYTE_PREFIX}"
    return _run(landing, s3.url, lake, mongo), station_counts_of(database)


@pytest.fixture(scope="module")
def station_counts_of(mongo_server):
    return lambda database: station_counts(mongo_server, database)


def test_first_run_from_s3_loads_exactly_4950_documents_per_station(first_run):
    (code, out, err), counts = first_run
    assert (code, err) == (0, "")
    assert "files: 3 (0 failed, 0 ignored)" in out
    assert "extracted 4950, validated 4950, rejected 0" in out
    assert "inserted 4950, updated 0, unchanged 0, failed 0" in out
    assert counts == EXPECTED and sum(counts.values()) == 4950


def test_plus_spelled_ichtegem_workbook_on_s3_loads_as_station_iichte19(
    s3, shared_raw, blocks, station_counts_of
):
    bucket = s3.new_bucket("landing")
    s3.put(bucket, ICHTEGEM_PLUS, (shared_raw / ICHTEGEM).read_bytes())
    lake, mongo, database = blocks()
    code, out, err = _run(f"s3://{bucket}/{AIRBYTE_PREFIX}", s3.url, lake, mongo)
    assert (code, err) == (0, "")
    assert "inserted 1899, updated 0, unchanged 0, failed 0" in out
    assert station_counts_of(database) == {"IICHTE19": 1899}
