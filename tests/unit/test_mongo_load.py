"""The loader without a server: classification, encoding, batches, per-batch retry, refusals."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import bson
import numpy as np
import pyarrow as pa
import pytest
from bson.codec_options import CodecOptions
from pymongo.errors import AutoReconnect, BulkWriteError, OperationFailure
from pymongo.results import BulkWriteResult

from forecast.errors import ConfigurationError, ServerError, TransientError
from forecast.mongo import MongoTarget
from forecast.mongo.load import batch_bounds, classify, encode_inserts, load
from forecast.mongo.plan import RunContext, write_plan
from forecast.mongo.validator import measurement_schema
from forecast.schema import MEASUREMENT_KEYS, STATIONS, VALIDATED, conform

load_module = importlib.import_module("forecast.mongo.load")  # the package exports load()
T0 = datetime(2024, 10, 5, tzinfo=UTC)
RUN = RunContext("run-1", T0)
TZ = CodecOptions(tz_aware=True)


def plan(count: int = 5, offset: float = 0.0):
    station = {f.name: None for f in STATIONS} | {
        "station_id": "07015", "name": "Lille-Lesquin", "network": "infoclimat", "type": "synop",
        "latitude": 50.575, "longitude": 3.092, "timezone": "Europe/Paris",
        "measurements": ["temperature"],
    }  # fmt: skip
    rows = [
        dict.fromkeys(MEASUREMENT_KEYS) | {
            "station_id": "07015", "timestamp": T0 + timedelta(hours=i), "temperature": 10.0 + i + offset,
            "source": "infoclimat", "source_file": "f.json", "raw_key": "k", "raw_sha256": "s", "content_key": "s",
            "flags": [], "parse_errors": [], "unit_errors": [], "record_index": i,
            "quality_score": 100.0, "quality_rules": [],
        }
        for i in range(count)
    ]  # fmt: skip
    table = conform(pa.Table.from_pylist(rows), VALIDATED)
    stations = conform(pa.Table.from_pylist([station], schema=STATIONS), STATIONS)
    (only,) = write_plan(table, stations, RUN)
    return only


def stored(ids=(), digests=()) -> pa.Table:
    return pa.table(
        {"_id": pa.array(list(ids), pa.string()), "digest": pa.array(list(digests), pa.int64())}
    )


class FakeCollection:
    """Plays back scripted outcomes for insert_many / bulk_write and records what was sent."""

    def __init__(self, *outcomes, written_by_this_run: int | None = None):
        self.outcomes = list(outcomes)
        self.calls: list[tuple[str, list, bool]] = []
        self.written_by_this_run = written_by_this_run  # None: every document asked about

    def count_documents(self, query):
        self.calls.append(("count", [query], False))
        ids = query["_id"]["$in"]
        return len(ids) if self.written_by_this_run is None else self.written_by_this_run

    def with_options(self, **_):
        return self

    def _next(self, kind, payload, bypass):
        self.calls.append((kind, payload, bypass))
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def insert_many(self, documents, ordered, bypass_document_validation):
        assert ordered is False
        self._next("insert", documents, bypass_document_validation)

    def bulk_write(self, ops, ordered, bypass_document_validation):
        assert ordered is False
        outcome = self._next("update", ops, bypass_document_validation)
        if isinstance(outcome, dict):
            return BulkWriteResult(outcome, True)
        return BulkWriteResult(
            {"nUpserted": 0, "nMatched": len(ops), "nModified": len(ops), "upserted": []}, True
        )


class FakeDatabase(dict):
    """One collection, whose validator is ``schema`` (None: no validator)."""

    def __init__(self, collection, schema):
        super().__init__({"weather_measurements": collection})
        self.schema = schema

    def list_collections(self, filter):
        options = {"validator": {"$jsonSchema": self.schema}} if self.schema else {}
        return [{"name": filter["name"], "options": options}]


class FakeClient(dict):
    def __init__(self, collection, schema=None):
        super().__init__({"forecast_2_0": FakeDatabase(collection, schema)})


@pytest.fixture
def inventory(monkeypatch):
    """What the fake collection holds before the load (no server: stored_digests is replaced)."""
    holder = {"table": stored()}
    monkeypatch.setattr(load_module, "stored_digests", lambda collection, plan: holder["table"])
    return holder


def target(**overrides) -> MongoTarget:
    return MongoTarget(uri="mongodb://u:secret@h/", **({"backoff_s": 0.1} | overrides))


def test_batches_are_bounded_by_count_and_by_bytes():
    sizes = np.array([10, 10, 10, 10, 10])
    assert batch_bounds(sizes, 2, 1000) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds(sizes, 100, 25) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds(np.array([5, 50, 5]), 100, 20) == [(0, 1), (1, 2), (2, 3)]  # big alone
    assert batch_bounds(np.array([], dtype=np.int64), 10, 10) == []


def test_inserted_documents_are_the_plan_nested_with_the_first_run_and_the_digest():
    the_plan = plan(3)
    encoded = encode_inserts(the_plan, np.arange(3))
    assert encoded.ids == [
        "07015:2024-10-05T00:00:00.000Z", "07015:2024-10-05T01:00:00.000Z",
        "07015:2024-10-05T02:00:00.000Z",
    ]  # fmt: skip
    document = bson.decode(encoded.bodies[1].raw, TZ)
    assert document["_id"] == "07015:2024-10-05T01:00:00.000Z"
    assert document["measurements"] == {"temperature": {"value": 11.0, "unit": "degC"}}
    assert document["timestamp"] == T0 + timedelta(hours=1)
    assert document["metadata"]["run_id"] == "run-1"
    assert document["metadata"]["digest"] == the_plan.digests[1].as_py()
    assert encoded.rows.tolist() == [0, 1, 2]
    assert encoded.sizes.tolist() == [len(b.raw) for b in encoded.bodies]


def test_classify_by_id_and_digest():
    the_plan = plan(4)
    ids, digests = the_plan.ids.to_pylist(), the_plan.digests.to_pylist()
    split = classify(the_plan, stored([ids[0], ids[1], ids[2]], [digests[0], 12345, None]))
    assert (split.new.tolist(), split.changed.tolist(), split.unchanged.tolist()) == (
        [3],
        [1, 2],
        [0],
    )


def test_a_rerun_sends_nothing_and_counts_every_document_unchanged(inventory):
    the_plan = plan(5)
    inventory["table"] = stored(the_plan.ids.to_pylist(), the_plan.digests.to_pylist())
    collection = FakeCollection()
    counts = load(FakeClient(collection), target(), [the_plan], sleep=lambda _: None)
    assert collection.calls == []
    assert (counts.input, counts.unchanged, counts.inserted, counts.updated) == (5, 5, 0, 0)


def test_new_documents_are_inserted_and_changed_ones_upserted(inventory):
    old, new = plan(4), plan(4, offset=0.5)
    inventory["table"] = stored(old.ids.to_pylist()[:2], old.digests.to_pylist()[:2])
    collection = FakeCollection()
    counts = load(FakeClient(collection), target(), [new], sleep=lambda _: None)
    assert [(kind, len(payload)) for kind, payload, _ in collection.calls] == [
        ("insert", 2),
        ("update", 2),
    ]
    update = collection.calls[1][1][0]._doc
    assert set(update) == {"$set", "$setOnInsert"}
    assert (counts.input, counts.inserted, counts.updated, counts.unchanged) == (4, 2, 2, 0)


def test_a_batch_interrupted_by_a_transient_error_is_written_again_after_a_backoff(inventory):
    collection = FakeCollection(AutoReconnect("connection reset"), "ok", "ok")
    delays: list[float] = []
    counts = load(FakeClient(collection), target(batch_size=3), [plan(5)], sleep=delays.append)
    assert [len(payload) for _, payload, _ in collection.calls] == [
        3,
        3,
        2,
    ]  # first batch sent twice
    assert (counts.inserted, counts.batches, counts.retries, counts.failed) == (5, 2, 1, 0)
    assert len(delays) == 1 and 0.05 <= delays[0] <= 0.1


def test_backoff_doubles_and_the_load_gives_up_after_the_attempts(inventory):
    collection = FakeCollection(*(AutoReconnect("down") for _ in range(4)))
    delays: list[float] = []
    with pytest.raises(TransientError, match="bulk write of 2 documents 07015:") as raised:
        load(FakeClient(collection), target(attempts=4), [plan(2)], sleep=delays.append)
    assert len(collection.calls) == 4 and len(delays) == 3
    assert [0.05 <= delays[0] <= 0.1, 0.1 <= delays[1] <= 0.2, 0.2 <= delays[2] <= 0.4] == [
        True
    ] * 3
    assert "secret" not in str(raised.value)


def test_a_retried_insert_resends_what_the_first_try_wrote_as_upserts_counted_inserted(inventory):
    concern = BulkWriteError(
        {"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}],
         "nInserted": 2, "nUpserted": 0, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    own = BulkWriteError(
        {"writeErrors": [{"index": i, "code": 11000, "keyPattern": {"_id": 1}, "errmsg": "E11000 dup _id_"}
                         for i in range(2)],
         "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    identical = {"nUpserted": 0, "nMatched": 2, "nModified": 0, "upserted": []}
    collection = FakeCollection(concern, own, identical)
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert [kind for kind, _, _ in collection.calls] == ["insert", "insert", "update", "count"]
    (query,) = collection.calls[-1][1]
    assert query["metadata.run_id"] == "run-1"  # whose are they: this run's earlier try
    assert (counts.input, counts.inserted, counts.updated, counts.retries) == (2, 2, 0, 1)


def test_documents_a_concurrent_run_inserted_first_are_its_inserts_not_this_runs(inventory):
    """Issue 20, row 9: two runs loading the same documents into one database counted 6,849
    inserts for 4,950 documents. The one that finds a document already there, identical, and
    not written by itself, counts it unchanged."""
    twin = BulkWriteError(
        {"writeErrors": [{"index": i, "code": 11000, "keyPattern": {"_id": 1}, "errmsg": "E11000 dup _id_"}
                         for i in range(2)],
         "writeConcernErrors": [], "nInserted": 0, "nUpserted": 0, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    identical = {"nUpserted": 0, "nMatched": 2, "nModified": 0, "upserted": []}
    collection = FakeCollection(twin, identical, written_by_this_run=0)
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert (counts.input, counts.inserted, counts.unchanged, counts.updated) == (2, 0, 2, 0)


def test_transient_codes_rerun_the_batch(inventory):
    stepped_down = BulkWriteError(
        {"writeErrors": [{"index": 0, "code": 189, "errmsg": "primary stepped down"}],
         "writeConcernErrors": [], "nInserted": 1}
    )  # fmt: skip
    collection = FakeCollection(stepped_down, "ok")
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert len(collection.calls) == 2
    assert (counts.inserted, counts.retries, counts.input) == (2, 1, 2)


def test_refused_documents_are_mapped_back_to_their_rows_and_not_retried(inventory):
    refused = BulkWriteError(
        {"writeErrors": [{"index": 1, "code": 121, "errmsg": "Document failed validation"}],
         "writeConcernErrors": [], "nInserted": 1}
    )  # fmt: skip
    collection = FakeCollection("ok", refused)
    counts = load(FakeClient(collection), target(batch_size=2), [plan(4)], sleep=lambda _: None)
    assert len(collection.calls) == 2
    assert (counts.input, counts.inserted, counts.failed, counts.retries) == (4, 3, 1, 0)
    (refusal,) = counts.refusals
    assert (refusal.id, refusal.row) == ("07015:2024-10-05T03:00:00.000Z", 3)
    assert refusal.message == "code 121: Document failed validation"


def test_a_duplicate_natural_key_under_another_id_is_a_refusal(inventory):
    def taken(n_inserted):
        return BulkWriteError(
            {"writeErrors": [{"index": 0, "code": 11000, "keyPattern": {"station.id": 1, "timestamp": 1},
                              "errmsg": "E11000 duplicate key station_id_timestamp"}],
             "writeConcernErrors": [], "nInserted": n_inserted, "nUpserted": 0, "nMatched": 0, "nModified": 0}
        )  # fmt: skip

    collection = FakeCollection(taken(1), taken(0))  # the insert, then the upsert it becomes
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert [kind for kind, _, _ in collection.calls] == ["insert", "update"]
    assert (counts.input, counts.inserted, counts.failed) == (2, 1, 1)
    assert counts.refusals[0].message.startswith("code 11000: E11000 duplicate key station_id")
    assert counts.refusals[0].id == "07015:2024-10-05T00:00:00.000Z"


def test_a_refused_command_is_one_line_naming_the_batch_code_and_message(inventory):
    failure = OperationFailure(
        "internal error", 1,
        {"ok": 0, "errmsg": "internal server error", "code": 1, "$clusterTime": {"signature": "x"}},
    )  # fmt: skip
    with pytest.raises(ServerError) as raised:
        load(FakeClient(FakeCollection(failure)), target(), [plan(2)], sleep=lambda _: None)
    message = str(raised.value)
    assert message == (
        "MongoDB refused the bulk write of 2 documents 07015:2024-10-05T00:00:00.000Z .. "
        "07015:2024-10-05T01:00:00.000Z: code 1: internal server error"
    )
    assert "clusterTime" not in message and "signature" not in message


def test_a_transient_command_failure_is_retried(inventory):
    failure = OperationFailure(
        "shutting down", 91, {"ok": 0, "errmsg": "shutdown in progress", "code": 91}
    )
    collection = FakeCollection(failure, "ok")
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert (counts.inserted, counts.retries) == (2, 1)


def test_client_validation_refuses_what_the_schema_refuses_and_bypasses_the_rest(inventory):
    spec = measurement_schema()
    spec["properties"]["measurements"]["properties"]["temperature"]["properties"]["value"][
        "maximum"
    ] = 12.5
    collection = FakeCollection()
    counts = load(FakeClient(collection, spec), target(), [plan(5)], sleep=lambda _: None)
    ((kind, sent, bypass),) = collection.calls
    assert (kind, len(sent), bypass) == ("insert", 3, True)
    assert (counts.inserted, counts.failed, counts.validated_by) == (3, 2, "loader")
    assert [r.row for r in counts.refusals] == [3, 4]
    assert counts.refusals[0].message.startswith("code 121: Document failed validation")
    assert "measurements.temperature.value: above the maximum 12.5" in counts.refusals[0].message


def test_without_bypass_privilege_the_load_says_how_to_fix_it(inventory):
    unauthorized = OperationFailure(
        "not authorized", 13, {"ok": 0, "errmsg": "not authorized", "code": 13}
    )
    client = FakeClient(FakeCollection(unauthorized), measurement_schema())
    with pytest.raises(
        ConfigurationError, match=r'bypassDocumentValidation.*validation = "server"'
    ):
        load(client, target(), [plan(1)], sleep=lambda _: None)


@pytest.mark.parametrize(("validation", "schema", "bypass"), [
    ("client", None, False),  # no validator on the collection: nothing to bypass
    ("server", "generated", False),
    ("client", "generated", True),
    ("client", {"$or": []}, False),  # a keyword the loader does not evaluate: the server checks
])  # fmt: skip
def test_who_validates(inventory, validation, schema, bypass):
    collection = FakeCollection()
    spec = measurement_schema() if schema == "generated" else schema
    counts = load(FakeClient(collection, spec), target(validation=validation), [plan(2)],
                  sleep=lambda _: None)  # fmt: skip
    assert [sent_bypass for _, _, sent_bypass in collection.calls] == [bypass]
    assert counts.validated_by == ("loader" if bypass else "server")


def test_the_write_concern_comes_from_the_target():
    concern = target().write_concern()
    assert concern.document == {"w": "majority", "j": True, "wtimeout": 30000}
    assert target(write_w="1", journal=False, wtimeout_ms=0).write_concern().document == {
        "w": 1, "j": False, "wtimeout": 0,
    }  # fmt: skip


def test_server_errors_are_classified_in_one_line():
    from pymongo.errors import AutoReconnect

    from forecast.mongo.client import server_errors

    uri = "mongodb://u:secret@h/"
    with (
        pytest.raises(TransientError, match=r"^writing the ledger failed: ") as lost,
        server_errors("writing the ledger", uri),
    ):
        raise AutoReconnect("connection to mongodb://u:secret@h/ reset")
    assert "secret" not in str(lost.value)
    stepped_down = OperationFailure("not primary", 10107, {"errmsg": "not primary", "code": 10107})
    with pytest.raises(TransientError, match="code 10107"), server_errors("a refresh", uri):
        raise stepped_down
    internal = OperationFailure(
        "internal server error, full error: {'$clusterTime': 1}", 1,
        {"ok": 0, "errmsg": "internal server error", "code": 1, "$clusterTime": {"signature": 1}},
    )  # fmt: skip
    with pytest.raises(ServerError) as refused, server_errors("a refresh", uri):
        raise internal
    assert str(refused.value) == "MongoDB refused a refresh: code 1: internal server error"
