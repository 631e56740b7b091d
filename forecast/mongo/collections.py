"""Collection setup (indexes, idempotent) and the stations collection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pymongo import ASCENDING, GEOSPHERE, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from forecast.errors import ConfigurationError
from forecast.mongo.client import MongoTarget, server_errors
from forecast.schema import STATIONS, conform

STATION_TIME_INDEX = IndexModel(
    [("station.id", ASCENDING), ("timestamp", ASCENDING)], unique=True, name="station_id_timestamp"
)
NETWORK_INDEX = IndexModel(
    [("station.network", ASCENDING), ("timestamp", ASCENDING)], name="network_timestamp"
)
GEO_INDEX = IndexModel([("station.location_geo", GEOSPHERE)], name="location_geo_2dsphere")
MEASUREMENT_INDEXES = (STATION_TIME_INDEX,)
"""The measurement indexes by default: the natural key, unique. A station's position and network
do not change between its measurements, so queries by place or network find station ids in
``stations`` first, then measurements by station id and time on this index."""
STATION_INDEXES = (
    IndexModel([("location_geo", GEOSPHERE)], name="location_geo_2dsphere"),
    IndexModel([("network", ASCENDING)], name="network"),
)


def ensure_indexes(collection: Collection[Any], wanted: Sequence[IndexModel]) -> list[str]:
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


def measurement_indexes(target: MongoTarget) -> tuple[IndexModel, ...]:
    """Return the measurement indexes ``target`` asks for.

    The seed's (station.network, timestamp) and per-measurement 2dsphere indexes are options
    (``network_index``, ``geo_index``): on SecantusDB each secondary index costs every inserted
    document (measured: insert_many of weather documents 2.0-2.9k docs/s with the natural key
    alone, about a third slower with the network index, about 3x slower with the 2dsphere one).
    """
    wanted = [STATION_TIME_INDEX]
    if target.network_index:
        wanted.append(NETWORK_INDEX)
    if target.geo_index:
        wanted.append(GEO_INDEX)
    return tuple(wanted)


def extra_indexes(collection: Collection[Any], wanted: Sequence[IndexModel]) -> list[str]:
    """Return the names of indexes on ``collection`` that ``wanted`` does not list (``_id`` aside).

    They are left in place (someone may rely on them) and reported: each costs every write.
    """
    names = {model.document["name"] for model in wanted} | {"_id_"}
    return sorted(
        index["name"] for index in collection.list_indexes() if index["name"] not in names
    )


def ensure_collections(client: MongoClient[Any], target: MongoTarget) -> list[str]:
    """Create the measurement and station indexes that are missing; return their names."""
    database: Database[Any] = client[target.database]
    with server_errors("creating indexes", target.uri):
        return ensure_indexes(
            database[target.collection], measurement_indexes(target)
        ) + ensure_indexes(database[target.stations_collection], STATION_INDEXES)


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
    with server_errors("upserting stations", target.uri):
        result = client[target.database][target.stations_collection].bulk_write(
            operations, ordered=False
        )
    return result.upserted_count + result.modified_count


def note_latest(client: MongoClient[Any], target: MongoTarget, latest: dict[str, Any]) -> None:
    """Keep each station's most recent observation time in ``stations.last_observation``.

    ``$max``: a load of older data never moves it back. The latency report finds the most
    recent observation through it without sorting the measurements.
    """
    operations = [
        UpdateOne({"_id": station}, {"$max": {"last_observation": when}})
        for station, when in latest.items()
    ]
    if not operations:
        return
    with server_errors("updating stations", target.uri):
        client[target.database][target.stations_collection].bulk_write(operations, ordered=False)
