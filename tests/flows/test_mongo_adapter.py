"""The MongoDB adapter against a real wire-protocol server on loopback (SecantusDB)."""

from __future__ import annotations

import dataclasses
import time
import traceback
import uuid
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from pymongo import ASCENDING

from forecast import mongo
from forecast.errors import ConfigurationError, TransientError
from forecast.mongo.plan import RunContext, write_plan
from forecast.schema import MEASUREMENT_KEYS, STATIONS, VALIDATED, conform
from tests.support import free_port

FIRST_RUN = RunContext("run-1", datetime(2024, 10, 8, 6, 0, tzinfo=UTC))
SECOND_RUN = RunContext("run-2", datetime(2024, 10, 9, 6, 0, tzinfo=UTC))
INDEXES = ("station_id_timestamp",)
SEED_INDEXES = ("station_id_timestamp", "network_timestamp", "location_geo_2dsphere")


def at(hour: int) -> datetime:
    return datetime(2024, 10, 5, hour, tzinfo=UTC)


def station_table() -> pa.Table:
    row = {f.name: None for f in STATIONS} | {
        "station_id": "07015",
        "name": "Lille-Lesquin",
        "network": "infoclimat",
        "type": "synop",
        "latitude": 50.57,
        "longitude": 3.0975,
        "elevation_m": 47.0,
        "timezone": "Europe/Paris",
        "measurements": ["temperature", "pressure"],
    }
    return conform(pa.Table.from_pylist([row], schema=STATIONS), STATIONS)


def plans(temperatures=(10.0, 11.0, 12.0, 13.0, 14.0), run: RunContext = FIRST_RUN):
    base = dict.fromkeys(MEASUREMENT_KEYS) | {
        "station_id": "07015",
        "source": "infoclimat",
        "source_file": "infoclimat.json",
        "raw_key": "source=infoclimat/ingest_date=2024-10-08/abc-infoclimat.json",
        "raw_sha256": "abc",
        "content_key": "abc",
        "flags": [],
        "parse_errors": [],
        "unit_errors": [],
        "sheet": None,
        "row": None,
        "quality_score": 100.0,
        "quality_rules": [],
        "pressure": 1015.0,
    }
    rows = [
        base | {"timestamp": at(hour), "record_index": hour, "temperature": value}
        for hour, value in enumerate(temperatures)
    ]
    return write_plan(conform(pa.Table.from_pylist(rows), VALIDATED), station_table(), run)


def counts(result: mongo.LoadCounts) -> tuple[int, int, int, int, int]:
    return (result.input, result.inserted, result.updated, result.unchanged, result.failed)


@pytest.fixture
def target(mongo_server) -> mongo.MongoTarget:
    return mongo.MongoTarget(
        mongo_server.uri, database=f"test_{uuid.uuid4().hex[:12]}", batch_size=2
    )


@pytest.fixture
def client(target):
    with mongo.connect(target) as connected:
        yield connected


@pytest.fixture
def collection(client, target):
    return client[target.database][target.collection]


def test_ensure_collections_indexes_the_natural_key_and_the_stations_geometry(
    client, target, collection
):
    created = mongo.ensure_collections(client, target)
    assert created == [*INDEXES, "location_geo_2dsphere", "network"]
    indexes = {index["name"]: index for index in collection.list_indexes()}
    assert set(indexes) == {"_id_", "station_id_timestamp"}
    assert dict(indexes["station_id_timestamp"]["key"]) == {"station.id": 1, "timestamp": 1}
    assert indexes["station_id_timestamp"].get("unique") is True
    stations = client[target.database][target.stations_collection]
    assert {"location_geo_2dsphere", "network"} <= {i["name"] for i in stations.list_indexes()}


