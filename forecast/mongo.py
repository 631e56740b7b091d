"""MongoDB adapter: the only module that imports pymongo.

Everything goes through a URI, so the local SecantusDB server and a production replica set are
the same code path. Loads are unordered bulk upserts of deterministic ``_id``s in bounded
batches; transient driver errors become ``TransientError`` so the caller may rerun the load,
which is safe because every write is an idempotent upsert.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from pymongo import ASCENDING, GEOSPHERE, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WriteConcernError,
)

from forecast.documents import WritePlan, nested
from forecast.errors import ConfigurationError, TransientError
from forecast.schema import STATIONS, conform

_TRANSIENT = (AutoReconnect, ConnectionFailure, NetworkTimeout, NotPrimaryError, WriteConcernError)

MEASUREMENT_INDEXES = (
    IndexModel([("station.id", ASCENDING), ("timestamp", ASCENDING)], unique=True, name="station_id_timestamp"),
    IndexModel([("station.network", ASCENDING), ("timestamp", ASCENDING)], name="network_timestamp"),
    IndexModel([("station.location_geo", GEOSPHERE)], name="location_geo_2dsphere"),
)  # fmt: skip
STATION_INDEXES = (
    IndexModel([("location_geo", GEOSPHERE)], name="location_geo_2dsphere"),
    IndexModel([("network", ASCENDING)], name="network"),
)


@dataclass(frozen=True)
class MongoTarget:
    """Where observations go. ``uri`` may hold credentials: it is never printed or logged."""

    uri: str = field(repr=False)
    database: str = "forecast_2_0"
    collection: str = "weather_measurements"
    stations_collection: str = "stations"
    batch_size: int = 1000

    @property
    def display(self) -> str:
        """Return a printable description with credentials removed."""
        return f"{redact(self.uri)} {self.database}.{self.collection}"


# Everything between "scheme://" and the LAST "@" is user info: passwords are often typed with
# an unescaped "@", and a mistyped scheme must not print them either. Over-redacting a URI whose
# query holds an "@" is the safe failure.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@")


def redact(uri: str) -> str:
    """Return ``uri`` without its user:password part, whatever the scheme."""
    return _USERINFO.sub(r"\1***@", uri, count=1)


def _scrub(text: str, uri: str) -> str:
    """Return ``text`` with the URI's user info, and its password alone, replaced by ***."""
    found = _USERINFO.match(uri)
    if not found:
        return text
    userinfo = found.group(2)
    secrets = sorted({userinfo, userinfo.partition(":")[2]} - {""}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@contextmanager
def connect(target: MongoTarget, *, timeout_ms: int = 10_000) -> Iterator[MongoClient[Any]]:
    """Yield a connected client (tz-aware datetimes); unreachable servers raise TransientError.

    ``timeout_ms`` bounds server selection unless the URI sets ``serverSelectionTimeoutMS``.
    """
    options: dict[str, Any] = {"tz_aware": True, "appname": "forecast-2-0"}
    if "serverselectiontimeoutms" not in target.uri.lower():  # the URI's own setting wins
        options["serverSelectionTimeoutMS"] = timeout_ms
    try:
        client: MongoClient[Any] = MongoClient(target.uri, **options)
    except (
        PyMongoError,
        ValueError,
    ) as exc:  # InvalidURI, ConfigurationError; bad ports: ValueError
        raise ConfigurationError(
            f"invalid MongoDB URI {redact(target.uri)}: {_scrub(str(exc), target.uri)}"
        ) from exc
    try:
        client.admin.command("ping")
        yield client
    except ServerSelectionTimeoutError as exc:
        raise TransientError(
            f"MongoDB at {redact(target.uri)} is unreachable: {_scrub(str(exc), target.uri)}"
        ) from exc
    finally:
        client.close()


def _ensure_indexes(collection: Collection[Any], wanted: Sequence[IndexModel]) -> list[str]:
    """Create the ``wanted`` indexes that do not exist yet; return the names created.

    Existing indexes are compared by name and key, not re-sent: servers add options of their
    own (``2dsphereIndexVersion``) and some refuse a re-creation that differs only by those.
    """
    existing = {index["name"]: dict(index["key"]) for index in collection.list_indexes()}
    missing = []
    for model in wanted:
        spec = model.document
        if spec["name"] not in existing:
            missing.append(model)
        elif existing[spec["name"]] != dict(spec["key"]):
            raise ConfigurationError(
                f"index {spec['name']!r} on {collection.full_name} has key {existing[spec['name']]}, "
                f"expected {dict(spec['key'])}: drop it and rerun"
            )
    return collection.create_indexes(missing) if missing else []


def ensure_collections(client: MongoClient[Any], target: MongoTarget) -> list[str]:
    """Create the measurement and station indexes that are missing; return their names."""
    database: Database[Any] = client[target.database]
    try:
        return _ensure_indexes(database[target.collection], MEASUREMENT_INDEXES) + _ensure_indexes(
            database[target.stations_collection], STATION_INDEXES
        )
    except _TRANSIENT as exc:
        raise TransientError(f"creating indexes failed: {_scrub(str(exc), target.uri)}") from exc


def upsert_stations(client: MongoClient[Any], target: MongoTarget, stations: pa.Table) -> int:
    """Upsert station documents (GeoJSON location) keyed by station id; return how many changed."""
    rows = conform(stations, STATIONS).to_pylist()
    operations = [
        UpdateOne(
            {"_id": row["station_id"]},
            {
                "$set": {
                    **{
                        k: v
                        for k, v in row.items()
                        if k not in ("station_id", "latitude", "longitude")
                    },
                    "location_geo": {
                        "type": "Point",
                        "coordinates": [row["longitude"], row["latitude"]],
                    },
                }
            },
            upsert=True,
        )
        for row in rows
    ]
    if not operations:
        return 0
    try:
        result = client[target.database][target.stations_collection].bulk_write(
            operations, ordered=False
        )
    except _TRANSIENT as exc:
        raise TransientError(f"upserting stations failed: {_scrub(str(exc), target.uri)}") from exc
    return result.upserted_count + result.modified_count


@dataclass
class LoadCounts:
    """What a load did: every input entry is inserted, updated, unchanged or failed."""

    input: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (_id, server message)

    def add(self, *, entries: int, upserted: int, matched: int, modified: int) -> None:
        """Account for one bulk write's result."""
        self.input += entries
        self.inserted += upserted
        self.updated += modified
        self.unchanged += matched - modified


def operations(plan: WritePlan) -> list[UpdateOne]:
    """Return the idempotent upserts of a write plan."""
    return [
        UpdateOne({"_id": _id}, {"$set": body, "$setOnInsert": first}, upsert=True)
        for _id, body, first in zip(
            plan.ids.to_pylist(),
            plan.set_fields.to_pylist(),
            plan.insert_fields.to_pylist(),
            strict=True,
        )
    ]


def _write_batch(
    collection: Collection[Any], plan: WritePlan, counts: LoadCounts, uri: str
) -> None:
    ops = operations(plan)
    try:
        result = collection.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        details = exc.details
        errors = details.get("writeErrors", [])
        if details.get("writeConcernErrors"):
            raise TransientError(
                f"write concern not satisfied: {details['writeConcernErrors'][0]}"
            ) from exc
        counts.add(
            entries=len(ops) - len(errors),
            upserted=details.get("nUpserted", 0),
            matched=details.get("nMatched", 0),
            modified=details.get("nModified", 0),
        )
        ids = plan.ids.to_pylist()
        counts.input += len(errors)
        counts.failed += len(errors)
        counts.failures += [
            (ids[e["index"]], f"code {e.get('code')}: {e.get('errmsg')}") for e in errors
        ]
        return
    except _TRANSIENT as exc:
        raise TransientError(f"bulk write interrupted: {_scrub(str(exc), uri)}") from exc
    counts.add(
        entries=len(ops),
        upserted=result.upserted_count,
        matched=result.matched_count,
        modified=result.modified_count,
    )


def load(client: MongoClient[Any], target: MongoTarget, plans: Sequence[WritePlan]) -> LoadCounts:
    """Upsert every planned document in batches of ``target.batch_size``."""
    collection = client[target.database][target.collection]
    counts = LoadCounts()
    for plan in plans:
        for offset in range(0, len(plan), target.batch_size):
            _write_batch(collection, plan.slice(offset, target.batch_size), counts, target.uri)
    return counts


def fetch(
    client: MongoClient[Any], target: MongoTarget, ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return the stored documents with the given ``_id``s, keyed by ``_id``."""
    collection = client[target.database][target.collection]
    return {doc["_id"]: doc for doc in collection.find({"_id": {"$in": list(ids)}})}


def expected_documents(plan: WritePlan) -> dict[str, dict[str, Any]]:
    """Return the documents a plan describes, as stored (without the insert-only fields)."""
    return {
        _id: nested(body)
        for _id, body in zip(plan.ids.to_pylist(), plan.set_fields.to_pylist(), strict=True)
    }


# --- query latency -------------------------------------------------------------------------


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
