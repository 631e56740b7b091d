"""Loading write plans: unordered bulk upserts of deterministic ``_id``s in bounded batches.

- **Conversion in bulk**: a plan's ``$set`` and ``$setOnInsert`` bodies leave Arrow in one
  ``to_pylist`` per plan (Arrow's C++ conversion) and are encoded once each by the C BSON encoder
  into ``RawBSONDocument``s, which pymongo embeds without re-encoding: the same path as
  pymongoarrow's own ``write``. The encoded size bounds the batches.
- **Batches** hold at most ``target.batch_size`` documents and ``target.batch_bytes`` bytes; a
  ``_id`` appears once per plan (``documents.write_plan`` keeps the last entry of a repeated key).
- **Write concern** is ``target.write_concern()`` (default ``w="majority", j=True``).
- **Transient errors** (connection lost, primary stepped down, shutdown in progress, write
  concern not satisfied, network timeouts) re-run the same batch after an exponential backoff
  with jitter, up to ``target.attempts`` times; this is safe because every write is an
  idempotent upsert. When they are exhausted a ``TransientError`` lets the caller rerun the load.
- **Per-document refusals** (the ``$jsonSchema`` validator, a duplicate key) are not retried:
  each is reported with its ``_id``, the server's message and the row of the validated table it
  came from, and the rest of the batch is written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
import numpy as np
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from forecast.documents import WritePlan, nested
from forecast.errors import TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub

# Server error codes after which the whole batch may simply be written again.
TRANSIENT_CODES = frozenset({6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Refusal:
    """A document the server refused: its ``_id``, the validated row it came from, why."""

    id: str
    row: int
    message: str


@dataclass
class LoadCounts:
    """What a load did: every input entry is inserted, updated, unchanged or failed."""

    input: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    batches: int = 0
    retries: int = 0
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def failures(self) -> list[tuple[str, str]]:
        """(``_id``, server message) of every refused document."""
        return [(r.id, r.message) for r in self.refusals]

    def add(self, *, entries: int, upserted: int, matched: int, modified: int) -> None:
        """Account for one bulk write's result."""
        self.input += entries
        self.inserted += upserted
        self.updated += modified
        self.unchanged += matched - modified


@dataclass(frozen=True)
class EncodedPlan:
    """A plan's documents as BSON, ready to send, with their sizes."""

    ids: list[str]
    rows: np.ndarray
    set_bodies: list[RawBSONDocument]
    insert_bodies: list[RawBSONDocument]
    sizes: np.ndarray

    def operations(self, start: int, end: int) -> list[UpdateOne]:
        """Return the idempotent upserts of entries ``[start, end)``."""
        return [
            UpdateOne({"_id": self.ids[i]},
                      {"$set": self.set_bodies[i], "$setOnInsert": self.insert_bodies[i]},
                      upsert=True)
            for i in range(start, end)
        ]  # fmt: skip


def encode(plan: WritePlan) -> EncodedPlan:
    """Return the plan's bodies encoded once, in bulk (see the module docstring)."""
    set_bodies = [RawBSONDocument(bson.encode(b)) for b in plan.set_fields.to_pylist()]
    insert_bodies = [RawBSONDocument(bson.encode(b)) for b in plan.insert_fields.to_pylist()]
    sizes = np.fromiter(
        (len(s.raw) + len(i.raw) for s, i in zip(set_bodies, insert_bodies, strict=True)),
        dtype=np.int64, count=len(set_bodies),
    )  # fmt: skip
    return EncodedPlan(
        plan.ids.to_pylist(), plan.rows.to_numpy(zero_copy_only=False), set_bodies,
        insert_bodies, sizes,
    )  # fmt: skip


def batch_bounds(sizes: np.ndarray, max_count: int, max_bytes: int) -> list[tuple[int, int]]:
    """Return [start, end) ranges holding at most ``max_count`` entries and ``max_bytes`` bytes
    (an entry larger than ``max_bytes`` goes alone)."""
    ends = np.cumsum(sizes)
    bounds, start = [], 0
    while start < len(sizes):
        before = ends[start - 1] if start else 0
        fits = int(np.searchsorted(ends, before + max_bytes, side="right"))
        end = min(max(fits, start + 1), start + max_count, len(sizes))
        bounds.append((start, end))
        start = end
    return bounds


def operations(plan: WritePlan) -> list[UpdateOne]:
    """Return the idempotent upserts of a write plan."""
    encoded = encode(plan)
    return encoded.operations(0, len(encoded.ids))


def _is_transient(error: dict[str, Any]) -> bool:
    return error.get("code") in TRANSIENT_CODES


def _write_once(
    collection: Collection[Any], encoded: EncodedPlan, bounds: tuple[int, int], counts: LoadCounts
) -> None:
    """Write one batch; raise TransientError if the whole batch must be written again."""
    start, end = bounds
    ops = encoded.operations(start, end)
    try:
        result = collection.bulk_write(ops, ordered=False)
    except BulkWriteError as exc:
        details: Mapping[str, Any] = exc.details
        errors = details.get("writeErrors", [])
        if details.get("writeConcernErrors") or any(_is_transient(e) for e in errors):
            raise TransientError(f"batch not acknowledged: {_first_problem(details)}") from exc
        counts.add(entries=len(ops) - len(errors), upserted=details.get("nUpserted", 0),
                   matched=details.get("nMatched", 0), modified=details.get("nModified", 0))  # fmt: skip
        counts.input += len(errors)
        counts.failed += len(errors)
        counts.refusals += [
            Refusal(encoded.ids[start + e["index"]], int(encoded.rows[start + e["index"]]),
                    f"code {e.get('code')}: {e.get('errmsg')}")
            for e in errors
        ]  # fmt: skip
        return
    counts.add(entries=len(ops), upserted=result.upserted_count,
               matched=result.matched_count, modified=result.modified_count)  # fmt: skip


def _first_problem(details: Mapping[str, Any]) -> str:
    problems = details.get("writeConcernErrors") or details.get("writeErrors") or [{}]
    first = problems[0]
    return f"code {first.get('code')}: {first.get('errmsg')}"


def _write_batch(
    collection: Collection[Any],
    encoded: EncodedPlan,
    bounds: tuple[int, int],
    counts: LoadCounts,
    target: MongoTarget,
    sleep: Callable[[float], None],
) -> None:
    """Write one batch, re-running it after transient failures with backoff and jitter."""
    for attempt in range(1, target.attempts + 1):
        try:
            try:
                _write_once(collection, encoded, bounds, counts)
            except TRANSIENT as exc:
                raise TransientError(
                    f"bulk write interrupted: {scrub(str(exc), target.uri)}"
                ) from exc
            counts.batches += 1
            return
        except TransientError:
            if attempt == target.attempts:
                raise
            counts.retries += 1
            delay = min(MAX_BACKOFF_S, target.backoff_s * 2 ** (attempt - 1))
            sleep(random.uniform(delay / 2, delay))  # jitter


def load(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> LoadCounts:
    """Upsert every planned document in batches bounded by count and bytes (module docstring).

    Raises:
        TransientError: a batch still failed transiently after ``target.attempts`` tries; the
            batches before it are written, and rerunning the whole load is safe.
    """
    collection = client[target.database][target.collection].with_options(
        write_concern=target.write_concern()
    )
    counts = LoadCounts()
    for plan in plans:
        encoded = encode(plan)
        for bounds in batch_bounds(encoded.sizes, target.batch_size, target.batch_bytes):
            _write_batch(collection, encoded, bounds, counts, target, sleep)
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
