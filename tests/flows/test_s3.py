"""The pipeline against S3 served over HTTP by a moto server on loopback: landing and lake zones."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from blocks.local import save_s3_lake
from flows.cli import main
from flows.pipeline import forecast_pipeline
from forecast.lake.ingest import ingest_file
from forecast.lake.landing import S3Landing
from forecast.lake.store import ZONES, Lake, S3Zone
from forecast.samples import write_demo_landing
from tests.s3_support import AIRBYTE_PREFIX, moto_s3, station_counts
from tests.support import DEMO_COUNTS, without_progress

DEMO_TOTAL = sum(DEMO_COUNTS.values())
DEMO_NAMES = {
    "Data_Source1_demo.json",
    "Weather Underground - La Madeleine, FR.xlsx",
    "Weather+Underground+-+Ichtegem,+BE.xlsx",
}
RAW_KEY = re.compile(
    r"lake/raw/source=(infoclimat|wunderground)/ingest_date=\d{4}-\d{2}-\d{2}/[0-9a-f]{64}(\.\w+)"
)


@pytest.fixture(scope="module")
def s3():
    with moto_s3() as server:
        yield server


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("demo")
    write_demo_landing(directory)
    assert {p.name for p in directory.iterdir()} == DEMO_NAMES
    return directory


@pytest.fixture
def landing(s3, demo_dir):
    """A fresh bucket holding the demo files under the Airbyte prefixes; its s3:// URI."""
    bucket = s3.new_bucket("landing")
    s3.upload_landing(bucket, demo_dir)
    return f"s3://{bucket}/{AIRBYTE_PREFIX}"


@pytest.fixture
def s3_lake(s3):
    """A fresh bucket and a saved lake block whose four zones are s3-bucket blocks in it."""
    bucket, name = s3.new_bucket("lake"), f"s3-lake-{uuid.uuid4().hex[:10]}"
    save_s3_lake(bucket, "lake", s3.credentials(), name=name)
    return bucket, name


def _bucket_of(uri: str) -> str:
    return uri.removeprefix("s3://").split("/")[0]


def _raw_objects(keys: list[str]) -> list[str]:
    return [k for k in keys if RAW_KEY.fullmatch(k)]


def test_s3_landing_with_endpoint_parameter_loads_every_demo_observation(
    s3, landing, stack, mongo_server
):
    status = forecast_pipeline(stack(landing, s3_endpoint_url=s3.url))
    assert status.status == "success"
    assert station_counts(mongo_server, stack.database) == DEMO_COUNTS
    assert status.migration["inserted"] == DEMO_TOTAL
    assert {f.name for f in status.files} == DEMO_NAMES
    assert all(f.landing.startswith(landing) for f in status.files)


def test_s3_landing_honours_the_aws_endpoint_url_environment_variable(
    s3, landing, stack, mongo_server, monkeypatch
):
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.url)
    params = stack(landing)
    assert params.s3_endpoint_url is None and params.aws_block is None
    status = forecast_pipeline(params)
    assert status.status == "success"
    assert station_counts(mongo_server, stack.database) == DEMO_COUNTS


def test_s3_raw_zone_holds_each_content_once_and_a_rerun_copies_nothing(
    s3, landing, s3_lake, stack, mongo_server
):
    bucket, lake_block = s3_lake
    params = stack(landing, s3_endpoint_url=s3.url).model_copy(update={"lake_block": lake_block})

    first = forecast_pipeline(params)
    assert first.status == "success"
    assert station_counts(mongo_server, stack.database) == DEMO_COUNTS
    raw_before = s3.keys(bucket, "lake/raw/")
    markers = [k for k in raw_before if k.startswith("lake/raw/_index/")]
    stored = {json.loads(s3.get(bucket, k))["name"] for k in markers}
    assert len(_raw_objects(raw_before)) == 3 and stored == DEMO_NAMES
    assert sum(k.startswith("lake/raw/_index/sha256=") for k in raw_before) == 3
    processed = [k for k in s3.keys(bucket, "lake/processed/") if k.endswith(".parquet")]
    assert processed
    assert (
        sum(pq.read_metadata(io.BytesIO(s3.get(bucket, k))).num_rows for k in processed)
        == DEMO_TOTAL
    )
    latest = json.loads(s3.get(bucket, "lake/reports/latest/pipeline_status.json"))
    assert (latest["run_id"], latest["status"]) == (first.run_id, "success")

    second = forecast_pipeline(params)
    raw_after = s3.keys(bucket, "lake/raw/")
    new_keys = sorted(set(raw_after) - set(raw_before))
    assert len(new_keys) == 1 and new_keys[0].startswith("lake/raw/_manifests/")
    assert set(raw_before) <= set(raw_after)
    assert [f.ingest_status for f in second.files] == ["already_ingested"] * 3
    assert [f.status for f in second.files] == ["already_loaded"] * 3  # the load ledger
    assert (second.migration["inserted"], second.migration["updated"]) == (0, 0)


