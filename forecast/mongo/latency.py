"""Query latency: the standard data-science queries, timed, with their winning plans."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection

from forecast.mongo.client import MongoTarget


@dataclass(frozen=True)
class QueryTiming:
    """One standard query, timed over several iterations."""

    name: str
    description: str
    timings_ms: tuple[float, ...]
    rows: int
    plan: str

    @property
    def stats(self) -> dict[str, float]:
        """Return min/avg/p50/p95/max in milliseconds (p95 by the nearest-rank method)."""
        ordered = sorted(self.timings_ms)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest-rank percentile
        return {
            "min_ms": ordered[0],
            "avg_ms": statistics.fmean(ordered),
            "p50_ms": statistics.median(ordered),
            "p95_ms": p95,
            "max_ms": ordered[-1],
        }


def _plan_summary(explain: dict[str, Any]) -> str:
    """Return the winning plan's access stages, e.g. ``IXSCAN station_id_timestamp``."""
    found: list[str] = []

    def walk(stage: dict[str, Any]) -> None:
        name = stage.get("stage", "")
        if name in (
            "IXSCAN",
            "COLLSCAN",
            "GEO_NEAR_2DSPHERE",
            "COUNT_SCAN",
            "IDHACK",
            "EXPRESS_IXSCAN",
        ):
            found.append(f"{name} {stage.get('indexName', '')}".strip())
        for key in ("inputStage", "queryPlan"):
            if isinstance(stage.get(key), dict):
                walk(stage[key])
        for child in stage.get("inputStages", []):
            walk(child)

    planner = explain.get("queryPlanner") or explain.get("stages", [{}])[0].get("$cursor", {}).get(
        "queryPlanner", {}
    )
    walk(planner.get("winningPlan", {}))
    return ", ".join(found) or "unknown"


@dataclass(frozen=True)
class _Query:
    name: str
    description: str
    filter: dict[str, Any]
    run: Callable[[Collection[Any]], int]


def _standard_queries(collection: Collection[Any], sample: dict[str, Any]) -> list[_Query]:
    station, network = sample["station"]["id"], sample["station"]["network"]
    latest: datetime = sample["timestamp"]
    day = latest.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    one_day = {"station.id": station, "timestamp": {"$gte": day, "$lt": day + timedelta(days=1)}}
    week = {
        "station.network": network,
        "timestamp": {"$gte": latest - timedelta(days=7), "$lte": latest},
    }
    near = {
        "station.location_geo": {
            "$near": {"$geometry": sample["station"]["location_geo"], "$maxDistance": 25_000}
        }
    }
    month_filter = {
        "station.id": station,
        "timestamp": {"$gte": month, "$lt": latest + timedelta(seconds=1)},
    }
    daily = [
        {"$match": month_filter},
        {"$group": {
            "_id": {"$dateToString": {"format": "%Y-%m-%d", "date": "$timestamp"}},
            "mean_temperature": {"$avg": "$measurements.temperature.value"},
            "count": {"$sum": 1},
        }},
        {"$sort": {"_id": 1}},
    ]  # fmt: skip
    return [
        _Query("station_day", f"one station ({station}), one UTC day ({day:%Y-%m-%d})", one_day,
               lambda c: len(list(c.find(one_day)))),
        _Query("network_week", f"one network ({network}) over the last 7 days", week,
               lambda c: len(list(c.find(week, {"measurements.temperature": 1})))),
        _Query("near_point", "observations within 25 km of a station ($near, first 500)", near,
               lambda c: len(list(c.find(near).limit(500)))),
        _Query("daily_means_month", f"daily mean temperature of {station} for {month:%Y-%m}", month_filter,
               lambda c: len(list(c.aggregate(daily)))),
        _Query("count_station", f"count of {station}'s observations", {"station.id": station},
               lambda c: c.count_documents({"station.id": station})),
    ]  # fmt: skip


def measure_latency(
    client: MongoClient[Any], target: MongoTarget, iterations: int
) -> list[QueryTiming]:
    """Time the standard data-science queries ``iterations`` times each, with their plans.

    Query parameters come from the most recent stored observation; an empty collection gives
    no timings.
    """
    collection = client[target.database][target.collection]
    sample = collection.find_one(sort=[("timestamp", -1)])
    if sample is None:
        return []
    timings = []
    for query in _standard_queries(collection, sample):
        durations = []
        rows = 0
        for _ in range(max(1, iterations)):
            started = time.perf_counter()
            rows = query.run(collection)
            durations.append((time.perf_counter() - started) * 1000.0)
        plan = _plan_summary(collection.find(query.filter).explain())
        timings.append(QueryTiming(query.name, query.description, tuple(durations), rows, plan))
    return timings
