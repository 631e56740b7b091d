"""The loader without a server: batch bounds, bulk encoding, per-batch retry, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bson
import numpy as np
import pyarrow as pa
import pytest
from pymongo.errors import AutoReconnect, BulkWriteError
from pymongo.results import BulkWriteResult

from forecast.documents import RunContext, write_plan
from forecast.errors import TransientError
from forecast.mongo import MongoTarget
from forecast.mongo.load import batch_bounds, encode, load
from forecast.schema import MEASUREMENT_KEYS, STATIONS, VALIDATED, conform

T0 = datetime(2024, 10, 5, tzinfo=UTC)
RUN = RunContext("run-1", T0)


def plan(count: int = 5):
    station = {f.name: None for f in STATIONS} | {
        "station_id": "07015", "name": "Lille-Lesquin", "network": "infoclimat", "type": "synop",
        "latitude": 50.575, "longitude": 3.092, "timezone": "Europe/Paris",
        "measurements": ["temperature"],
    }  # fmt: skip
    rows = [
        dict.fromkeys(MEASUREMENT_KEYS) | {
            "station_id": "07015", "timestamp": T0 + timedelta(hours=i), "temperature": 10.0 + i,
            "source": "infoclimat", "source_file": "f.json", "raw_key": "k", "raw_sha256": "s",
            "flags": [], "parse_errors": [], "unit_errors": [], "record_index": i,
            "quality_score": 100.0, "quality_rules": [],
        }
        for i in range(count)
    ]  # fmt: skip
    table = conform(pa.Table.from_pylist(rows), VALIDATED)
    stations = conform(pa.Table.from_pylist([station], schema=STATIONS), STATIONS)
    (only,) = write_plan(table, stations, RUN)
    return only


class FakeCollection:
    """Plays back scripted outcomes for bulk_write calls and records what was sent."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls: list[list] = []

    def with_options(self, **_):
        return self

    def bulk_write(self, ops, ordered):
        assert ordered is False
        self.calls.append(ops)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if isinstance(outcome, Exception):
            raise outcome
        return BulkWriteResult(
            {"nUpserted": len(ops), "nMatched": 0, "nModified": 0, "upserted": []}, True
        )


class FakeClient(dict):
    def __init__(self, collection):
        super().__init__({"forecast_2_0": {"weather_measurements": collection}})


def target(**overrides) -> MongoTarget:
    return MongoTarget(uri="mongodb://u:secret@h/", **({"backoff_s": 0.1} | overrides))


def test_batches_are_bounded_by_count_and_by_bytes():
    sizes = np.array([10, 10, 10, 10, 10])
    assert batch_bounds(sizes, 2, 1000) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds(sizes, 100, 25) == [(0, 2), (2, 4), (4, 5)]
    assert batch_bounds(np.array([5, 50, 5]), 100, 20) == [(0, 1), (1, 2), (2, 3)]  # big alone
    assert batch_bounds(np.array([], dtype=np.int64), 10, 10) == []


def test_bodies_are_encoded_once_as_raw_bson_that_decodes_to_the_plan():
    encoded = encode(plan(3))
    assert encoded.ids == [
        "07015:2024-10-05T00:00:00.000Z", "07015:2024-10-05T01:00:00.000Z",
        "07015:2024-10-05T02:00:00.000Z",
    ]  # fmt: skip
    body = bson.decode(encoded.set_bodies[1].raw)
    assert body["measurements"] == {"temperature": {"value": 11.0, "unit": "degC"}}
    assert bson.decode(encoded.insert_bodies[0].raw)["metadata.run_id"] == "run-1"
    assert encoded.rows.tolist() == [0, 1, 2]
    assert encoded.sizes.tolist() == [
        len(s.raw) + len(i.raw)
        for s, i in zip(encoded.set_bodies, encoded.insert_bodies, strict=True)
    ]


def test_a_batch_interrupted_by_a_transient_error_is_written_again_after_a_backoff():
    collection = FakeCollection(AutoReconnect("connection reset"), "ok", "ok")
    delays: list[float] = []
    counts = load(FakeClient(collection), target(batch_size=3), [plan(5)], sleep=delays.append)
    assert [len(ops) for ops in collection.calls] == [3, 3, 2]  # first batch sent twice
    assert (counts.inserted, counts.batches, counts.retries, counts.failed) == (5, 2, 1, 0)
    assert len(delays) == 1 and 0.05 <= delays[0] <= 0.1


def test_backoff_doubles_and_the_load_gives_up_after_the_attempts():
    collection = FakeCollection(*(AutoReconnect("down") for _ in range(4)))
    delays: list[float] = []
    with pytest.raises(TransientError, match="bulk write interrupted") as raised:
        load(FakeClient(collection), target(attempts=4), [plan(2)], sleep=delays.append)
    assert len(collection.calls) == 4 and len(delays) == 3
    assert [0.05 <= delays[0] <= 0.1, 0.1 <= delays[1] <= 0.2, 0.2 <= delays[2] <= 0.4] == [
        True
    ] * 3
    assert "secret" not in str(raised.value)


def test_write_concern_errors_and_transient_codes_rerun_the_batch():
    concern = BulkWriteError(
        {"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}],
         "nUpserted": 2, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    stepped_down = BulkWriteError(
        {"writeErrors": [{"index": 0, "code": 189, "errmsg": "primary stepped down"}],
         "writeConcernErrors": [], "nUpserted": 1, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    collection = FakeCollection(concern, stepped_down, "ok")
    counts = load(FakeClient(collection), target(), [plan(2)], sleep=lambda _: None)
    assert len(collection.calls) == 3
    assert (counts.inserted, counts.retries, counts.input) == (2, 2, 2)


def test_refused_documents_are_mapped_back_to_their_rows_and_not_retried():
    refused = BulkWriteError(
        {"writeErrors": [{"index": 1, "code": 121, "errmsg": "Document failed validation"}],
         "writeConcernErrors": [], "nUpserted": 1, "nMatched": 0, "nModified": 0}
    )  # fmt: skip
    collection = FakeCollection("ok", refused)
    counts = load(FakeClient(collection), target(batch_size=2), [plan(4)], sleep=lambda _: None)
    assert len(collection.calls) == 2
    assert (counts.input, counts.inserted, counts.failed, counts.retries) == (4, 3, 1, 0)
    (refusal,) = counts.refusals
    assert (refusal.id, refusal.row) == ("07015:2024-10-05T03:00:00.000Z", 3)
    assert refusal.message == "code 121: Document failed validation"


def test_the_write_concern_comes_from_the_target():
    concern = target().write_concern()
    assert concern.document == {"w": "majority", "j": True, "wtimeout": 30000}
    assert target(write_w="1", journal=False, wtimeout_ms=0).write_concern().document == {
        "w": 1, "j": False, "wtimeout": 0,
    }  # fmt: skip
