"""Query latency: the standard data-science queries, timed by the server's replies, with plans.

Timings come from the driver's command monitoring (``CommandSucceededEvent.duration_micros``):
the round trip of the commands a query sends, its ``getMore`` continuations included, without
the client's own work of building documents. ``CommandTimer`` is the listener; it must be
registered when the client is created, which ``measuring_client`` does.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import MongoClient, monitoring
from pymongo.database import Database

from forecast.mongo.client import MongoTarget, connect
from forecast.mongo.gold import DAILY_COLLECTION

STANDARD_QUERIES = (
    "station_day",
    "network_week",
    "near_point",
    "daily_means_month",
    "count_station",
)
"""Names of the standard queries, in the order they are measured."""

TIMED_COMMANDS = frozenset({"find", "aggregate", "count", "distinct", "getMore"})
"""Commands whose durations make up a query's time (writes, explains and pings do not)."""

INDEX_STAGES = frozenset(
    {
        "IXSCAN",
        "EXPRESS_IXSCAN",
        "COUNT_SCAN",
        "DISTINCT_SCAN",
        "GEO_NEAR_2DSPHERE",
        "GEO_NEAR_2D",
        "IDHACK",
        "EXPRESS_IDHACK",
    }
)
"""Winning-plan access stages that read an index."""

ACCESS_STAGES = INDEX_STAGES | {"COLLSCAN", "EOF"}

_T = TypeVar("_T")


@dataclass(frozen=True)
class Budget:
    """What the latency report may cost: ``total_s`` for all queries together (each gets an
    equal share and runs until its share is spent, at least once, at most ``iterations``
    times) and ``row_cap`` rows per query (a larger result is cut; the rows it would return are
    still reported, counted from the gold daily documents)."""

    total_s: float = 10.0
    row_cap: int = 1000


@dataclass(frozen=True)
class QueryTiming:
    """One standard query, timed over several iterations.

    ``rows`` is what one run returned (at most the budget's row cap); ``matching`` is how many
    rows the query would return without the cap (None when the gold layer cannot tell).
    """

    name: str
    description: str
    timings_ms: tuple[float, ...]
    rows: int
    plan: str
    matching: int | None = None

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

    @property
    def uses_index(self) -> bool:
        """True when the winning plan reads an index (and never the whole collection)."""
        return uses_index(self.plan)


def uses_index(plan: str) -> bool:
    """Return True when a plan summary names an index stage and no collection scan."""
    stages = {part.split()[0] for part in plan.split(", ") if part}
    return bool(stages & INDEX_STAGES) and "COLLSCAN" not in stages


# ---------------------------------------------------------------------------------------------
# Plans


def _access_stages(stage: dict[str, Any], found: list[str]) -> None:
    """Append the access stages (``IXSCAN <index>``) of a plan tree to ``found``, depth first."""
    name = stage.get("stage", "")
    if name in ACCESS_STAGES:
        found.append(f"{name} {stage.get('indexName', '')}".strip())
    children = [
        stage[key] for key in ("inputStage", "queryPlan") if isinstance(stage.get(key), dict)
    ]
    children += stage.get("inputStages", [])
    children += [
        shard["winningPlan"] for shard in stage.get("shards", []) if "winningPlan" in shard
    ]
    for child in children:
        _access_stages(child, found)


def _query_planner(explain: dict[str, Any]) -> dict[str, Any]:
    """Return the ``queryPlanner`` section of a find, count or aggregate explain."""
    if isinstance(explain.get("queryPlanner"), dict):
        return dict(explain["queryPlanner"])
    for stage in explain.get("stages", []):  # aggregate: the first stage is the $cursor
        planner = stage.get("$cursor", {}).get("queryPlanner")
        if isinstance(planner, dict):
            return dict(planner)
    return {}


def _plan_summary(explain: dict[str, Any]) -> str:
    """Return the winning plan's access stages, e.g. ``IXSCAN station_id_timestamp``."""
    found: list[str] = []
    _access_stages(_query_planner(explain).get("winningPlan", {}), found)
    return ", ".join(found) or "unknown"


# ---------------------------------------------------------------------------------------------
# Command monitoring


@dataclass
class Operation:
    """The commands one query operation sent (its first command, then any getMore)."""

    commands: list[str] = field(default_factory=list)
    micros: int = 0


