"""Gold aggregates: daily and hourly min/max/mean/count of every measurement, per station.

They are computed on the client, vectorised (Arrow ``group_by``), from the documents the
reconciliation has just read back for the station-days a run touched: the whole UTC days, so
documents loaded by earlier runs are included and the aggregates are exact. One gold document
per station and UTC day holds the day and its hours::

    weather_daily:
    {_id: "<station_id>:<day YYYY-MM-DDT00:00:00Z>", station_id, network, period: "day",
     period_start: <UTC midnight>, documents: <measurement documents that day>,
     measurements: {<key>: {unit, min, max, mean, count}, ...},      # keys with a value only
     hours: [{period_start, documents, measurements: {...}}, ...],   # hours with documents
     source: {documents, digest_sum}, updated_at}

``weather_hourly`` is a read-only view that unwinds ``hours`` into one document per station and
hour (``_id`` ``<station_id>:<hour>``, ``period: "hour"``), for convenience; reading
``weather_daily`` with a ``station_id``/``period_start`` range (its index) is the fast way.

``source`` records what a day was computed from (its documents and the sum of their content
digests modulo 2**31, see ``forecast.mongo.digest``). A station-day whose stored documents still have
that count and sum is left alone, so a rerun that changes nothing rewrites nothing; a changed
one is replaced in one write, a day without documents left is deleted.

One document per station-day rather than per station, measurement and hour: a month of 60
ten-minute stations is 1.9k gold documents instead of 361k (measured on SecantusDB: ~3.5k small
documents/s, ~0.6 s instead of ~100 s, the load itself taking ~100 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pymongo import ASCENDING, IndexModel, MongoClient, ReplaceOne
from pymongo.collection import Collection
from pymongoarrow.api import Schema, find_arrow_all

from forecast.mongo.client import MongoTarget, server_errors
from forecast.mongo.collections import ensure_indexes
from forecast.mongo.digest import SUM_MODULUS
from forecast.mongo.reconcile import GOLD_READ, gold_rows
from forecast.schema import MEASUREMENT_KEYS, UNITS

HOURLY_COLLECTION = "weather_hourly"
"""A view on ``weather_daily`` with one document per station and hour."""
DAILY_COLLECTION = "weather_daily"
GOLD_INDEXES = (
    IndexModel(
        [("station_id", ASCENDING), ("period_start", ASCENDING)], unique=True, name="station_period"
    ),
    IndexModel([("period_start", ASCENDING)], name="period_start"),
)
LEGACY_INDEX = "station_measurement_period"
"""The index of the former one-document-per-measurement gold layout (removed on setup)."""
PERIOD_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How ``period_start`` is written in a gold ``_id``."""
HOURLY_VIEW = [
    {"$unwind": "$hours"},
    {"$project": {
        "_id": {"$concat": ["$station_id", ":", {"$dateToString": {"date": "$hours.period_start", "format": PERIOD_FORMAT}}]},
        "station_id": 1, "network": 1, "period": {"$literal": "hour"},
        "period_start": "$hours.period_start", "documents": "$hours.documents",
        "measurements": "$hours.measurements", "updated_at": 1,
    }},
]  # fmt: skip
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class GoldCounts:
    """What a refresh covered: station-days, the gold documents they have, and how many days
    were (re)written because their documents changed."""

    days: int
    hourly_documents: int
    daily_documents: int
    rewritten_days: int = 0

    def __add__(self, other: GoldCounts) -> GoldCounts:
        return GoldCounts(
            self.days + other.days, self.hourly_documents + other.hourly_documents,
            self.daily_documents + other.daily_documents, self.rewritten_days + other.rewritten_days,
        )  # fmt: skip


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


# ---------------------------------------------------------------------------------------------
# Computing (pure)