def test_the_seeds_network_and_per_measurement_geo_indexes_are_options(client, target, collection):
    seed = dataclasses.replace(target, network_index=True, geo_index=True)
    assert mongo.ensure_collections(client, seed)[:3] == list(SEED_INDEXES)
    indexes = {index["name"]: index for index in collection.list_indexes()}
    assert dict(indexes["network_timestamp"]["key"]) == {"station.network": 1, "timestamp": 1}
    assert not indexes["network_timestamp"].get("unique")
    assert dict(indexes["location_geo_2dsphere"]["key"]) == {"station.location_geo": "2dsphere"}
    # configured away again: they stay (someone may use them) and setup names them
    setup = mongo.prepare(client, target)
    assert setup.extra_indexes == ("location_geo_2dsphere", "network_timestamp")
    assert "kept although not configured" in setup.describe()


def test_ensure_collections_twice_creates_nothing_the_second_time(client, target, collection):
    mongo.ensure_collections(client, target)
    before = sorted(index["name"] for index in collection.list_indexes())
    assert mongo.ensure_collections(client, target) == []
    assert sorted(index["name"] for index in collection.list_indexes()) == before


def test_an_index_of_the_same_name_on_another_key_is_a_configuration_error(
    client, target, collection
):
    collection.create_index([("station.id", ASCENDING)], name="network_timestamp")
    with pytest.raises(ConfigurationError, match="network_timestamp"):
        mongo.ensure_collections(client, dataclasses.replace(target, network_index=True))


def test_load_in_small_batches_inserts_every_planned_document(client, target, collection):
    mongo.ensure_collections(client, target)
    result = mongo.load(client, target, plans())
    assert counts(result) == (5, 5, 0, 0, 0)
    assert collection.count_documents({}) == 5
    stored = mongo.fetch(client, target, ["07015:2024-10-05T04:00:00.000Z"])
    document = stored["07015:2024-10-05T04:00:00.000Z"]
    assert document["measurements"]["temperature"] == {"value": 14.0, "unit": "degC"}
    assert document["timestamp"] == at(4)
    assert document["metadata"]["run_id"] == "run-1"


def test_stored_documents_are_what_the_plan_describes(client, target):
    mongo.ensure_collections(client, target)
    (plan,) = plans()
    mongo.load(client, target, [plan])
    expected = mongo.expected_documents(plan)
    stored = mongo.fetch(client, target, list(expected))
    assert sorted(stored) == sorted(expected) and len(stored) == 5
    for _id, document in expected.items():
        run_fields = (
            stored[_id]["metadata"].pop("run_id"),
            stored[_id]["metadata"].pop("ingested_at"),
        )
        assert run_fields == ("run-1", FIRST_RUN.ingested_at)
        assert {k: v for k, v in stored[_id].items() if k != "_id"} == document


def test_reloading_the_same_plan_changes_nothing(client, target, collection):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    before = list(collection.find(sort=[("_id", 1)]))
    again = mongo.load(client, target, plans(run=SECOND_RUN))
    assert counts(again) == (5, 0, 0, 5, 0)
    assert list(collection.find(sort=[("_id", 1)])) == before


def test_a_changed_value_updates_one_document_and_keeps_its_first_run(client, target):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    changed = mongo.load(client, target, plans((10.0, 11.0, 12.5, 13.0, 14.0), run=SECOND_RUN))
    assert counts(changed) == (5, 0, 1, 4, 0)
    document = mongo.fetch(client, target, ["07015:2024-10-05T02:00:00.000Z"])[
        "07015:2024-10-05T02:00:00.000Z"
    ]
    assert document["measurements"]["temperature"]["value"] == 12.5
    assert document["metadata"]["run_id"] == "run-1"


def test_unique_station_time_index_refuses_a_second_id_and_the_load_reports_it(
    client, target, collection
):
    mongo.ensure_collections(client, target)
    collection.insert_one(
        {
            "_id": "legacy-42",
            "station": {"id": "07015", "network": "infoclimat"},
            "timestamp": at(2),
        }
    )
    result = mongo.load(client, target, plans())
    assert counts(result) == (5, 4, 0, 0, 1)
    ((failed_id, message),) = result.failures
    assert failed_id == "07015:2024-10-05T02:00:00.000Z"
    assert message.startswith("code 11000")
    assert collection.count_documents({"station.id": "07015"}) == 5


