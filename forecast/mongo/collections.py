"""Collection setup (indexes, idempotent) and the stations collection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pymongo import ASCENDING, GEOSPHERE, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from forecast.errors import ConfigurationError, TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub
from forecast.schema import STATIONS, conform

MEASUREMENT_INDEXES = (
    IndexModel([("station.id", ASCENDING), ("timestamp", ASCENDING)], unique=True, name="station_id_timestamp"),
    IndexModel([("station.network", ASCENDING), ("timestamp", ASCENDING)], name="network_timestamp"),
    IndexModel([("station.location_geo", GEOSPHERE)], name="location_geo_2dsphere"),
)  # fmt: skip
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


def ensure_collections(client: MongoClient[Any], target: MongoTarget) -> list[str]:
    """Create the measurement and station indexes that are missing; return their names."""
    database: Database[Any] = client[target.database]
    try:
        return ensure_indexes(database[target.collection], MEASUREMENT_INDEXES) + ensure_indexes(
            database[target.stations_collection], STATION_INDEXES
        )
    except TRANSIENT as exc:
        raise TransientError(f"creating indexes failed: {scrub(str(exc), target.uri)}") from exc


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
    except TRANSIENT as exc:
        raise TransientError(f"upserting stations failed: {scrub(str(exc), target.uri)}") from exc
    return result.upserted_count + result.modified_count
