"""Loading write plans: unordered bulk upserts of deterministic ``_id``s in bounded batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from forecast.documents import WritePlan, nested
from forecast.errors import TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub


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
    except TRANSIENT as exc:
        raise TransientError(f"bulk write interrupted: {scrub(str(exc), uri)}") from exc
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
