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
    measurement_indexes,
    upsert_stations,
)
from forecast.mongo.gold import (
    DAILY_COLLECTION,
    HOURLY_COLLECTION,
    GoldCounts,
    ensure_gold_collections,
    touched_days,
)
from forecast.mongo.gold import refresh as refresh_gold
from forecast.mongo.latency import Budget, QueryTiming, measure_latency, measuring_client
from forecast.mongo.load import (
    LoadCounts,
    Refusal,
    committed_by,
    expected_documents,
    fetch,
    load,
    operations,
)
from forecast.mongo.probe import CrudReport, crud_check
from forecast.mongo.reconcile import Reconciliation, reconcile
from forecast.mongo.setup import Setup, prepare
from forecast.mongo.stage import StageResult, run_stage
from forecast.mongo.validator import apply_validators, measurement_schema, station_schema

__all__ = [
    "DAILY_COLLECTION",
    "HOURLY_COLLECTION",
    "MEASUREMENT_INDEXES",
    "STATION_INDEXES",
    "TRANSIENT",
    "Budget",
    "CrudReport",
    "GoldCounts",
    "LoadCounts",
    "MongoTarget",
    "QueryTiming",
    "Reconciliation",
    "Refusal",
    "Setup",
    "StageResult",
    "apply_validators",
    "committed_by",
    "connect",
    "crud_check",
    "ensure_collections",
    "ensure_gold_collections",
    "expected_documents",
    "fetch",
    "load",
    "measure_latency",
    "measurement_indexes",
    "measurement_schema",
    "measuring_client",
    "operations",
    "prepare",
    "reconcile",
    "redact",
    "refresh_gold",
    "run_stage",
    "scrub",
    "station_schema",
    "touched_days",
    "upsert_stations",
]
