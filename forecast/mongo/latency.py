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
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pymongo import MongoClient, monitoring
from pymongo.database import Database

from forecast.mongo.client import MongoTarget, connect
from forecast.mongo.gold import DAILY_COLLECTION

"""The gold collection of daily aggregates (one document per station, measurement and day)."""

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


def _month(moment: datetime) -> tuple[datetime, datetime]:
    """Return the first instants of ``moment``'s month and of the next month."""
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def _find_query(
    database: Database[Any], collection: str, name: str, description: str, **find: Any
) -> _Query:
    """Return a query that runs ``find(**find)`` on ``collection`` and counts the documents."""
    return _Query(
        name,
        description,
        lambda: len(list(database[collection].find(**find))),
        lambda: dict(database[collection].find(**find).explain()),
    )


def _count_query(database: Database[Any], collection: str, station: str) -> _Query:
    """Return ``count_documents({"station.id": station})``, explained as the aggregate it sends."""
    query = {"station.id": station}
    pipeline = [{"$match": query}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    explain = {"aggregate": collection, "pipeline": pipeline, "cursor": {}}
    return _Query(
        "count_station",
        f"count of {station}'s observations",
        lambda: database[collection].count_documents(query),
        lambda: dict(database.command("explain", explain, verbosity="queryPlanner")),
    )


def _standard_queries(
    database: Database[Any], target: MongoTarget, sample: dict[str, Any]
) -> list[_Query]:
    """Return the standard queries, parameterised by the most recent observation ``sample``."""
    station, network = sample["station"]["id"], sample["station"]["network"]
    latest: datetime = sample["timestamp"]
    day = latest.replace(hour=0, minute=0, second=0, microsecond=0)
    month, next_month = _month(latest)
    measurements = target.collection
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
    daily = {
        "station_id": station,
        "measurement": "temperature",
        "period_start": {"$gte": month, "$lt": next_month},
    }
    return [
        _find_query(database, measurements, "station_day",
                    f"one station ({station}), one UTC day ({day:%Y-%m-%d})", filter=one_day),
        _find_query(database, measurements, "network_week",
                    f"one network ({network}) over the last 7 days", filter=week,
                    projection={"measurements.temperature": 1}),
        _find_query(database, measurements, "near_point",
                    f"observations within 25 km of {station} ($near, first 500)", filter=near,
                    limit=500),
        _find_query(database, DAILY_COLLECTION, "daily_means_month",
                    f"daily temperature aggregates of {station} for {month:%Y-%m} ({DAILY_COLLECTION})",
                    filter=daily, sort=[("period_start", 1)]),
        _count_query(database, measurements, station),
    ]  # fmt: skip


def _measure(query: _Query, timer: CommandTimer, iterations: int) -> QueryTiming:
    """Run ``query`` ``iterations`` times (at least once) and explain it."""
    durations = []
    rows = 0
    for _ in range(max(1, iterations)):
        rows, elapsed = timer.time(query.run)
        durations.append(elapsed)
    plan = _plan_summary(query.explain())
    return QueryTiming(query.name, query.description, tuple(durations), rows, plan)


def measure_latency(
    client: MongoClient[Any], target: MongoTarget, iterations: int
) -> list[QueryTiming]:
    """Time the standard data-science queries ``iterations`` times each, with their plans.

    Times are server round trips seen by the ``CommandTimer`` of ``client``; a client without
    one (e.g. from ``connect``) is replaced by a ``measuring_client(target)`` for the duration.
    Query parameters come from the most recent stored observation; an empty collection gives no
    timings. The daily-aggregates query is left out while ``weather_daily`` does not exist (the
    gold layer was never built there); once it exists it is measured, empty or not.
    """
    timer = command_timer(client)
    if timer is None:
        with measuring_client(target) as measuring:
            return measure_latency(measuring, target, iterations)
    database = client[target.database]
    sample = database[target.collection].find_one(sort=[("timestamp", -1)])
    if sample is None:
        return []
    gold = DAILY_COLLECTION in database.list_collection_names()
    return [
        _measure(query, timer, iterations)
        for query in _standard_queries(database, target, sample)
        if gold or query.name != "daily_means_month"
    ]
