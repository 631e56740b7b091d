"""Gold aggregates: hourly and daily min/max/mean/count per station and measurement.

The server computes them for the station-days a run touched (per station and run of consecutive
days, one aggregation per period that ends in ``$merge`` into the gold collection), so a refresh
is bounded by what the run loaded and no measurement document leaves the server. A recompute is
exact: every gold document of a refreshed station-day is rewritten with the refresh's
``updated_at`` stamp, and the ones left with an older stamp (their source data is gone) are
deleted.

Gold document (``weather_hourly`` and ``weather_daily``)::

    {_id: "<station_id>:<measurement>:<period_start YYYY-MM-DDTHH:MM:SSZ>", station_id, network,
     measurement, unit, period: "hour" | "day", period_start: <UTC datetime>,
     min, max, mean, count, updated_at}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.collection import Collection

from forecast.errors import TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub
from forecast.mongo.collections import ensure_indexes

HOURLY_COLLECTION = "weather_hourly"
DAILY_COLLECTION = "weather_daily"
GOLD_INDEXES = (
    IndexModel(
        [("station_id", ASCENDING), ("measurement", ASCENDING), ("period_start", ASCENDING)],
        unique=True,
        name="station_measurement_period",
    ),
    IndexModel([("period_start", ASCENDING)], name="period_start"),
)
PERIOD_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How ``period_start`` is written in a gold ``_id``."""
MAX_RANGE_DAYS = 31
"""Consecutive days of one station recomputed by one aggregation (bounds its ``$group``)."""

_ONE_DAY = timedelta(days=1)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class GoldCounts:
    """What a refresh covered: station-days, and the gold documents they now have."""

    days: int
    hourly_documents: int
    daily_documents: int


def touched_days(valid: pa.Table) -> list[tuple[str, date]]:
    """Return the distinct (station id, UTC date) pairs of a validated table, sorted."""
    timestamps = valid.column("timestamp")
    utc = timestamps.cast(pa.timestamp(timestamps.type.unit, tz="UTC"))
    pairs = pa.table(
        {"station_id": valid.column("station_id"), "day": pc.cast(utc, pa.date32())}
    ).drop_null()
    distinct = (
        pairs.group_by(["station_id", "day"], use_threads=False)
        .aggregate([])
        .sort_by([("station_id", "ascending"), ("day", "ascending")])
    )
    return list(
        zip(
            distinct.column("station_id").to_pylist(),
            distinct.column("day").to_pylist(),
            strict=True,
        )
    )


def _ranges(station_days: Sequence[tuple[str, date]]) -> list[tuple[str, datetime, datetime]]:
    """Return [start, end) UTC ranges per station: consecutive days merged, up to MAX_RANGE_DAYS."""
    ranges: list[tuple[str, datetime, datetime]] = []
    for station_id, day in sorted(set(station_days)):
        start = datetime.combine(day, time(), tzinfo=UTC)
        if (
            ranges
            and ranges[-1][0] == station_id
            and ranges[-1][2] == start
            and start - ranges[-1][1] < MAX_RANGE_DAYS * _ONE_DAY
        ):
            ranges[-1] = (station_id, ranges[-1][1], start + _ONE_DAY)
        else:
            ranges.append((station_id, start, start + _ONE_DAY))
    return ranges


def pipeline(
    match: dict[str, Any], period: str, stamp: datetime, into: str
) -> list[dict[str, Any]]:
    """Return the aggregation writing the ``period`` ("hour" or "day") aggregates into ``into``.

    Null (or non-numeric) values are skipped; a measurement without any value in a period has
    no gold document for it.
    """
    return [
        {"$match": match},
        {"$project": {  # scalars only: every field is copied once per unwound measurement
            "_id": 0,
            "station_id": "$station.id",
            "network": "$station.network",
            "period_start": {"$dateTrunc": {"date": "$timestamp", "unit": period}},
            "m": {"$objectToArray": "$measurements"},
        }},
        {"$unwind": "$m"},
        {"$match": {"m.v.value": {"$type": "number"}}},
        {"$group": {
            "_id": {"station_id": "$station_id", "measurement": "$m.k", "period_start": "$period_start"},
            "network": {"$first": "$network"},
            "unit": {"$first": "$m.v.unit"},
            "min": {"$min": "$m.v.value"},
            "max": {"$max": "$m.v.value"},
            "mean": {"$avg": "$m.v.value"},
            "count": {"$sum": 1},
        }},
        {"$project": {
            "_id": {"$concat": [
                "$_id.station_id", ":", "$_id.measurement", ":",
                {"$dateToString": {"date": "$_id.period_start", "format": PERIOD_FORMAT}},
            ]},
            "station_id": "$_id.station_id",
            "network": "$network",
            "measurement": "$_id.measurement",
            "unit": "$unit",
            "period": {"$literal": period},
            "period_start": "$_id.period_start",
            "min": "$min",
            "max": "$max",
            "mean": "$mean",
            "count": "$count",
            "updated_at": {"$literal": stamp},
        }},
        {"$merge": {"into": into, "on": "_id", "whenMatched": "replace", "whenNotMatched": "insert"}},
    ]  # fmt: skip


