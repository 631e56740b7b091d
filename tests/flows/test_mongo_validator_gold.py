"""Validators and gold aggregates against a real wire-protocol server on loopback (SecantusDB)."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest
from pymongo import MongoClient
from pymongo.errors import WriteError

from forecast import mongo
from forecast.errors import TransientError
from forecast.mongo import gold, validator
from forecast.mongo.plan import RunContext, write_plan
from forecast.mongo.schema_check import check_documents
from forecast.schema import MEASUREMENT_KEYS, STATIONS, VALIDATED, conform
from tests.support import free_port

RUN = RunContext("run-1", datetime(2024, 10, 8, 6, 0, tzinfo=UTC))
DAY = date(2024, 10, 5)
NEXT_DAY = date(2024, 10, 6)

STATION_ROWS = {
    "07015": {
        "station_id": "07015",
        "name": "Lille-Lesquin",
        "network": "infoclimat",
        "type": "synop",
        "latitude": 50.57,
        "longitude": 3.0975,
        "elevation_m": 47.0,
        "timezone": "Europe/Paris",
        "license": "CC BY 4.0",
        "measurements": ["temperature", "pressure"],
    },
    "ILAMAD25": {
        "station_id": "ILAMAD25",
        "name": "La Madeleine",
        "network": "wunderground",
        "type": "personal",
        "latitude": 50.659,
        "longitude": 3.07,
        "elevation_m": None,
        "timezone": "Europe/Paris",
        "city": "La Madeleine",
        "country": "FR",
        "measurements": ["temperature", "humidity"],
    },
}
LINEAGE = {
    "07015": {"source": "infoclimat", "source_file": "infoclimat.json", "sheet": None, "row": None},
    "ILAMAD25": {"source": "wunderground", "source_file": "wu.xlsx", "sheet": "051024", "row": 3},
}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def station_table() -> pa.Table:
    rows = [{f.name: None for f in STATIONS} | row for row in STATION_ROWS.values()]
    return conform(pa.Table.from_pylist(rows, schema=STATIONS), STATIONS)


def row(station_id: str, timestamp: datetime, index: int = 0, **values: float | None) -> dict:
    return (
        dict.fromkeys(MEASUREMENT_KEYS)
        | {
            "station_id": station_id,
            "timestamp": timestamp,
            "raw_key": f"source={LINEAGE[station_id]['source']}/ingest_date=2024-10-08/abc-x",
            "raw_sha256": "abc",
            "content_key": "abc",
            "flags": [],
            "parse_errors": [],
            "unit_errors": [],
            "record_index": index if station_id == "07015" else None,
            "quality_score": 100.0,
            "quality_rules": [],
        }
        | LINEAGE[station_id]
        | values
    )


def validated(rows: list[dict]) -> pa.Table:
    return conform(pa.Table.from_pylist(rows), VALIDATED)


# Two stations, two days: 07015 has three temperatures in 10:00-11:00 and one at 11:00.
SOURCE_ROWS = [
    row("07015", at(DAY, 10, 0), 0, temperature=10.0, pressure=1015.0),
    row("07015", at(DAY, 10, 20), 1, temperature=12.0, pressure=1016.0),
    row("07015", at(DAY, 10, 40), 2, temperature=14.0, pressure=1017.0),
    row("07015", at(DAY, 11, 0), 3, temperature=20.0, pressure=1018.0),
    row("07015", at(NEXT_DAY, 0, 0), 4, temperature=5.0, pressure=1010.0),
    row("ILAMAD25", at(DAY, 10, 0), temperature=8.0, humidity=80.0),
    row("ILAMAD25", at(DAY, 10, 30), temperature=None, humidity=90.0),
]


@pytest.fixture
def target(mongo_server) -> mongo.MongoTarget:
    return mongo.MongoTarget(mongo_server.uri, database=f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def client(target):
    with mongo.connect(target) as connected:
        yield connected


@pytest.fixture
def database(client, target):
    return client[target.database]


def load(client, target, rows: list[dict]) -> mongo.LoadCounts:
    return mongo.load(client, target, write_plan(validated(rows), station_table(), RUN))


def stored_document(client, target) -> dict:
    """A document exactly as the real code path stores it (the base of the refusal cases)."""
    load(client, target, SOURCE_ROWS[:1])
    document = client[target.database][target.collection].find_one({})
    client[target.database][target.collection].delete_many({})
    return document


# --- (a) apply_validator is idempotent ---


def test_apply_validator_creates_then_leaves_unchanged_then_updates(database):
    spec = validator.measurement_schema()
    assert validator.apply_validator(database, "weather_measurements", spec) == "created"
    assert validator.apply_validator(database, "weather_measurements", spec) == "unchanged"
    (info,) = database.list_collections(filter={"name": "weather_measurements"})
    assert info["options"]["validator"] == {"$jsonSchema": spec}
    assert (info["options"]["validationLevel"], info["options"]["validationAction"]) == (
        "strict",
        "error",
    )
    changed = copy.deepcopy(spec)
    changed["properties"]["measurements"]["properties"]["temperature"]["properties"]["unit"][
        "enum"
    ] = ["degF"]
    assert validator.apply_validator(database, "weather_measurements", changed) == "updated"
    assert validator.apply_validator(database, "weather_measurements", changed) == "unchanged"
    level = validator.apply_validator(database, "weather_measurements", changed, level="moderate")
    assert level == "updated"
    (info,) = database.list_collections(filter={"name": "weather_measurements"})
    assert info["options"]["validator"] == {"$jsonSchema": changed}
    assert info["options"]["validationLevel"] == "moderate"


def test_apply_validator_to_a_collection_created_by_the_index_setup_updates_it(client, target):
    mongo.ensure_collections(client, target)
    outcome = validator.apply_validators(client, target)
    assert outcome == {"weather_measurements": "updated", "stations": "updated"}
    assert validator.apply_validators(client, target) == {
        "weather_measurements": "unchanged",
        "stations": "unchanged",
    }


def test_apply_validator_on_an_unreachable_server_is_transient_and_hides_the_password():
    uri = f"mongodb://user:s3cret@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200"
    unreachable = MongoClient(uri)
    try:
        with pytest.raises(TransientError, match="validator") as raised:
            validator.apply_validator(unreachable["db"], "c", validator.station_schema(), uri=uri)
    finally:
        unreachable.close()
    assert "s3cret" not in str(raised.value)


def test_refresh_on_an_unreachable_server_is_transient_and_hides_the_password():
    uri = f"mongodb://user:s3cret@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200"
    unreachable = MongoClient(uri)
    try:
        with pytest.raises(TransientError, match="gold") as raised:
            gold.refresh(unreachable, mongo.MongoTarget(uri), [("07015", DAY)])
    finally:
        unreachable.close()
    assert "s3cret" not in str(raised.value)


# --- (b) documents of the real code path are accepted ---


def test_documents_written_by_the_real_code_path_pass_the_validators(client, target):
    mongo.ensure_collections(client, target)
    assert validator.apply_validators(client, target) == {
        "weather_measurements": "updated",
        "stations": "updated",
    }
    assert mongo.upsert_stations(client, target, station_table()) == 2
    result = load(client, target, SOURCE_ROWS)
    assert (result.input, result.inserted, result.failed, result.failures) == (7, 7, 0, [])
    again = load(
        client, target, [*SOURCE_ROWS[:-1], row("ILAMAD25", at(DAY, 10, 30), humidity=91.0)]
    )
    assert (again.updated, again.unchanged, again.failed) == (1, 6, 0)
    assert client[target.database][target.collection].count_documents({}) == 7


# --- (c) documents violating the validator are refused by the server ---


def _without(document: dict, path: str) -> dict:
    *parents, leaf = path.split(".")
    target = document
    for parent in parents:
        target = target[parent]
    del target[leaf]
    return document


def _with(document: dict, path: str, value: object) -> dict:
    *parents, leaf = path.split(".")
    target = document
    for parent in parents:
        target = target[parent]
    target[leaf] = value
    return document


REFUSED = {
    "value as a string": lambda d: _with(d, "measurements.temperature.value", "10.0"),
    "value as an int": lambda d: _with(d, "measurements.temperature.value", 10),
    "unknown measurement key": lambda d: _with(
        d, "measurements.ozone", {"value": 1.0, "unit": "ppb"}
    ),
    "wrong unit": lambda d: _with(d, "measurements.temperature.unit", "degF"),
    "extra field in a measurement": lambda d: _with(d, "measurements.temperature.qc", 1),
    "missing unit": lambda d: _without(d, "measurements.temperature.unit"),
    "missing station": lambda d: _without(d, "station"),
    "missing station id": lambda d: _without(d, "station.id"),
    "missing location": lambda d: _without(d, "station.location_geo"),
    "one coordinate": lambda d: _with(d, "station.location_geo.coordinates", [3.0]),
    "unknown network": lambda d: _with(d, "station.network", "metar"),
    "timestamp as a string": lambda d: _with(d, "timestamp", "2024-10-05T10:00:00Z"),
    "score above 100": lambda d: _with(d, "data_quality.score", 101.0),
    "rules not strings": lambda d: _with(d, "data_quality.rules", [1]),
    "schema version as a string": lambda d: _with(d, "metadata.schema_version", "1"),
    "missing run id": lambda d: _without(d, "metadata.run_id"),
    "missing metadata": lambda d: _without(d, "metadata"),
    "id without milliseconds": lambda d: _with(d, "_id", "07015:2024-10-05T10:00:00Z"),
}


def test_the_unmodified_document_is_accepted(client, target):
    document = stored_document(client, target)
    validator.apply_validators(client, target)
    client[target.database][target.collection].insert_one(document)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_document_violating_the_validator_is_refused(client, target, case):
    document = REFUSED[case](stored_document(client, target))
    validator.apply_validators(client, target)
    with pytest.raises(WriteError, match="Document failed validation") as raised:
        client[target.database][target.collection].insert_one(document)
    assert raised.value.code == 121


def test_the_loaders_own_check_accepts_the_stored_document(client, target):
    document = stored_document(client, target)
    assert check_documents(validator.measurement_schema(), pa.array([document])).count == 0


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_loaders_own_check_refuses_what_the_server_refuses(client, target, case):
    document = REFUSED[case](stored_document(client, target))
    verdict = check_documents(validator.measurement_schema(), pa.array([document]))
    assert verdict.count == 1, verdict.reasons


def test_a_load_of_a_refused_update_reports_it_as_failed(client, target):
    mongo.ensure_collections(client, target)
    load(client, target, SOURCE_ROWS[:2])
    spec = validator.measurement_schema()
    spec["properties"]["data_quality"]["properties"]["score"]["maximum"] = 50
    validator.apply_validator(client[target.database], target.collection, spec)
    changed = row("07015", at(DAY, 10, 0), 0, temperature=10.5, pressure=1015.0)
    result = load(client, target, [changed, SOURCE_ROWS[1], SOURCE_ROWS[2]])
    # The changed and the new document are refused; an unchanged one is not rewritten at all.
    assert (result.input, result.unchanged, result.failed) == (3, 1, 2)
    assert all(message.startswith("code 121") for _, message in result.failures)


STATION_REFUSED = {
    "missing timezone": lambda d: _without(d, "timezone"),
    "unknown measurement": lambda d: _with(d, "measurements", ["temperature", "ozone"]),
    "elevation as a string": lambda d: _with(d, "elevation_m", "47 m"),
    "unknown network": lambda d: _with(d, "network", "metar"),
    "missing location": lambda d: _without(d, "location_geo"),
}


@pytest.mark.parametrize("case", sorted(STATION_REFUSED))
def test_a_station_violating_the_station_validator_is_refused(client, target, case):
    validator.apply_validators(client, target)
    assert mongo.upsert_stations(client, target, station_table()) == 2
    stations = client[target.database][target.stations_collection]
    broken = STATION_REFUSED[case](stations.find_one({"_id": "07015"}))
    broken["_id"] = "07015-copy"
    with pytest.raises(WriteError, match="Document failed validation"):
        stations.insert_one(broken)


def test_a_station_with_a_null_optional_field_and_an_extra_field_is_accepted(client, target):
    validator.apply_validators(client, target)
    mongo.upsert_stations(client, target, station_table())
    stations = client[target.database][target.stations_collection]
    copied = stations.find_one({"_id": "ILAMAD25"}) | {"_id": "copy", "owner": "someone"}
    assert copied["elevation_m"] is None and copied["license"] is None
    stations.insert_one(copied)


# --- (d) gold aggregates ---


def gold_docs(database, name: str) -> dict[str, dict]:
    return {doc["_id"]: doc for doc in database[name].find()}


def without_stamp(documents: dict[str, dict]) -> dict[str, dict]:
    return {k: {f: v for f, v in d.items() if f != "updated_at"} for k, d in documents.items()}


def untouched(documents: dict[str, dict]) -> dict[str, dict]:
    """The gold documents of every station-day except 07015 on 2024-10-05."""
    return {key: doc for key, doc in documents.items() if not key.startswith("07015:2024-10-05T")}


def summaries(document: dict) -> dict[str, tuple]:
    """{measurement: (min, max, mean, count)} of one gold document."""
    return {
        key: (m["min"], m["max"], m["mean"], m["count"])
        for key, m in document["measurements"].items()
    }


@pytest.fixture
def loaded(client, target, database):
    mongo.ensure_collections(client, target)
    validator.apply_validators(client, target)
    assert load(client, target, SOURCE_ROWS).failed == 0
    return database


def test_gold_hourly_and_daily_aggregates_are_exact(client, target, loaded):
    days = gold.touched_days(validated(SOURCE_ROWS))
    assert days == [("07015", DAY), ("07015", NEXT_DAY), ("ILAMAD25", DAY)]
    counts = gold.refresh(client, target, days)
    assert counts == gold.GoldCounts(
        days=3, hourly_documents=4, daily_documents=3, rewritten_days=3
    )
    hourly = gold_docs(loaded, gold.HOURLY_COLLECTION)
    assert {k: summaries(d) for k, d in hourly.items()} == {
        "07015:2024-10-05T10:00:00Z": {"temperature": (10.0, 14.0, 12.0, 3), "pressure": (1015.0, 1017.0, 1016.0, 3)},
        "07015:2024-10-05T11:00:00Z": {"temperature": (20.0, 20.0, 20.0, 1), "pressure": (1018.0, 1018.0, 1018.0, 1)},
        "07015:2024-10-06T00:00:00Z": {"temperature": (5.0, 5.0, 5.0, 1), "pressure": (1010.0, 1010.0, 1010.0, 1)},
        # the null temperature is not counted
        "ILAMAD25:2024-10-05T10:00:00Z": {"temperature": (8.0, 8.0, 8.0, 1), "humidity": (80.0, 90.0, 85.0, 2)},
    }  # fmt: skip
    first = hourly["07015:2024-10-05T10:00:00Z"]
    assert {k: v for k, v in first.items() if k not in ("updated_at", "measurements")} == {
        "_id": "07015:2024-10-05T10:00:00Z",
        "station_id": "07015",
        "network": "infoclimat",
        "period": "hour",
        "period_start": at(DAY, 10),
        "documents": 3,
    }
    assert first["measurements"]["temperature"]["unit"] == "degC"
    assert isinstance(first["updated_at"], datetime)
    daily = gold_docs(loaded, gold.DAILY_COLLECTION)
    assert {k: summaries(d) for k, d in daily.items()} == {
        "07015:2024-10-05T00:00:00Z": {"temperature": (10.0, 20.0, 14.0, 4), "pressure": (1015.0, 1018.0, 1016.5, 4)},
        "07015:2024-10-06T00:00:00Z": {"temperature": (5.0, 5.0, 5.0, 1), "pressure": (1010.0, 1010.0, 1010.0, 1)},
        "ILAMAD25:2024-10-05T00:00:00Z": {"temperature": (8.0, 8.0, 8.0, 1), "humidity": (80.0, 90.0, 85.0, 2)},
    }  # fmt: skip
    madeleine = daily["ILAMAD25:2024-10-05T00:00:00Z"]
    assert (madeleine["period"], madeleine["period_start"], madeleine["network"]) == (
        "day", at(DAY, 0), "wunderground",
    )  # fmt: skip
    assert madeleine["measurements"]["humidity"]["unit"] == "%"
    assert madeleine["source"]["documents"] == madeleine["documents"] == 2


def test_a_second_refresh_of_unchanged_days_rewrites_nothing(client, target, loaded):
    days = gold.touched_days(validated(SOURCE_ROWS))
    gold.refresh(client, target, days)
    before = {
        name: gold_docs(loaded, name) for name in (gold.HOURLY_COLLECTION, gold.DAILY_COLLECTION)
    }
    assert gold.refresh(client, target, days) == gold.GoldCounts(3, 4, 3, rewritten_days=0)
    for name, documents in before.items():
        assert gold_docs(loaded, name) == documents  # updated_at included: not rewritten


def test_refreshing_a_changed_day_recomputes_it_exactly_and_leaves_other_days(
    client, target, loaded
):
    gold.refresh(client, target, gold.touched_days(validated(SOURCE_ROWS)))
    before = {
        name: gold_docs(loaded, name) for name in (gold.HOURLY_COLLECTION, gold.DAILY_COLLECTION)
    }
    measurements = loaded[target.collection]
    measurements.delete_one({"_id": "07015:2024-10-05T11:00:00.000Z"})
    assert (
        load(
            client, target, [row("07015", at(DAY, 10, 20), 1, temperature=13.0, pressure=1016.0)]
        ).updated
        == 1
    )

    counts = gold.refresh(client, target, [("07015", DAY)])
    assert counts == gold.GoldCounts(
        days=1, hourly_documents=1, daily_documents=1, rewritten_days=1
    )
    hourly = gold_docs(loaded, gold.HOURLY_COLLECTION)
    daily = gold_docs(loaded, gold.DAILY_COLLECTION)
    assert "07015:2024-10-05T11:00:00Z" not in hourly
    assert summaries(hourly["07015:2024-10-05T10:00:00Z"])["temperature"] == (10.0, 14.0, 37 / 3, 3)
    assert summaries(daily["07015:2024-10-05T00:00:00Z"]) == {
        "temperature": (10.0, 14.0, 37 / 3, 3), "pressure": (1015.0, 1017.0, 1016.0, 3),
    }  # fmt: skip
    for name, after in ((gold.HOURLY_COLLECTION, hourly), (gold.DAILY_COLLECTION, daily)):
        assert untouched(after) == untouched(before[name])  # updated_at included
        assert len(untouched(after)) == 2


def test_a_station_day_without_data_left_loses_its_gold_documents(client, target, loaded):
    gold.refresh(client, target, gold.touched_days(validated(SOURCE_ROWS)))
    loaded[target.collection].delete_many({"station.id": "ILAMAD25"})
    assert gold.refresh(client, target, [("ILAMAD25", DAY)]) == gold.GoldCounts(1, 0, 0, 1)
    for name, kept in ((gold.HOURLY_COLLECTION, 3), (gold.DAILY_COLLECTION, 2)):
        assert loaded[name].count_documents({"station_id": "ILAMAD25"}) == 0
        assert loaded[name].count_documents({"station_id": "07015"}) == kept


def test_refresh_of_no_station_days_only_creates_the_indexes(client, target, database):
    assert gold.refresh(client, target, []) == gold.GoldCounts(0, 0, 0)
    indexes = {index["name"]: index for index in database[gold.DAILY_COLLECTION].list_indexes()}
    assert dict(indexes["station_period"]["key"]) == {"station_id": 1, "period_start": 1}
    assert indexes["station_period"]["unique"] is True
    assert dict(indexes["period_start"]["key"]) == {"period_start": 1}
    (view,) = database.list_collections(filter={"name": gold.HOURLY_COLLECTION})
    assert (view["type"], view["options"]["viewOn"]) == ("view", gold.DAILY_COLLECTION)
    assert gold.ensure_gold_collections(client, target) == []


def test_a_gold_collection_of_the_former_layout_is_emptied_of_it_and_rebuilt(
    client, target, loaded
):
    legacy = loaded[gold.DAILY_COLLECTION]
    legacy.create_index([("station_id", 1), ("measurement", 1), ("period_start", 1)],
                        unique=True, name=gold.LEGACY_INDEX)  # fmt: skip
    legacy.insert_one({"_id": "07015:temperature:2024-10-05T00:00:00Z", "station_id": "07015",
                       "measurement": "temperature", "period_start": at(DAY, 0)})  # fmt: skip
    loaded[gold.HOURLY_COLLECTION].insert_one({"_id": "07015:temperature:2024-10-05T10:00:00Z"})
    gold.refresh(client, target, gold.touched_days(validated(SOURCE_ROWS)))
    assert gold.LEGACY_INDEX not in {i["name"] for i in legacy.list_indexes()}
    assert legacy.count_documents({"measurement": {"$exists": True}}) == 0
    assert legacy.count_documents({}) == 3
    (hourly,) = loaded.list_collections(filter={"name": gold.HOURLY_COLLECTION})
    assert hourly["type"] == "view" and loaded[gold.HOURLY_COLLECTION].count_documents({}) == 4


def test_a_refresh_interrupted_before_the_daily_document_is_redone(client, target, loaded):
    days = gold.touched_days(validated(SOURCE_ROWS))
    gold.refresh(client, target, days)
    loaded[gold.DAILY_COLLECTION].delete_one({"_id": "07015:2024-10-05T00:00:00Z"})
    assert gold.refresh(client, target, days).rewritten_days == 1
    assert loaded[gold.DAILY_COLLECTION].count_documents({}) == 3
    assert loaded[gold.HOURLY_COLLECTION].count_documents({}) == 4


def test_refresh_of_days_given_twice_counts_them_once(client, target, loaded):
    days = gold.touched_days(validated(SOURCE_ROWS))
    assert gold.refresh(client, target, [*days, *reversed(days)]) == gold.GoldCounts(3, 4, 3, 3)


# --- (e) the daily query uses an index ---


def _stages(plan: dict) -> list[str]:
    found = [f"{plan.get('stage')} {plan.get('indexName', '')}".strip()]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += _stages(plan[key])
    for child in plan.get("inputStages", []):
        found += _stages(child)
    return found


def test_the_daily_range_query_uses_the_gold_index(client, target, loaded):
    gold.refresh(client, target, gold.touched_days(validated(SOURCE_ROWS)))
    query = {
        "station_id": "07015",
        "period_start": {"$gte": at(DAY, 0), "$lt": at(DAY, 0) + timedelta(days=2)},
    }
    daily = loaded[gold.DAILY_COLLECTION]
    assert [d["_id"] for d in daily.find(query).sort("period_start", 1)] == [
        "07015:2024-10-05T00:00:00Z",
        "07015:2024-10-06T00:00:00Z",
    ]
    stages = _stages(daily.find(query).explain()["queryPlanner"]["winningPlan"])
    assert "IXSCAN station_period" in stages