def aggregate(rows: pa.Table) -> dict[str, pa.Table]:
    """Return the hourly and daily aggregates of measurement documents (one row per station
    and period): ``documents``, and ``<key>_min/_max/_mean/_count`` per measurement; the daily
    table also ``digest_sum``.

    ``rows`` is in the flat layout of ``reconcile.gold_rows`` (station_id, network, timestamp,
    digest, one value column per measurement). Null values are not counted; a measurement
    without a value in a period has ``count`` 0.
    """
    values = {name: rows.column(name) for name in rows.column_names if name in MEASUREMENT_KEYS}
    timestamps = rows.column("timestamp")
    base = pa.table(
        {
            "station_id": rows.column("station_id"),
            "network": rows.column("network"),
            "hour": pc.floor_temporal(timestamps, unit="hour"),
            "day": pc.floor_temporal(timestamps, unit="day"),
            "digest_part": pc.fill_null(pc.bit_wise_and(rows.column("digest"), SUM_MODULUS - 1), 0),
            **values,
        }
    )
    stats = [(key, op) for key in values for op in ("min", "max", "mean", "count")]
    result = {}
    for period, column in (("hour", "hour"), ("day", "day")):
        extra = [("digest_part", "sum")] if period == "day" else []
        grouped = base.group_by(["station_id", column], use_threads=False).aggregate(
            [("network", "min"), ([], "count_all"), *stats, *extra]
        )
        renamed = {"count_all": "documents", "network_min": "network", column: "period_start",
                   "digest_part_sum": "digest_sum"}  # fmt: skip
        grouped = grouped.rename_columns([renamed.get(n, n) for n in grouped.column_names])
        result[period] = grouped.sort_by(
            [("station_id", "ascending"), ("period_start", "ascending")]
        )
    return result


def _measurement_stats(row: dict[str, Any], keys: list[str]) -> dict[str, dict[str, Any]]:
    return {
        key: {"unit": UNITS[key], "min": row[f"{key}_min"], "max": row[f"{key}_max"],
              "mean": row[f"{key}_mean"], "count": row[f"{key}_count"]}
        for key in keys
        if row[f"{key}_count"]
    }  # fmt: skip


def gold_documents(tables: dict[str, pa.Table], stamp: datetime) -> list[dict[str, Any]]:
    """Return one gold document per station-day of ``aggregate``'s tables, its hours inside
    (measurements without a value in a period are left out of it)."""
    daily, hourly = tables["day"], tables["hour"]
    keys = [name[: -len("_count")] for name in daily.column_names if name.endswith("_count")]
    hours: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    for row in hourly.to_pylist():
        start: datetime = row["period_start"]
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        hours.setdefault((row["station_id"], day), []).append(
            {"period_start": start, "documents": row["documents"],
             "measurements": _measurement_stats(row, keys)}
        )  # fmt: skip
    documents = []
    for row in daily.to_pylist():
        start = row["period_start"]
        documents.append({
            "_id": f"{row['station_id']}:{start.astimezone(UTC).strftime(PERIOD_FORMAT)}",
            "station_id": row["station_id"], "network": row["network"], "period": "day",
            "period_start": start, "documents": row["documents"],
            "measurements": _measurement_stats(row, keys),
            "hours": hours.get((row["station_id"], start), []),
            "source": {"documents": row["documents"], "digest_sum": row["digest_sum"]},
            "updated_at": stamp,
        })  # fmt: skip
    return documents


# ---------------------------------------------------------------------------------------------
# Writing