def test_connect_to_a_closed_port_is_transient_quick_and_hides_the_password():
    port = free_port()
    target = mongo.MongoTarget(f"mongodb://user:s3cret@127.0.0.1:{port}/")
    started = time.monotonic()
    with pytest.raises(TransientError, match="unreachable") as raised:  # noqa: SIM117
        with mongo.connect(target, timeout_ms=300):
            pytest.fail("connected to a closed port")
    assert time.monotonic() - started < 5
    assert f"mongodb://***@127.0.0.1:{port}/" in str(raised.value)
    assert "s3cret" not in "".join(traceback.format_exception(raised.value))


def test_a_timeout_in_the_uri_wins_over_the_default():
    port = free_port()
    target = mongo.MongoTarget(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=200")
    started = time.monotonic()
    with pytest.raises(TransientError), mongo.connect(target, timeout_ms=60_000):
        pass
    assert time.monotonic() - started < 5


MISTYPED_SCHEME = "mongo://user:s3cret@127.0.0.1:27017/"


def test_a_uri_of_another_scheme_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="invalid MongoDB URI"):  # noqa: SIM117
        with mongo.connect(mongo.MongoTarget(MISTYPED_SCHEME), timeout_ms=300):
            pytest.fail("connected with a mongo:// URI")


def test_the_error_for_a_mistyped_scheme_does_not_show_the_password():
    with pytest.raises(ConfigurationError) as raised:  # noqa: SIM117
        with mongo.connect(mongo.MongoTarget(MISTYPED_SCHEME), timeout_ms=300):
            pytest.fail("connected with a mongo:// URI")
    assert "s3cret" not in str(raised.value)


def test_a_uri_with_a_non_numeric_port_is_a_configuration_error():
    target = mongo.MongoTarget("mongodb://user:s3cret@127.0.0.1:notaport/")
    with pytest.raises(ConfigurationError) as raised:  # noqa: SIM117
        with mongo.connect(target, timeout_ms=300):
            pytest.fail("connected with a non-numeric port")
    assert "s3cret" not in str(raised.value)


UNESCAPED_AT = "mongodb://admin:p@ssw0rd@127.0.0.1:27017/"


def test_redact_hides_all_of_a_password_holding_an_unescaped_at_sign():
    assert "ssw0rd" not in mongo.redact(UNESCAPED_AT)


def test_the_error_for_a_password_with_an_unescaped_at_sign_does_not_show_it():
    target = mongo.MongoTarget(UNESCAPED_AT)
    with pytest.raises(ConfigurationError) as raised:  # noqa: SIM117
        with mongo.connect(target, timeout_ms=300):
            pytest.fail("pymongo accepted an unescaped '@' in the password")
    assert "ssw0rd" not in str(raised.value)


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://user:s3cret@db.example:27017/x", "mongodb://***@db.example:27017/x"),
        ("mongodb+srv://user:p%40ss@cluster.example/", "mongodb+srv://***@cluster.example/"),
        ("mongodb://127.0.0.1:27018/", "mongodb://127.0.0.1:27018/"),
    ],
)
def test_redact_removes_credentials_only(uri, shown):
    assert mongo.redact(uri) == shown


def test_target_repr_and_display_never_show_the_uri_credentials():
    target = mongo.MongoTarget("mongodb://user:s3cret@db.example/", database="d", collection="c")
    assert "s3cret" not in repr(target)
    assert target.display == "mongodb://***@db.example/ d.c"