def test_s3_conditional_put_never_overwrites_an_existing_object(s3):
    bucket = s3.new_bucket("lake")
    zone = S3Zone(s3.zone_block(bucket, "lake/raw"))
    assert zone.write_new("_index/sha256=abc.json", b"a") is True
    assert zone.write_new("_index/sha256=abc.json", b"b") is False
    assert s3.get(bucket, "lake/raw/_index/sha256=abc.json") == b"a"
    assert zone.exists("_index/sha256=abc.json") and not zone.exists("_index/other.json")


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_ingests_of_one_s3_landing_file_store_it_once(s3, round_):
    landing_bucket, lake_bucket = s3.new_bucket("landing"), s3.new_bucket("lake")
    content = json.dumps({"round": round_, "nonce": uuid.uuid4().hex}).encode()
    s3.put(landing_bucket, f"{AIRBYTE_PREFIX}infoclimat/race.json", content)
    landing = S3Landing(s3.client(), landing_bucket, AIRBYTE_PREFIX)
    (file,), ignored = landing.list()
    assert ignored == []
    lake = Lake({zone: s3.zone_block(lake_bucket, f"lake/{zone}") for zone in ZONES})

    writers = 4
    barrier, results, errors = threading.Barrier(writers), [None] * writers, []
    now = datetime.now(UTC)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = ingest_file(lake, landing, file, run_id=f"run-{i}", now=now)
        except Exception as exc:  # reported below with the thread's index
            errors.append((i, exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.status for r in results) == ["already_ingested"] * (writers - 1) + ["ingested"]
    assert len({r.raw_key for r in results}) == 1
    keys = s3.keys(lake_bucket, "lake/raw/")
    assert len(_raw_objects(keys)) == 1
    assert [k for k in keys if k.startswith("lake/raw/_index/")] == [
        f"lake/raw/_index/sha256={results[0].sha256}.json"
    ]
    assert s3.get(lake_bucket, f"lake/raw/{results[0].raw_key}") == content


def test_a_truncated_s3_file_fails_alone_and_its_raw_bytes_and_manifest_entry_are_kept(
    s3, landing, s3_lake, stack, mongo_server
):
    bucket, lake_block = s3_lake
    broken = b'{"status": "OK", "hourly": '
    s3.put(_bucket_of(landing), f"{AIRBYTE_PREFIX}infoclimat/broken.json", broken)
    params = stack(landing, s3_endpoint_url=s3.url).model_copy(update={"lake_block": lake_block})

    status = forecast_pipeline(params)
    assert status.status == "partial"
    assert [f.name for f in status.files if f.failed] == ["broken.json"]
    assert station_counts(mongo_server, stack.database) == DEMO_COUNTS

    (failed,) = [f for f in status.files if f.failed]
    assert s3.get(bucket, f"lake/raw/{failed.raw_key}") == broken
    (manifest_key,) = s3.keys(bucket, "lake/raw/_manifests/")
    manifest = json.loads(s3.get(bucket, manifest_key))
    assert manifest["run_id"] == status.run_id
    entries = {entry["name"]: entry for entry in manifest["files"]}
    assert set(entries) == DEMO_NAMES | {"broken.json"}
    assert entries["broken.json"]["status"] == "failed"
    assert "broken.json" in entries["broken.json"]["error"]
    assert "not valid JSON" in entries["broken.json"]["error"]
    assert {entries[name]["status"] for name in DEMO_NAMES} == {"parsed"}


def test_cli_run_on_a_missing_bucket_exits_1_naming_the_landing(s3, stack, capsys):
    params = stack("unused")
    missing = f"forecast-missing-{uuid.uuid4().hex[:8]}"
    code = main(
        [
            "run",
            "--landing",
            f"s3://{missing}/{AIRBYTE_PREFIX}",
            "--s3-endpoint-url",
            s3.url,
            "--lake-block",
            params.lake_block,
            "--mongo-block",
            params.mongo_block,
        ]
    )
    err = without_progress(capsys.readouterr().err).strip()
    assert code == 1
    assert len(err.splitlines()) == 1
    assert "ConfigurationError" in err and missing in err and "NoSuchBucket" in err


def test_a_landing_file_duplicating_another_is_stored_once_and_still_in_the_manifest(
    s3, landing, demo_dir, s3_lake, stack, mongo_server
):
    bucket, lake_block = s3_lake
    plus = "Weather+Underground+-+Ichtegem,+BE.xlsx"
    spaced = "Weather Underground - Ichtegem, BE.xlsx"
    s3.put(
        _bucket_of(landing),
        f"{AIRBYTE_PREFIX}wunderground/{spaced}",
        (demo_dir / plus).read_bytes(),
    )
    params = stack(landing, s3_endpoint_url=s3.url).model_copy(update={"lake_block": lake_block})

    status = forecast_pipeline(params)
    assert status.status == "success"
    assert station_counts(mongo_server, stack.database) == DEMO_COUNTS
    assert len(_raw_objects(s3.keys(bucket, "lake/raw/"))) == 3  # the shared content once
    expected = sorted(
        f"{landing}{folder}/{name}"
        for folder, name in [
            ("infoclimat", "Data_Source1_demo.json"),
            ("wunderground", "Weather Underground - La Madeleine, FR.xlsx"),
            ("wunderground", plus),
            ("wunderground", spaced),
        ]
    )
    (manifest_key,) = s3.keys(bucket, "lake/raw/_manifests/")
    manifest = json.loads(s3.get(bucket, manifest_key))
    assert sorted(entry["landing"] for entry in manifest["files"]) == expected