def ensure_gold_collections(
    client: MongoClient[Any],
    target: MongoTarget,
    *,
    hourly: str = HOURLY_COLLECTION,
    daily: str = DAILY_COLLECTION,
) -> list[str]:
    """Create the gold indexes that are missing; return their names."""
    database = client[target.database]
    try:
        return ensure_indexes(database[hourly], GOLD_INDEXES) + ensure_indexes(
            database[daily], GOLD_INDEXES
        )
    except TRANSIENT as exc:
        raise TransientError(
            f"creating gold indexes failed: {scrub(str(exc), target.uri)}"
        ) from exc


def _stamp(collections: Sequence[Collection[Any]], gold_filter: dict[str, Any]) -> datetime:
    """Return now (ms precision), or later: strictly after every stamp the station-days have."""
    now = datetime.now(UTC)
    stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)
    for collection in collections:
        latest = collection.find_one(gold_filter, {"updated_at": 1}, sort=[("updated_at", -1)])
        if latest and isinstance(latest.get("updated_at"), datetime):
            previous = latest["updated_at"]
            previous = previous if previous.tzinfo else previous.replace(tzinfo=UTC)
            stamp = max(stamp, previous + _ONE_MS)
    return stamp


def _refresh_range(
    source: Collection[Any],
    gold: dict[str, Collection[Any]],
    station_range: tuple[str, datetime, datetime],
) -> dict[str, int]:
    """Recompute the gold documents of one station's days; return how many each period has.

    One station and one time range per aggregation: every filter is a prefix of an index (an
    ``$or`` of ranges is planned as a collection scan by some servers, SecantusDB among them).
    """
    station_id, start, end = station_range
    match = {"station.id": station_id, "timestamp": {"$gte": start, "$lt": end}}
    gold_filter = {"station_id": station_id, "period_start": {"$gte": start, "$lt": end}}
    stamp = _stamp(list(gold.values()), gold_filter)
    counts = {}
    for period, collection in gold.items():
        source.aggregate(pipeline(match, period, stamp, collection.name)).close()
        collection.delete_many({**gold_filter, "updated_at": {"$lt": stamp}})
        counts[period] = collection.count_documents(gold_filter)
    return counts


def refresh(
    client: MongoClient[Any],
    target: MongoTarget,
    station_days: Sequence[tuple[str, date]],
    *,
    hourly: str = HOURLY_COLLECTION,
    daily: str = DAILY_COLLECTION,
) -> GoldCounts:
    """Recompute the hourly and daily aggregates of ``station_days`` from the measurements.

    Idempotent: refreshing again rewrites the same values (only ``updated_at`` moves). Gold
    documents of a refreshed station-day whose data is gone are deleted.

    Raises:
        TransientError: the server became unreachable; rerunning the refresh is safe.
    """
    ensure_gold_collections(client, target, hourly=hourly, daily=daily)
    database = client[target.database]
    gold = {"hour": database[hourly], "day": database[daily]}
    wanted = sorted(set(station_days))
    totals = {"hour": 0, "day": 0}
    try:
        for station_range in _ranges(wanted):
            counts = _refresh_range(database[target.collection], gold, station_range)
            for period, count in counts.items():
                totals[period] += count
    except TRANSIENT as exc:
        raise TransientError(
            f"refreshing gold aggregates failed: {scrub(str(exc), target.uri)}"
        ) from exc
    return GoldCounts(len(wanted), totals["hour"], totals["day"])
