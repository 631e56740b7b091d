"""MongoDB adapter: the only package that imports pymongo.

Everything goes through a URI, so the local SecantusDB server and a production replica set are
the same code path. Loads are unordered bulk upserts of deterministic ``_id``s in bounded
batches; transient driver errors become ``TransientError`` so the caller may rerun the load,
which is safe because every write is an idempotent upsert.
"""

from forecast.mongo.client import TRANSIENT, MongoTarget, connect, redact, scrub
from forecast.mongo.collections import (
    MEASUREMENT_INDEXES,
    STATION_INDEXES,
    ensure_collections,
    upsert_stations,
)
from forecast.mongo.latency import QueryTiming, measure_latency
from forecast.mongo.load import LoadCounts, expected_documents, fetch, load, operations

__all__ = [
    "MEASUREMENT_INDEXES",
    "STATION_INDEXES",
    "TRANSIENT",
    "LoadCounts",
    "MongoTarget",
    "QueryTiming",
    "connect",
    "ensure_collections",
    "expected_documents",
    "fetch",
    "load",
    "measure_latency",
    "operations",
    "redact",
    "scrub",
    "upsert_stations",
]