def ensure_gold_collections(
    client: MongoClient[Any],
    target: MongoTarget,
    *,
    hourly: str = HOURLY_COLLECTION,
    daily: str = DAILY_COLLECTION,
) -> list[str]:
    """Create the gold indexes and the hourly view when missing; return the indexes created.

    Gold in the former layout (one document per measurement and period, index
    ``station_measurement_period``, an hourly collection) is derived data: those documents
    are removed, and their station-days are rebuilt in this layout when a run touches them.
    """
    database = client[target.database]
    with server_errors("creating gold indexes", target.uri):
        existing = {info["name"]: info for info in database.list_collections()}
        if hourly in existing and existing[hourly].get("type") != "view":
            database.drop_collection(hourly)  # the former layout's hourly documents: derived data
        collection = database[daily]
        if LEGACY_INDEX in {index["name"] for index in collection.list_indexes()}:
            collection.delete_many({"measurement": {"$exists": True}})
            collection.drop_index(LEGACY_INDEX)
        created = ensure_indexes(collection, GOLD_INDEXES)
        if hourly not in existing or existing[hourly].get("type") != "view":
            database.command("create", hourly, viewOn=daily, pipeline=HOURLY_VIEW)
    return created


def _day_runs(days: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Return [start, end) ranges of consecutive UTC days."""
    runs: list[tuple[datetime, datetime]] = []
    for day in sorted(days):
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + _ONE_DAY)
        else:
            runs.append((day, day + _ONE_DAY))
    return runs


def _stored_sources(
    daily: Collection[Any], station: str, days: Sequence[datetime]
) -> dict[datetime, tuple[int | None, int | None]]:
    """Return {day: (documents, digest_sum)} of the daily gold documents a station has."""
    query = {
        "station_id": station,
        "period_start": {"$gte": min(days), "$lt": max(days) + _ONE_DAY},
    }
    found: dict[datetime, tuple[int | None, int | None]] = {}
    for document in daily.find(query, {"period_start": 1, "source": 1}):
        source = document.get("source") or {}
        start = document["period_start"]
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        found[start] = (source.get("documents"), source.get("digest_sum"))
    return found


def _station_refresh(
    daily: Collection[Any], station: str, tables: dict[str, pa.Table], stamp: datetime
) -> GoldCounts:
    """Write the gold documents of one station's days whose source changed."""
    days_table = tables["day"]
    days = [d.astimezone(UTC) for d in days_table.column("period_start").to_pylist()]
    wanted = dict(zip(days, zip(days_table.column("documents").to_pylist(),
                                days_table.column("digest_sum").to_pylist(), strict=True), strict=True))  # fmt: skip
    stored = _stored_sources(daily, station, days)
    stale = [day for day in days if stored.get(day) != wanted[day]]
    if stale:
        kind = days_table.column("period_start").type
        stale_days = pa.array(stale, kind)
        part = {
            "day": days_table.filter(pc.is_in(days_table.column("period_start"), value_set=stale_days)),
            "hour": tables["hour"].filter(pc.is_in(pc.floor_temporal(tables["hour"].column("period_start"), unit="day"), value_set=stale_days)),
        }  # fmt: skip
        documents = gold_documents(part, stamp)
        fresh = [d for d in documents if d["period_start"] not in stored]
        replaced = [
            ReplaceOne({"_id": d["_id"]}, d, upsert=True)
            for d in documents
            if d["period_start"] in stored
        ]
        for offset in range(0, len(fresh), 500):
            daily.insert_many(fresh[offset : offset + 500], ordered=False)
        if replaced:
            daily.bulk_write(replaced, ordered=False)
    return GoldCounts(len(days), tables["hour"].num_rows, days_table.num_rows, len(stale))


@dataclass(frozen=True)
class GoldUpdate:
    """The gold aggregates of some station-days, computed and not written yet (``prepare``)."""

    tables: dict[str, pa.Table]
    stamp: datetime

    def write(
        self, client: MongoClient[Any], target: MongoTarget, *, daily: str = DAILY_COLLECTION
    ) -> GoldCounts:
        """Write the gold documents whose station-day changed; return what was covered.

        Raises:
            TransientError: the server became unreachable; rewriting is safe.
        """
        collection = client[target.database][daily]
        total = GoldCounts(0, 0, 0)
        with server_errors("refreshing gold aggregates", target.uri):
            for station in pc.unique(self.tables["day"].column("station_id")).to_pylist():
                part = {
                    p: t.filter(pc.equal(t.column("station_id"), station))
                    for p, t in self.tables.items()
                }
                total = total + _station_refresh(collection, station, part, self.stamp)
        return total


def prepare(stored: pa.Table, *, now: datetime | None = None) -> GoldUpdate | None:
    """Aggregate the station-days in ``stored`` (no server call); None when it is empty.

    ``stored`` holds every measurement document of those station-days (whole UTC days) in the
    flat layout of ``reconcile.gold_rows``, as ``reconcile.checked_plans`` and
    ``read_station_days`` give them.
    """
    if not stored.num_rows:
        return None
    return GoldUpdate(aggregate(stored), (now or datetime.now(UTC)).replace(microsecond=0))


def refresh_from(
    client: MongoClient[Any],
    target: MongoTarget,
    stored: pa.Table,
    *,
    daily: str = DAILY_COLLECTION,
    now: datetime | None = None,
) -> GoldCounts:
    """Bring the gold documents of the station-days in ``stored`` up to date (``prepare``, then
    ``GoldUpdate.write``).

    Raises:
        TransientError: the server became unreachable; rerunning the refresh is safe.
    """
    update = prepare(stored, now=now)
    return update.write(client, target, daily=daily) if update else GoldCounts(0, 0, 0)


def read_station_days(
    client: MongoClient[Any], target: MongoTarget, station_days: Sequence[tuple[str, date]]
) -> pa.Table:
    """Return what gold needs of every measurement document of ``station_days`` (flat layout)."""
    collection = client[target.database][target.collection]
    parts = []
    by_station: dict[str, list[datetime]] = {}
    for station, day in sorted(set(station_days)):
        by_station.setdefault(station, []).append(datetime.combine(day, time(), UTC))
    schema = Schema({f.name: f.type for f in GOLD_READ})
    for station, days in by_station.items():
        for start, end in _day_runs(days):
            query = {"station.id": station, "timestamp": {"$gte": start, "$lt": end}}
            found = find_arrow_all(
                collection, query, schema=schema, projection=None, batch_size=10_000
            )
            parts.append(gold_rows(found))
    return pa.concat_tables(parts) if parts else gold_rows(GOLD_READ.empty_table())


def refresh(
    client: MongoClient[Any],
    target: MongoTarget,
    station_days: Sequence[tuple[str, date]],
    *,
    hourly: str = HOURLY_COLLECTION,
    daily: str = DAILY_COLLECTION,
) -> GoldCounts:
    """Recompute the gold documents of ``station_days`` from the stored measurements.

    A station-day without measurement documents left loses its gold documents.

    Raises:
        TransientError: the server became unreachable; rerunning the refresh is safe.
    """
    ensure_gold_collections(client, target, hourly=hourly, daily=daily)
    with server_errors("refreshing gold aggregates", target.uri):
        stored = read_station_days(client, target, station_days)
        counts = refresh_from(client, target, stored, daily=daily)
        emptied = _drop_empty_days(client, target, station_days, stored, daily=daily)
    return GoldCounts(counts.days + emptied, counts.hourly_documents, counts.daily_documents,
                      counts.rewritten_days + emptied)  # fmt: skip


def _drop_empty_days(
    client: MongoClient[Any], target: MongoTarget, station_days: Sequence[tuple[str, date]],
    stored: pa.Table, *, daily: str,
) -> int:  # fmt: skip
    """Delete the gold documents of requested station-days that have no measurement left."""
    present = set()
    if stored.num_rows:
        days = pc.cast(stored.column("timestamp"), pa.date32()).to_pylist()
        present = set(zip(stored.column("station_id").to_pylist(), days, strict=True))
    empty = sorted(set(station_days) - present)
    collection = client[target.database][daily]
    for station, day in empty:
        start = datetime.combine(day, time(), UTC)
        collection.delete_many(
            {"station_id": station, "period_start": {"$gte": start, "$lt": start + _ONE_DAY}}
        )
    return len(empty)
