"""The load through the flow: refusals quarantined with their rows, reconciliation, gold."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from flows.pipeline import forecast_pipeline
from forecast.samples import write_demo_landing
from tests.support import DEMO_COUNTS

# The first La Madeleine demo row: 2024-10-14 00:04 local (CEST) = 2024-10-13 22:04 UTC.
TAKEN = datetime(2024, 10, 13, 22, 4, tzinfo=UTC)


@pytest.fixture
def landing(tmp_path):
    directory = tmp_path / "landing"
    write_demo_landing(directory)
    return directory


def test_a_document_the_server_refuses_is_quarantined_and_the_rest_loads(
    stack, landing, mongo_server
):
    # A legacy document (another _id scheme, loaded before validators existed) holds the key
    # (ILAMAD25, 22:04Z): the unique (station.id, timestamp) index refuses our upsert of it.
    database = mongo_server.client()[stack.database]
    database["weather_measurements"].insert_one(
        {"_id": "legacy-1", "station": {"id": "ILAMAD25"}, "timestamp": TAKEN}
    )
    status = forecast_pipeline(stack(landing))
    assert status.status == "partial"
    migration = status.migration
    total = sum(DEMO_COUNTS.values())
    assert (migration["input"], migration["inserted"], migration["failed"]) == (total, total - 1, 1)
    assert migration["failures"][0]["_id"] == "ILAMAD25:2024-10-13T22:04:00.000Z"
    assert "E11000" in migration["failures"][0]["error"]
    # reconciliation checks every other planned document and finds them all as planned
    assert migration["reconciliation"]["checked"] == total - 1
    assert (migration["reconciliation"]["missing"], migration["reconciliation"]["different"]) == (
        0,
        0,
    )

    (quarantine,) = (stack.lake / "rejected").rglob("*.load.parquet")
    (row,) = pq.read_table(quarantine).to_pylist()
    assert (row["station_id"], row["timestamp"], row["reject_rules"]) == (
        "ILAMAD25",
        TAKEN,
        ["load_refused"],
    )
    assert row["reject_reasons"][0].startswith(
        "file 'Weather Underground - La Madeleine, FR.xlsx', sheet '141024', row 3: "
        "MongoDB refused the document: code 11000:"
    )
    assert row["raw_key"] and row["raw_sha256"]
    (manifest,) = (stack.lake / "rejected").rglob(f"run={status.run_id}.json")
    assert json.loads(manifest.read_text())["rules"] == {"load_refused": 1}
    assert database["weather_measurements"].count_documents({}) == total  # legacy + total - 1


def test_gold_aggregates_cover_every_station_day_the_run_loaded(stack, landing, mongo_server):
    status = forecast_pipeline(stack(landing))
    gold = status.migration["gold"]
    database = mongo_server.client()[stack.database]
    days = {
        (d["station"]["id"], d["timestamp"].date())
        for d in database["weather_measurements"].find({}, {"station.id": 1, "timestamp": 1})
    }
    assert gold["station_days"] == len(days)
    assert database["weather_daily"].count_documents({}) == gold["daily_documents"]
    day = database["weather_daily"].find_one(
        {"station_id": "07015", "period_start": datetime(2024, 10, 14, tzinfo=UTC)}
    )
    one = day["measurements"]["temperature"]
    values = [
        d["measurements"]["temperature"]["value"]
        for d in database["weather_measurements"].find(
            {"station.id": "07015", "timestamp": {"$gte": datetime(2024, 10, 14, tzinfo=UTC),
                                                  "$lt": datetime(2024, 10, 15, tzinfo=UTC)}}
        )
        if d["measurements"]["temperature"]["value"] is not None
    ]  # fmt: skip
    assert (one["count"], one["min"], one["max"]) == (len(values), min(values), max(values))
    assert one["mean"] == pytest.approx(sum(values) / len(values), abs=1e-9)
    latency = json.loads(
        (stack.lake / "reports" / f"run={status.run_id}" / "latency.json").read_text()
    )
    plans = {q["query"]: q["plan"] for q in latency["queries"]}
    assert plans["daily_means_month"] == "IXSCAN station_period"
    assert all("IXSCAN" in plan for plan in plans.values()) and len(plans) == 5
