"""CRUD probe and query latency against a real wire-protocol server on loopback (SecantusDB)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pymongo import ASCENDING

from flows.cli import main
from forecast import mongo
from forecast.errors import ConfigurationError
from forecast.mongo.latency import (
    STANDARD_QUERIES,
    command_timer,
    measure_latency,
    measuring_client,
)
from forecast.mongo.plan import RunContext, write_plan
from forecast.mongo.probe import PROBE_COLLECTION, crud_check
from forecast.schema import MEASUREMENT_KEYS, STATIONS, VALIDATED, conform
from tests.support import free_port

RUN = RunContext("run-1", datetime(2024, 10, 8, 6, 0, tzinfo=UTC))
FIRST = datetime(2024, 9, 27, tzinfo=UTC)
LATEST = datetime(2024, 10, 5, 22, tzinfo=UTC)  # one observation of 07015 after all others
EVERY_3H = [FIRST + timedelta(hours=3 * i) for i in range(72)]  # 2024-09-27 .. 2024-10-05 21:00
STATIONS_AT = {  # id: (network, latitude, longitude)
    "07015": ("infoclimat", 50.57, 3.0975),  # Lille-Lesquin, the sample station
    "ILILLE2": ("wunderground", 50.63, 3.06),  # 7 km away: inside the 25 km of $near
    "07149": ("infoclimat", 48.7167, 2.3844),  # Paris-Orly: same network, 200 km away
}
GOLD_INDEX = "station_period"


def station_table() -> pa.Table:
    rows = [
        {f.name: None for f in STATIONS}
        | {"station_id": sid, "name": sid, "network": network, "type": "synop",
           "latitude": lat, "longitude": lon, "elevation_m": 47.0, "timezone": "Europe/Paris",
           "measurements": ["temperature"]}
        for sid, (network, lat, lon) in STATIONS_AT.items()
    ]  # fmt: skip
    return conform(pa.Table.from_pylist(rows, schema=STATIONS), STATIONS)


def observations() -> list[tuple[str, datetime]]:
    """(station, time) of every stored observation: 72 per station, 07015 one more (LATEST)."""
    return [(sid, at) for sid in STATIONS_AT for at in EVERY_3H] + [("07015", LATEST)]


def plans():
    base = dict.fromkeys(MEASUREMENT_KEYS) | {
        "source": "infoclimat", "source_file": "f.json", "raw_key": "raw/f.json",
        "raw_sha256": "abc", "content_key": "abc", "flags": [], "parse_errors": [], "unit_errors": [], "sheet": None,
        "row": None, "quality_score": 100.0, "quality_rules": [], "temperature": 12.5,
    }  # fmt: skip
    rows = [
        base | {"station_id": sid, "timestamp": at, "record_index": i}
        for i, (sid, at) in enumerate(observations())
    ]
    return write_plan(conform(pa.Table.from_pylist(rows), VALIDATED), station_table(), RUN)


@pytest.fixture
def target(mongo_server) -> mongo.MongoTarget:
    return mongo.MongoTarget(mongo_server.uri, database=f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def client(target):
    with mongo.connect(target) as connected:
        yield connected


@pytest.fixture
def loaded(client, target):
    """The target as a run leaves it: stations, observations and their gold documents."""
    mongo.prepare(client, target)
    result = mongo.run_stage(client, target, plans(), station_table())
    assert result.reconciliation.ok and result.gold.days == len(
        {(s, t.date()) for s, t in observations()}
    )
    return target


def expected_rows() -> dict[str, int]:
    """Rows of each standard query, counted from the generated data (not by the server)."""
    day = LATEST.date()
    times = [at for sid, at in observations() if sid == "07015"]
    week = [
        at
        for sid, at in observations()
        if STATIONS_AT[sid][0] == "infoclimat" and day - timedelta(days=6) <= at.date() <= day
    ]
    near = [at for sid, at in observations() if sid in ("07015", "ILILLE2") and at.date() == day]
    october = {at.date() for at in times if at.month == 10}
    return {
        "station_day": sum(at.date() == day for at in times),
        "network_week": len(week),
        "near_point": len(near),
        "daily_means_month": len(october),
        "count_station": sum(at.date() > day - timedelta(days=7) for at in times),
    }


# -- CRUD probe ------------------------------------------------------------------------------


def test_crud_check_runs_four_timed_steps_and_leaves_nothing_behind(client, target):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    database = client[target.database]
    before = list(database[target.collection].find(sort=[("_id", 1)]))
    indexes = sorted(i["name"] for i in database[target.collection].list_indexes())

    report = crud_check(client, target)

    assert [(s.name, s.result) for s in report.steps] == [
        ("create", "ok"), ("read", "ok"), ("update", "ok"), ("delete", "ok"),
    ]  # fmt: skip
    assert report.ok and all(step.ms > 0 for step in report.steps)
    assert report.dropped and PROBE_COLLECTION not in database.list_collection_names()
    assert list(database[target.collection].find(sort=[("_id", 1)])) == before
    assert sorted(i["name"] for i in database[target.collection].list_indexes()) == indexes
    document = report.to_dict()
    assert document["ok"] is True and [row["step"] for row in document["steps"]] == [
        "create", "read", "update", "delete",
    ]  # fmt: skip
    json.dumps(document)


def test_a_failed_create_is_reported_later_steps_skipped_and_the_delete_still_tried(client, target):
    scratch = client[target.database]["probe_scratch"]
    scratch.create_index([("value", ASCENDING)], unique=True)
    scratch.insert_one({"_id": "someone-else", "value": 21.5})  # the probe's value: duplicate key

    report = crud_check(client, target, collection="probe_scratch")

    assert not report.ok
    assert [(s.name, s.result) for s in report.steps] == [
        ("create", "failed"), ("read", "skipped"), ("update", "skipped"), ("delete", "ok"),
    ]  # fmt: skip
    assert "DuplicateKeyError" in report.steps[0].detail
    assert not report.dropped and scratch.count_documents({}) == 1  # not ours: kept


def test_crud_check_refuses_the_measurement_collection(client, target):
    with pytest.raises(ConfigurationError, match="scratch collection"):
        crud_check(client, target, collection=target.collection)


def test_cli_crud_check_prints_the_steps_and_exits_0(target, capsys):
    code = main(["crud-check", "--mongo-uri", target.uri, "--database", target.database])
    out = capsys.readouterr().out
    assert code == 0
    assert all(step in out for step in ("create", "read", "update", "delete"))
    assert "all steps ok" in out


def test_cli_crud_check_json(target, capsys):
    code = main(["crud-check", "--mongo-uri", target.uri, "--database", target.database, "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["ok"] is True and document["database"] == target.database


def test_cli_crud_check_of_an_unreachable_server_fails_in_one_line_without_the_password(
    capsys, monkeypatch
):
    uri = f"mongodb://u:hunter2@127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=200"
    monkeypatch.setenv("FORECAST_MONGO_URI", uri)
    code = main(["crud-check"])
    out, err = capsys.readouterr()
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and "unreachable" in err and "***" in err
    assert "hunter2" not in out + err


# -- latency ---------------------------------------------------------------------------------


def test_the_five_standard_queries_are_timed_by_the_server_and_use_an_index(loaded):
    with measuring_client(loaded) as client:
        timings = measure_latency(client, loaded, iterations=3)

    assert [q.name for q in timings] == list(STANDARD_QUERIES)
    assert {q.name: q.rows for q in timings} == expected_rows()
    assert {q.name: q.matching for q in timings} == expected_rows()  # gold counts agree
    assert all(1 <= len(q.timings_ms) <= 3 and min(q.timings_ms) > 0 for q in timings)
    for query in timings:
        assert query.uses_index and "IXSCAN" in query.plan, (query.name, query.plan)
    plans_by_name = {q.name: q.plan for q in timings}
    assert plans_by_name["daily_means_month"] == f"IXSCAN {GOLD_INDEX}"
    assert plans_by_name["count_station"] == "IXSCAN station_id_timestamp"


def test_a_getmore_is_timed_with_the_find_that_opened_its_cursor(loaded):
    with measuring_client(loaded) as client:
        timer = command_timer(client)
        assert timer is not None
        collection = client[loaded.database][loaded.collection]
        rows, ms = timer.time(lambda: len(list(collection.find({}, batch_size=50))))
    ((operation,),) = [list(timer.operations.values())]
    assert rows == len(observations()) and operation.commands[0] == "find"
    assert operation.commands.count("getMore") >= 4 and ms == operation.micros / 1000


def test_a_client_without_a_timer_is_replaced_by_a_measuring_client(loaded, client):
    assert command_timer(client) is None
    timings = measure_latency(client, loaded, iterations=1)
    assert len(timings) == 5 and all(q.timings_ms[0] > 0 for q in timings)


def test_without_the_gold_collection_the_daily_query_is_left_out(client, target):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    timings = measure_latency(client, target, iterations=1)
    assert [q.name for q in timings] == [n for n in STANDARD_QUERIES if n != "daily_means_month"]


def test_cli_latency_names_the_query_it_could_not_measure(client, target, capsys):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    assert main(["latency", "--mongo-uri", target.uri, "--database", target.database]) == 0
    assert "daily_means_month: not measured" in capsys.readouterr().out


def test_an_empty_gold_collection_is_measured_with_zero_rows_on_its_index(client, target):
    mongo.ensure_collections(client, target)
    mongo.load(client, target, plans())
    mongo.ensure_gold_collections(client, target)
    daily = {q.name: q for q in measure_latency(client, target, iterations=1)}["daily_means_month"]
    assert (daily.rows, daily.plan) == (0, f"IXSCAN {GOLD_INDEX}")


def test_cli_latency_prints_the_table_of_the_five_queries(loaded, capsys):
    code = main(
        ["latency", "--iterations", "2", "--mongo-uri", loaded.uri, "--database", loaded.database]
    )
    out = capsys.readouterr().out
    assert code == 0
    table = out.split("\n  ")[0]  # the descriptions follow the table
    assert all(name in table for name in STANDARD_QUERIES)
    assert "p95_ms" in table and "IXSCAN" in table


def test_cli_latency_json_keeps_raw_timings(loaded, capsys):
    args = [
        "latency",
        "--iterations",
        "2",
        "--mongo-uri",
        loaded.uri,
        "--database",
        loaded.database,
    ]
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [q["query"] for q in document["queries"]] == list(STANDARD_QUERIES)
    assert all(len(q["timings_ms"]) == 2 and q["uses_index"] for q in document["queries"])


def test_cli_latency_of_an_empty_collection_says_so_and_exits_1(target, capsys):
    code = main(["latency", "--mongo-uri", target.uri, "--database", target.database])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "holds no observations" in err


def test_cli_latency_refuses_zero_iterations(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["latency", "--iterations", "0"])
    assert raised.value.code == 2 and "at least 1" in capsys.readouterr().err
