"""The load ledger in MongoDB (collection ``load_ledger``): see ``forecast.run.ledger``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import MongoClient, ReplaceOne

from forecast.mongo.client import MongoTarget, server_errors
from forecast.run.ledger import LedgerEntry

LEDGER_COLLECTION = "load_ledger"


def lookup(
    client: MongoClient[Any], target: MongoTarget, keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return the ledger entries stored under ``keys``, by key."""
    if not keys:
        return {}
    with server_errors("reading the load ledger", target.uri):
        found = client[target.database][LEDGER_COLLECTION].find({"_id": {"$in": list(keys)}})
        return {entry["_id"]: entry for entry in found}


def record(client: MongoClient[Any], target: MongoTarget, entries: Sequence[LedgerEntry]) -> int:
    """Store ``entries`` (a later run of the same key replaces it); return how many."""
    if not entries:
        return 0
    operations = [ReplaceOne({"_id": e.key}, e.to_document(), upsert=True) for e in entries]
    with server_errors("writing the load ledger", target.uri):
        client[target.database][LEDGER_COLLECTION].with_options(
            write_concern=target.write_concern()
        ).bulk_write(operations, ordered=False)
    return len(entries)