@pytest.mark.parametrize(("seed", "network_plan", "near_plan"), [
    (False, "IXSCAN station_id_timestamp", "IXSCAN station_id_timestamp"),  # stations first
    (True, "IXSCAN network_timestamp", "IXSCAN location_geo_2dsphere"),
])  # fmt: skip
def test_latency_queries_use_an_index_on_a_loaded_collection(
    client, target, seed, network_plan, near_plan
):
    target = dataclasses.replace(target, network_index=seed, geo_index=seed)
    mongo.prepare(client, target)
    mongo.upsert_stations(client, target, station_table())
    mongo.load(client, target, plans())
    mongo.refresh_gold(client, target, [("07015", date(2024, 10, 5))])
    timings = {q.name: q for q in mongo.measure_latency(client, target, iterations=2)}
    plans_seen = {name: q.plan for name, q in timings.items()}
    assert plans_seen.pop("network_week") == network_plan
    assert plans_seen.pop("near_point") == near_plan
    assert plans_seen == {
        "station_day": "IXSCAN station_id_timestamp",
        "daily_means_month": "IXSCAN station_period",
        "count_station": "IXSCAN station_id_timestamp",
    }
    assert {name: (q.rows, q.matching) for name, q in timings.items()} == {
        "station_day": (5, 5),
        "network_week": (5, 5),
        "near_point": (5, 5),
        "daily_means_month": (1, 1),
        "count_station": (5, 5),
    }
    assert all(1 <= len(q.timings_ms) <= 2 and min(q.timings_ms) > 0 for q in timings.values())


def test_the_latency_report_keeps_to_its_row_cap_and_time_budget(client, target):
    mongo.prepare(client, target)
    mongo.upsert_stations(client, target, station_table())
    mongo.load(client, target, plans())
    mongo.refresh_gold(client, target, [("07015", date(2024, 10, 5))])
    started = time.perf_counter()
    timings = mongo.measure_latency(client, target, 1000, mongo.Budget(total_s=1.0, row_cap=2))
    assert time.perf_counter() - started < 5.0
    by_name = {q.name: q for q in timings}
    assert (by_name["station_day"].rows, by_name["station_day"].matching) == (2, 5)
    assert all(len(q.timings_ms) >= 1 for q in timings)


def test_latency_of_an_empty_collection_is_no_timings(client, target):
    mongo.ensure_collections(client, target)
    assert mongo.measure_latency(client, target, iterations=3) == []


def test_upsert_stations_writes_geojson_points_once(client, target):
    mongo.ensure_collections(client, target)
    assert mongo.upsert_stations(client, target, station_table()) == 1
    assert mongo.upsert_stations(client, target, station_table()) == 0
    stored = client[target.database][target.stations_collection].find_one({"_id": "07015"})
    assert stored["location_geo"] == {"type": "Point", "coordinates": [3.0975, 50.57]}
    assert (stored["name"], stored["network"], stored["measurements"]) == (
        "Lille-Lesquin",
        "infoclimat",
        ["temperature", "pressure"],
    )
    assert "latitude" not in stored and "station_id" not in stored


def test_upsert_of_no_stations_writes_nothing(client, target):
    assert mongo.upsert_stations(client, target, STATIONS.empty_table()) == 0


def test_reconciliation_finds_changed_and_missing_documents_and_skips_refused(client, target):
    mongo.prepare(client, target)
    planned = plans()
    mongo.load(client, target, planned)
    assert mongo.reconcile(client, target, planned) == mongo.Reconciliation(5, 0, 0, ())
    collection = client[target.database][target.collection]
    changed, missing = "07015:2024-10-05T00:00:00.000Z", "07015:2024-10-05T01:00:00.000Z"
    collection.update_one({"_id": changed}, {"$set": {"measurements.temperature.value": -40.0}})
    collection.delete_one({"_id": missing})
    check = mongo.reconcile(client, target, planned)
    assert (check.checked, check.missing, check.different, check.ok) == (5, 1, 1, False)
    assert set(check.examples) == {f"missing {missing}", f"different {changed}"}
    assert mongo.reconcile(client, target, planned, skip=[missing]).missing == 0
    # the insert-only fields belong to the first run and are not compared
    collection.update_many({}, {"$set": {"metadata.run_id": "another"}})
    assert mongo.reconcile(client, target, planned, skip=[missing]).different == 1