class CommandTimer(monitoring.CommandListener):
    """Sum server round trips per operation while recording.

    A ``getMore`` belongs to the operation whose reply opened its cursor (the driver gives it an
    operation id of its own), so a query's time includes every batch it fetched. Only commands
    started while recording, and named in ``TIMED_COMMANDS``, are counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recording = False
        self._pending: dict[int, int] = {}  # request id -> operation id
        self._cursors: dict[int, int] = {}  # cursor id -> operation id
        self.operations: dict[int, Operation] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Note a timed command started while recording, and the operation it belongs to."""
        if event.command_name not in TIMED_COMMANDS:
            return
        with self._lock:
            if not self._recording:
                return
            operation: int = event.request_id if event.operation_id is None else event.operation_id
            if event.command_name == "getMore":
                operation = self._cursors.get(int(event.command.get("getMore", 0)), operation)
            self._pending[event.request_id] = operation
            self.operations.setdefault(operation, Operation()).commands.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Add the command's duration to its operation; remember the cursor it opened."""
        with self._lock:
            operation = self._pending.pop(event.request_id, None)
            if operation is None:
                return
            self.operations[operation].micros += event.duration_micros
            cursor = event.reply.get("cursor") if isinstance(event.reply, dict) else None
            if isinstance(cursor, dict) and cursor.get("id"):
                self._cursors[cursor["id"]] = operation

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Forget a failed command: the query raises, so no timing is kept."""
        with self._lock:
            self._pending.pop(event.request_id, None)

    def start(self) -> None:
        """Forget earlier operations and record the commands started from now on."""
        with self._lock:
            self._pending.clear()
            self._cursors.clear()
            self.operations = {}
            self._recording = True

    def stop(self) -> float:
        """Stop recording; return the total milliseconds of the recorded operations."""
        with self._lock:
            self._recording = False
            return sum(op.micros for op in self.operations.values()) / 1000.0

    def time(self, run: Callable[[], _T]) -> tuple[_T, float]:
        """Run ``run()`` while recording; return its result and the server time in ms."""
        self.start()
        try:
            result = run()
        finally:
            elapsed = self.stop()
        if not self.operations:
            raise RuntimeError("no query command was observed: is the CommandTimer registered?")
        return result, elapsed


def command_timer(client: MongoClient[Any]) -> CommandTimer | None:
    """Return the ``CommandTimer`` registered on ``client``, if any."""
    listeners = client.options.event_listeners
    return next((lsn for lsn in listeners if isinstance(lsn, CommandTimer)), None)


def measuring_client(
    target: MongoTarget, *, timeout_ms: int = 10_000
) -> AbstractContextManager[MongoClient[Any]]:
    """Return ``connect``'s client context with a ``CommandTimer`` registered for latency."""
    return connect(
        target, timeout_ms=timeout_ms, appname="forecast-2-0-latency",
        event_listeners=[CommandTimer()],
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The standard queries


@dataclass(frozen=True)
class _Query:
    name: str
    description: str
    run: Callable[[], int]
    explain: Callable[[], dict[str, Any]]
    matching: Callable[[], int | None] = lambda: None


def _month(moment: datetime) -> tuple[datetime, datetime]:
    """Return the first instants of ``moment``'s month and of the next month."""
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def _find_query(
    database: Database[Any], collection: str, name: str, description: str, cap: int, **find: Any
) -> _Query:
    """Return a query that runs ``find(**find)`` on ``collection`` (at most ``cap`` documents)."""
    return _Query(
        name,
        description,
        lambda: len(list(database[collection].find(**find).limit(cap))),
        lambda: dict(database[collection].find(**find).limit(cap).explain()),
    )


def _per_station_query(
    database: Database[Any], collection: str, name: str, description: str, cap: int,
    filters: list[dict[str, Any]], projection: dict[str, Any] | None = None,
) -> _Query:  # fmt: skip
    """Return a query that reads several stations' ranges, one indexed find each (at most
    ``cap`` documents in all). One find per station rather than ``$in`` with a time range:
    SecantusDB plans the latter as a collection scan, and both use the index on mongod."""

    filters = filters or [{"station.id": {"$in": []}}]  # no station: still one (empty) query

    def run() -> int:
        returned = 0
        for condition in filters:
            if returned >= cap:
                break
            cursor = database[collection].find(condition, projection).limit(cap - returned)
            returned += len(list(cursor))
        return returned

    first = filters[0]
    return _Query(
        name, description, run, lambda: dict(database[collection].find(first, projection).explain())
    )


def _gold_count(
    database: Database[Any], stations: list[str], start: datetime, end: datetime
) -> int | None:
    """Return how many measurement documents the gold daily documents count for ``stations``
    over the whole UTC days [start, end), or None when there is no gold layer."""
    if DAILY_COLLECTION not in database.list_collection_names():
        return None
    daily = database[DAILY_COLLECTION]
    days = {"$gte": start, "$lt": end}
    # one indexed read per station: an $in with a range is a collection scan on SecantusDB
    return sum(
        int(d.get("documents") or 0)
        for station in stations
        for d in daily.find({"station_id": station, "period_start": days}, {"documents": 1})
    )


def _count_query(
    database: Database[Any], collection: str, station: str, start: datetime, end: datetime
) -> _Query:
    """Return ``count_documents`` of one station over [start, end), explained as the aggregate
    it sends."""
    query = {"station.id": station, "timestamp": {"$gte": start, "$lt": end}}
    pipeline = [{"$match": query}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    explain = {"aggregate": collection, "pipeline": pipeline, "cursor": {}}
    return _Query(
        "count_station",
        f"count of {station}'s observations over the last 7 UTC days",
        lambda: database[collection].count_documents(query),
        lambda: dict(database.command("explain", explain, verbosity="queryPlanner")),
    )


def _stations_of(database: Database[Any], target: MongoTarget, query: dict[str, Any]) -> list[str]:
    """Return the ids of the stations matching ``query`` in the stations collection."""
    return [d["_id"] for d in database[target.stations_collection].find(query, {"_id": 1})]


def _standard_queries(
    database: Database[Any], target: MongoTarget, sample: dict[str, Any], cap: int
) -> list[_Query]:
    """Return the standard queries, parameterised by the most recent observation ``sample``.

    Network and place queries follow the indexes the target has: with ``network_index`` /
    ``geo_index`` they filter the measurements directly (the seed's way); otherwise they find
    the station ids in ``stations`` (its network and 2dsphere indexes) and read the measurements
    by station id and time on the natural-key index.
    """
    station, network = sample["station"]["id"], sample["station"]["network"]
    latest: datetime = sample["timestamp"]
    day = latest.replace(hour=0, minute=0, second=0, microsecond=0)
    next_day = day + timedelta(days=1)
    week_start = day - timedelta(days=6)
    month, next_month = _month(latest)
    measurements = target.collection
    point = sample["station"]["location_geo"]
    one_day = {"station.id": station, "timestamp": {"$gte": day, "$lt": next_day}}
    week = {"$gte": week_start, "$lt": next_day}
    network_stations = _stations_of(database, target, {"network": network})
    near = {"$near": {"$geometry": point, "$maxDistance": 25_000}}
    near_stations = _stations_of(database, target, {"location_geo": near})
    temperature = {"measurements.temperature": 1}
    week_text = f"one network ({network}), the 7 UTC days to {day:%Y-%m-%d}"
    near_text = f"observations within 25 km of {station} on {day:%Y-%m-%d}"
    if target.network_index:
        network_query = _find_query(database, measurements, "network_week", week_text, cap,
                                    filter={"station.network": network, "timestamp": week},
                                    projection=temperature)  # fmt: skip
    else:
        network_query = _per_station_query(
            database, measurements, "network_week", f"{week_text}, stations first", cap,
            [{"station.id": s, "timestamp": week} for s in network_stations], temperature,
        )  # fmt: skip
    if target.geo_index:
        near_query = _find_query(database, measurements, "near_point", near_text, cap,
                                 filter={"station.location_geo": near,
                                         "timestamp": {"$gte": day, "$lt": next_day}})  # fmt: skip
    else:
        near_query = _per_station_query(
            database, measurements, "near_point", f"{near_text}, stations first ($near)", cap,
            [{"station.id": s, "timestamp": {"$gte": day, "$lt": next_day}} for s in near_stations],
        )  # fmt: skip
    daily = {"station_id": station, "period_start": {"$gte": month, "$lt": next_month}}
    queries = [
        _find_query(database, measurements, "station_day",
                    f"one station ({station}), one UTC day ({day:%Y-%m-%d})", cap, filter=one_day),
        network_query,
        near_query,
        _find_query(database, DAILY_COLLECTION, "daily_means_month",
                    f"daily aggregates of {station} for {month:%Y-%m} ({DAILY_COLLECTION})", cap,
                    filter=daily, projection={"period_start": 1, "measurements.temperature": 1},
                    sort=[("period_start", 1)]),
        _count_query(database, measurements, station, next_day - timedelta(days=7), next_day),
    ]  # fmt: skip
    counts = {
        "station_day": lambda: _gold_count(database, [station], day, next_day),
        "network_week": lambda: _gold_count(database, network_stations, week_start, next_day),
        "near_point": lambda: _gold_count(database, near_stations, day, next_day),
    }
    return [
        _Query(q.name, q.description, q.run, q.explain, counts.get(q.name, q.matching))
        for q in queries
    ]


def _measure(query: _Query, timer: CommandTimer, iterations: int, share_s: float) -> QueryTiming:
    """Run ``query`` until ``share_s`` seconds are spent (at least once, at most ``iterations``
    times) and explain it."""
    durations = []
    rows = 0
    started = time.perf_counter()
    for _ in range(max(1, iterations)):
        rows, elapsed = timer.time(query.run)
        durations.append(elapsed)
        if time.perf_counter() - started >= share_s:
            break
    plan = _plan_summary(query.explain())
    matching = query.matching()
    if matching is None and query.name in ("count_station", "daily_means_month"):
        matching = rows  # a count, or a month of daily documents: never near the cap
    return QueryTiming(query.name, query.description, tuple(durations), rows, plan, matching)


def latest_observation(database: Database[Any], target: MongoTarget) -> dict[str, Any] | None:
    """Return the most recent measurement document without sorting the measurements.

    The stations collection keeps each station's ``last_observation`` (set by every load), so
    the latest document is one indexed lookup; stations loaded before that field existed are
    looked up one by one on the natural-key index (and without any station document, the
    whole collection is sorted: slow, but the pipeline always writes stations).
    """
    collection = database[target.collection]
    stations = list(database[target.stations_collection].find({}, {"last_observation": 1}))
    known = [s for s in stations if s.get("last_observation")]
    if known:
        newest = max(known, key=lambda s: s["last_observation"])
        found = collection.find_one(
            {"station.id": newest["_id"], "timestamp": newest["last_observation"]}
        )
        if found is not None:
            return found
    if not stations:  # measurements without station documents: the whole collection is sorted
        return collection.find_one(sort=[("timestamp", -1)])
    latest = None
    for station in stations:
        found = collection.find_one({"station.id": station["_id"]}, sort=[("timestamp", -1)])
        if found and (latest is None or found["timestamp"] > latest["timestamp"]):
            latest = found
    return latest


def measure_latency(
    client: MongoClient[Any], target: MongoTarget, iterations: int, budget: Budget = Budget()
) -> list[QueryTiming]:
    """Time the standard data-science queries, within ``budget``, with their plans.

    Times are server round trips seen by the ``CommandTimer`` of ``client``; a client without
    one (e.g. from ``connect``) is replaced by a ``measuring_client(target)`` for the duration.
    Query parameters come from the most recent stored observation; an empty collection gives no
    timings. The daily-aggregates query is left out while ``weather_daily`` does not exist (the
    gold layer was never built there); once it exists it is measured, empty or not.
    """
    timer = command_timer(client)
    if timer is None:
        with measuring_client(target) as measuring:
            return measure_latency(measuring, target, iterations, budget)
    database = client[target.database]
    sample = latest_observation(database, target)
    if sample is None:
        return []
    gold = DAILY_COLLECTION in database.list_collection_names()
    queries = [
        query
        for query in _standard_queries(database, target, sample, budget.row_cap)
        if gold or query.name != "daily_means_month"
    ]
    share = budget.total_s / max(1, len(queries))
    return [_measure(query, timer, iterations, share) for query in queries]
