"""The load stage in one call: stations, documents, reconciliation, gold, each timed.

``timings``: ``load_s`` (stations and documents written), ``reconcile_s`` (reading back, in a
background thread, and comparing), ``gold_s`` (aggregating and writing gold) and ``verify_s``,
the wall time of the last two together (the reads overlap with the client's own work).

The documents of each plan are read back once after the load; that read is both the
reconciliation (planned vs stored) and the input of the gold aggregates, so no document is read
twice and the gold of a station-day includes what earlier runs stored. The next plan is read
while the current one is compared and aggregated; gold is written between two reads, never
while one is in flight, so ``reconcile_s`` and ``gold_s`` are each their own time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pymongo import MongoClient

from forecast.mongo.client import MongoTarget
from forecast.mongo.collections import note_latest, upsert_stations
from forecast.mongo.gold import GoldCounts, GoldUpdate, prepare
from forecast.mongo.load import LoadCounts, day_range, latest_time, load
from forecast.mongo.plan import WritePlan
from forecast.mongo.reconcile import Reconciliation, checked_plans


@dataclass(frozen=True)
class StageResult:
    """What the load stage did and how long each part took (seconds)."""

    counts: LoadCounts
    stations_upserted: int
    reconciliation: Reconciliation
    gold: GoldCounts
    timings: dict[str, float] = field(default_factory=dict)


def run_stage(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    stations: pa.Table,
    *,
    sleep: Callable[[float], None] = time.sleep,
    acknowledged: Callable[[LoadCounts], None] | None = None,
) -> StageResult:
    """Upsert the stations, load the plans, then per station read back, reconcile and refresh gold;
    ``acknowledged``: see ``load``.

    Raises:
        TransientError: the server became unreachable; rerunning the stage is safe.
    """
    started = time.perf_counter()
    upserted = upsert_stations(client, target, stations)
    counts = load(client, target, plans, sleep=sleep, acknowledged=acknowledged)
    latest: dict[str, Any] = {}
    for plan in plans:
        if len(plan):
            station, when = day_range(plan)[0], latest_time(plan)
            latest[station] = max(when, latest.get(station, when))
    note_latest(client, target, latest)
    loaded = time.perf_counter()
    check, gold = Reconciliation(), GoldCounts(0, 0, 0)
    clock: dict[str, float] = {"gold_s": 0.0}
    refused = [r.id for r in counts.refusals]
    queued: list[GoldUpdate] = []

    def write_gold() -> None:  # called while no read-back is in flight
        nonlocal gold
        mark = time.perf_counter()
        for update in queued:
            gold = gold + update.write(client, target)
        queued.clear()
        clock["gold_s"] += time.perf_counter() - mark

    for plan_check, rows in checked_plans(
        client, target, plans, skip=refused, timings=clock, while_idle=write_gold
    ):
        check = check + plan_check
        mark = time.perf_counter()
        update = prepare(rows)  # while the next plan is being read
        if update is not None:
            queued.append(update)
        clock["gold_s"] += time.perf_counter() - mark
    write_gold()
    done = time.perf_counter()
    timings = {"load_s": round(loaded - started, 3), "reconcile_s": round(clock["reconcile_s"], 3),
               "gold_s": round(clock["gold_s"], 3), "verify_s": round(done - loaded, 3)}  # fmt: skip
    return StageResult(counts, upserted, check, gold, timings)
