"""Ledger tasks: which contents an earlier run loaded (a rerun skips them), and what this run
settled (see ``forecast.mongo.ledger``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from forecast.mongo import MongoTarget, connect, ledger
from forecast.quality.partitions import CheckedRun
from forecast.quality.validate import Window
from forecast.run.reports import FileOutcome, MigrationReport
from tasks.config import domain_fingerprint, load_mongo, retry_transient
from tasks.load import PartitionLoad


@dataclass(frozen=True)
class LedgerQuery:
    """What the load ledger is keyed on besides a content: the MongoDB block and the run
    parameters that change how contents become documents."""

    mongo_block: str
    max_rejection_rate: float
    neighbour_km: float | None


def ledger_fingerprint(query: LedgerQuery, target: MongoTarget) -> str:
    """Return the ledger fingerprint of a run: domain code and data, validation parameters,
    target collection."""
    return ledger.fingerprint(
        domain_fingerprint(), max_rejection_rate=query.max_rejection_rate,
        neighbour_km=query.neighbour_km, collection=target.collection,
    )  # fmt: skip


def ledger_lookup(query: LedgerQuery, records: Sequence[Any], window: Window) -> dict[str, str]:
    """Return {content key: run id} of the contents an earlier run loaded for this run's
    fingerprint and window."""
    target = load_mongo(query.mongo_block)
    stamp = ledger_fingerprint(query, target)
    keys = {ledger.key(r.content_key, stamp, window.to_dict()): r.content_key for r in records}
    with connect(target) as client:
        found = ledger.lookup(client, target, list(keys))
    return {keys[k]: str(entry.get("run_id")) for k, entry in found.items()}


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def record_ledger(
    files: list[FileOutcome],
    checked: CheckedRun,
    loads: list[PartitionLoad],
    migration: MigrationReport,
    window: Window,
    query: LedgerQuery,
    run_id: str,
) -> int:
    """Record in the load ledger the contents this run settled (see ``forecast.mongo.ledger``)."""
    target = load_mongo(query.mongo_block)
    parsed = {f.content_key: f for f in files if f.status == "parsed" and f.content_key}
    documents: dict[str, int] = {}
    for load in loads:
        for key, count in load.documents.items():
            documents[key] = documents.get(key, 0) + count
    settled = ledger.settled_contents(
        parsed, documents, [key for load in loads for key in load.refused_contents],
        [key for part in checked.partitions for key in part.held_contents],
        migration.reconciled is not False,
    )  # fmt: skip
    stamp, now = ledger_fingerprint(query, target), datetime.now(UTC).isoformat()
    entries = [
        ledger.LedgerEntry(
            ledger.key(key, stamp, window.to_dict()), parsed[key].sha256, parsed[key].name,
            parsed[key].raw_key, stamp, window.to_dict(), run_id, now, count,
        )
        for key, count in settled.items()
    ]  # fmt: skip
    with connect(target) as client:
        recorded = ledger.record(client, target, entries)
    get_run_logger().info("load ledger: %d of %d parsed contents recorded", recorded, len(parsed))
    return recorded
