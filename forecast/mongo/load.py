"""Loading write plans at insert speed: new documents inserted, changed ones updated, the rest left.

Per plan (one station):

1. **Inventory**: one indexed range read of the station's whole UTC days returns the ``_id`` and
   content digest (``metadata.digest``, see ``forecast.mongo.digest``) of every stored document.
2. **Classify** (vectorised): an entry whose ``_id`` is not stored is *new*; a stored one with
   another digest (or none, written before digests existed) is *changed*; the rest are
   *unchanged* and are not sent at all, so a rerun writes nothing.
3. **Check** (``validation="client"``): the new and changed documents are checked against the
   collection's current ``$jsonSchema`` on whole columns (``schema_check``); the ones that break
   it are refused with the broken rule (code 121, as the server would), the others are written
   with ``bypassDocumentValidation`` so the server does not check them one by one again. With
   ``validation="server"`` (or a validator this module cannot evaluate) the server checks them.
4. **Write**: new documents by unordered ``insert_many``, changed ones by unordered ``UpdateOne``
   upserts (``$set`` the data, ``$setOnInsert`` the first run), in batches bounded by
   ``target.batch_size`` documents and ``target.batch_bytes`` bytes, encoded once, column by
   column (``arrow_bson``: ~15 us a document instead of ~100-200 us through Python dicts), each
   with the target's write concern.

A batch interrupted by a transient error (connection lost, primary stepped down, shutdown in
progress, write concern not satisfied) is sent again after an exponential backoff with jitter,
up to ``target.attempts`` times. An insert refused as a duplicate key (its document written by an
earlier try of the same batch, or by a concurrent run) is re-sent as the idempotent upsert, so a
retry never duplicates or loses a document. Per-document refusals (the validator, a duplicate natural key
under another ``_id``) are not retried: each is reported with its ``_id``, the server's message
and the row of the validated table it came from; the rest of the batch is written.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError
from pymongoarrow.api import Schema, find_arrow_all

from forecast.errors import ConfigurationError, ServerError, TransientError
from forecast.mongo.arrow_bson import encode_rows
from forecast.mongo.client import (
    TRANSIENT,
    TRANSIENT_CODES,
    MongoTarget,
    connect,
    scrub,
    server_errors,
)
from forecast.mongo.plan import WritePlan, nested, nested_struct
from forecast.mongo.schema_check import UnsupportedSchema, check_documents, json_schema_of

UNAUTHORIZED = 13
DUPLICATE_KEY = 11000
VALIDATION_FAILED = 121
MAX_BACKOFF_S = 30.0
_INVENTORY = Schema({"_id": pa.string(), "metadata": pa.struct([("digest", pa.int64())])})


@dataclass(frozen=True)
class Refusal:
    """A document refused by the validator or an index: its ``_id``, its validated row, why."""

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
    validated_by: str = "server"

    @property
    def failures(self) -> list[tuple[str, str]]:
        """(``_id``, message) of every refused document."""
        return [(r.id, r.message) for r in self.refusals]

    def refuse(self, refusals: Sequence[Refusal]) -> None:
        """Account for documents that were refused."""
        self.input += len(refusals)
        self.failed += len(refusals)
        self.refusals += refusals


@dataclass(frozen=True)
class Classified:
    """A plan split by what the collection already holds (positions into the plan)."""

    new: np.ndarray
    changed: np.ndarray
    unchanged: np.ndarray


def day_range(plan: WritePlan) -> tuple[str, datetime, datetime]:
    """Return (station id, first instant of the plan's first UTC day, end of its last day)."""
    station = plan.set_fields.field("station").field("id")[0].as_py()
    bounds = pc.min_max(plan.set_fields.field("timestamp")).as_py()
    start = datetime.combine(bounds["min"].astimezone(UTC).date(), clock(), UTC)
    end = datetime.combine(bounds["max"].astimezone(UTC).date() + timedelta(days=1), clock(), UTC)
    return station, start, end


def latest_time(plan: WritePlan) -> datetime:
    """Return the most recent observation time of a plan."""
    latest: datetime = pc.max(plan.set_fields.field("timestamp")).as_py()
    return latest


def stored_digests(collection: Collection[Any], plan: WritePlan) -> pa.Table:
    """Return ``_id`` and ``digest`` of every stored document of the plan's station-days.

    One range read on the (station.id, timestamp) index; ``digest`` is null for documents
    written before digests existed.
    """
    if not len(plan):
        return pa.table({"_id": pa.array([], pa.string()), "digest": pa.array([], pa.int64())})
    station, start, end = day_range(plan)
    query = {"station.id": station, "timestamp": {"$gte": start, "$lt": end}}
    found = find_arrow_all(collection, query, schema=_INVENTORY, batch_size=10_000)
    return pa.table(
        {"_id": found.column("_id"), "digest": pc.struct_field(found.column("metadata"), "digest")}
    )


def classify(plan: WritePlan, stored: pa.Table) -> Classified:
    """Split the plan into new, changed and unchanged entries (vectorised)."""
    position = pc.index_in(plan.ids, value_set=stored.column("_id"))
    present = np.asarray(pc.is_valid(position))
    stored_digest = pc.take(stored.column("digest"), position)
    same = np.asarray(pc.fill_null(pc.equal(stored_digest, plan.digests), False))
    return Classified(
        np.flatnonzero(~present), np.flatnonzero(present & ~same), np.flatnonzero(present & same)
    )


def documents(plan: WritePlan) -> pa.StructArray:
    """Return the documents a plan inserts: ``_id``, the ``$set`` and the ``$setOnInsert`` fields."""
    flat = pa.StructArray.from_arrays(
        [plan.ids, *plan.set_fields.flatten(), *plan.insert_fields.flatten()],
        names=["_id", *(f.name for f in plan.set_fields.type), *(f.name for f in plan.insert_fields.type)],
    )  # fmt: skip
    return nested_struct(flat)


@dataclass(frozen=True)
class Encoded:
    """Entries of a plan encoded once for the wire: documents to insert or upserts to send."""

    positions: np.ndarray  # into the plan
    ids: list[str]
    rows: np.ndarray  # into the validated table
    bodies: list[Any]
    sizes: np.ndarray

    def take(self, start: int, end: int) -> Encoded:
        """Return entries ``[start, end)``."""
        return Encoded(
            self.positions[start:end], self.ids[start:end], self.rows[start:end],
            self.bodies[start:end], self.sizes[start:end],
        )  # fmt: skip


def encode_inserts(plan: WritePlan, positions: np.ndarray) -> Encoded:
    """Return the full documents at ``positions`` as raw BSON (one C encoding each)."""
    index = pa.array(positions, pa.int64())
    bodies = [RawBSONDocument(raw) for raw in encode_rows(documents(plan.take(index)))]
    return _encoded(plan, positions, bodies, [len(b.raw) for b in bodies])


def encode_upserts(plan: WritePlan, positions: np.ndarray) -> Encoded:
    """Return idempotent upserts of the entries at ``positions`` (``$set`` data, first run on insert)."""
    part = plan.take(pa.array(positions, pa.int64()))
    sets = [RawBSONDocument(raw) for raw in encode_rows(part.set_fields)]
    inserts = [RawBSONDocument(raw) for raw in encode_rows(part.insert_fields)]
    ops = [
        UpdateOne({"_id": _id}, {"$set": s, "$setOnInsert": i}, upsert=True)
        for _id, s, i in zip(part.ids.to_pylist(), sets, inserts, strict=True)
    ]
    return _encoded(
        plan, positions, ops, [len(s.raw) + len(i.raw) for s, i in zip(sets, inserts, strict=True)]
    )


def _encoded(
    plan: WritePlan, positions: np.ndarray, bodies: list[Any], sizes: list[int]
) -> Encoded:
    index = pa.array(positions, pa.int64())
    return Encoded(
        positions, plan.ids.take(index).to_pylist(),
        plan.rows.take(index).to_numpy(zero_copy_only=False), bodies,
        np.asarray(sizes, dtype=np.int64),
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
    """Return the idempotent upserts of a whole write plan."""
    return encode_upserts(plan, np.arange(len(plan))).bodies


# ---------------------------------------------------------------------------------------------
# Client-side validation


def current_schema(client: MongoClient[Any], target: MongoTarget) -> Mapping[str, Any] | None:
    """Return the ``$jsonSchema`` the loader checks documents against, or None.

    None when ``target.validation`` is ``"server"``, when the collection has no validator, or
    when its validator cannot be evaluated here (the server then checks every document).
    """
    if target.validation != "client":
        return None
    database = client[target.database]
    for info in database.list_collections(filter={"name": target.collection}):
        try:
            return json_schema_of((info.get("options") or {}).get("validator"))
        except UnsupportedSchema as exc:  # the server checks each document itself instead
            logging.getLogger(__name__).warning(
                "%s: validating on the server, the client cannot evaluate its validator: %s",
                target.collection, exc,
            )  # fmt: skip
            return None
    return None


def client_refusals(
    schema: Mapping[str, Any] | None, plan: WritePlan, positions: np.ndarray
) -> tuple[np.ndarray, list[Refusal]]:
    """Return the positions that pass ``schema`` and a refusal for each one that does not."""
    if schema is None or not len(positions):
        return positions, []
    part = plan.take(pa.array(positions, pa.int64()))
    verdict = check_documents(schema, documents(part))
    ids, rows = part.ids.to_pylist(), part.rows.to_pylist()
    refusals = [
        Refusal(ids[i], int(rows[i]), f"code {VALIDATION_FAILED}: Document failed validation "
                f"(checked by the loader against the collection's $jsonSchema): {verdict.reasons[i]}")
        for i in np.flatnonzero(verdict.failed)
    ]  # fmt: skip
    return positions[~verdict.failed], refusals


# ---------------------------------------------------------------------------------------------
# Writing batches


@dataclass
class _Writer:
    """Sends batches with the per-batch retry; accumulates the counts."""

    collection: Collection[Any]
    target: MongoTarget
    counts: LoadCounts
    sleep: Callable[[float], None]
    bypass: bool
    acknowledged: Callable[[LoadCounts], None] | None = None

    def insert(self, plan: WritePlan, batch: Encoded) -> None:
        """Insert a batch; documents found already there are re-sent as upserts. One such that
        the upsert finds as planned counts inserted only if this run wrote it (an earlier try
        of the batch): one a concurrent run inserted is that run's, unchanged here."""
        existing = self._retrying(batch, lambda: self._insert_once(batch))
        if len(existing):
            again = encode_upserts(plan, batch.positions[existing])
            found = self._retrying(again, lambda: self._upsert_once(again, inserted=True))
            if found:
                run_id = plan.insert_fields.field("metadata.run_id")[0].as_py()
                mine = self.collection.count_documents(
                    {"_id": {"$in": again.ids}, "metadata.run_id": run_id}
                )
                self.counts.inserted += min(mine, found)
                self.counts.unchanged += found - min(mine, found)

    def upsert(self, batch: Encoded) -> None:
        """Send a batch of upserts of changed documents."""
        self._retrying(batch, lambda: self._upsert_once(batch, inserted=False))

    def _retrying(self, batch: Encoded, send: Callable[[], Any]) -> Any:
        for attempt in range(1, self.target.attempts + 1):
            try:
                try:
                    result = send()
                except TRANSIENT as exc:
                    raise TransientError(
                        f"bulk write of {describe(batch)} interrupted: "
                        f"{scrub(str(exc), self.target.uri)}"
                    ) from exc
                except OperationFailure as exc:
                    raise self._classified(batch, exc) from None
                self.counts.batches += 1
                if self.acknowledged is not None:
                    self.acknowledged(self.counts)
                return result
            except TransientError:
                if attempt == self.target.attempts:
                    raise
                self.counts.retries += 1
                delay = min(MAX_BACKOFF_S, self.target.backoff_s * 2 ** (attempt - 1))
                self.sleep(random.uniform(delay / 2, delay))  # jitter
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_once(self, batch: Encoded) -> np.ndarray:
        """Insert; return the batch positions refused as duplicate keys.

        Those are re-sent as upserts by ``_id``: a document an earlier try of the batch (or a
        twin run) wrote matches and is left as it is; a natural key held by another ``_id``
        is refused by the upsert too and reported. (Servers differ in which unique index they
        report first, so the key pattern of the insert's error does not tell which case it is.)
        """
        try:
            self.collection.insert_many(
                batch.bodies, ordered=False, bypass_document_validation=self.bypass
            )
        except BulkWriteError as exc:
            details: Mapping[str, Any] = exc.details
            errors = self._refused_or_retry(details)
            taken = [e["index"] for e in errors if e.get("code") == DUPLICATE_KEY]
            refused = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            self.counts.input += details.get("nInserted", 0)
            self.counts.inserted += details.get("nInserted", 0)
            self.counts.refuse([self._refusal(batch, e) for e in refused])
            return np.asarray(taken, dtype=np.int64)
        self.counts.input += len(batch.bodies)
        self.counts.inserted += len(batch.bodies)
        return np.zeros(0, dtype=np.int64)

    def _upsert_once(self, batch: Encoded, *, inserted: bool) -> int:
        """Upsert; ``inserted``: the documents were absent from the inventory, so one found
        identical was written during this load, by an earlier try or a concurrent run: returns
        how many (the caller says whose)."""
        try:
            result = self.collection.bulk_write(
                batch.bodies, ordered=False, bypass_document_validation=self.bypass
            )
            written: Mapping[str, Any] = {
                "nUpserted": result.upserted_count,
                "nMatched": result.matched_count,
                "nModified": result.modified_count,
            }
            errors: list[dict[str, Any]] = []
        except BulkWriteError as exc:
            written, errors = exc.details, self._refused_or_retry(exc.details)
        upserted, matched, modified = (
            written.get(k, 0) for k in ("nUpserted", "nMatched", "nModified")
        )
        self.counts.input += upserted + matched
        self.counts.inserted += upserted
        self.counts.updated += modified
        self.counts.unchanged += 0 if inserted else matched - modified
        self.counts.refuse([self._refusal(batch, e) for e in errors])
        return (matched - modified) if inserted else 0

    def _refused_or_retry(self, details: Mapping[str, Any]) -> list[dict[str, Any]]:
        errors = list(details.get("writeErrors", []))
        if details.get("writeConcernErrors") or any(
            e.get("code") in TRANSIENT_CODES for e in errors
        ):
            raise TransientError(f"batch not acknowledged: {_first_problem(details)}")
        return errors

    def _refusal(self, batch: Encoded, error: Mapping[str, Any]) -> Refusal:
        index = error["index"]
        return Refusal(batch.ids[index], int(batch.rows[index]),
                       f"code {error.get('code')}: {error.get('errmsg')}")  # fmt: skip

    def _classified(self, batch: Encoded, exc: OperationFailure) -> Exception:
        """Return the error a refused command becomes: transient (retry the batch), a
        configuration problem, or a terminal server error in one line."""
        message = scrub(str((exc.details or {}).get("errmsg") or exc), self.target.uri)
        if exc.code in TRANSIENT_CODES:
            return TransientError(f"bulk write of {describe(batch)}: code {exc.code}: {message}")
        if exc.code == UNAUTHORIZED and self.bypass:
            return ConfigurationError(
                "the MongoDB user may not write with bypassDocumentValidation (code 13): grant "
                'the bypassDocumentValidation action, or set validation = "server" in the '
                "ForecastMongo block"
            )
        return ServerError(
            f"MongoDB refused the bulk write of {describe(batch)}: code {exc.code}: {message}"
        )


def describe(batch: Encoded) -> str:
    """Name a batch by its size and its first and last ``_id``."""
    if not batch.ids:
        return "an empty batch"
    return f"{len(batch.ids)} documents {batch.ids[0]} .. {batch.ids[-1]}"


def _first_problem(details: Mapping[str, Any]) -> str:
    problems = details.get("writeConcernErrors") or details.get("writeErrors") or [{}]
    first = problems[0]
    return f"code {first.get('code')}: {first.get('errmsg')}"


def load(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    sleep: Callable[[float], None] = time.sleep,
    acknowledged: Callable[[LoadCounts], None] | None = None,
) -> LoadCounts:
    """Write every planned document that is not stored as planned (see the module docstring).

    ``acknowledged`` is called with the counts so far after each batch the server acknowledged
    (a failed run's report then says what was written before the failure).

    Raises:
        TransientError: a batch still failed transiently after ``target.attempts`` tries; the
            batches before it are written, and rerunning the whole load is safe.
        ConfigurationError: the user may not bypass validation (``validation="client"``).
    """
    collection = client[target.database][target.collection].with_options(
        write_concern=target.write_concern()
    )
    with server_errors("reading the validator", target.uri):
        schema = current_schema(client, target)
    counts = LoadCounts(validated_by="loader" if schema is not None else "server")
    writer = _Writer(
        collection, target, counts, sleep, bypass=schema is not None, acknowledged=acknowledged
    )
    for plan in plans:
        with server_errors("reading stored digests", target.uri):
            stored = stored_digests(collection, plan)
        split = classify(plan, stored)
        counts.input += len(split.unchanged)
        counts.unchanged += len(split.unchanged)
        new, refused_new = client_refusals(schema, plan, split.new)
        changed, refused_changed = client_refusals(schema, plan, split.changed)
        counts.refuse(refused_new + refused_changed)
        inserts = encode_inserts(plan, new)
        for start, end in batch_bounds(inserts.sizes, target.batch_size, target.batch_bytes):
            writer.insert(plan, inserts.take(start, end))
        upserts = encode_upserts(plan, changed)
        for start, end in batch_bounds(upserts.sizes, target.batch_size, target.batch_bytes):
            writer.upsert(upserts.take(start, end))
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


def committed_by(target: MongoTarget, run_id: str, *, timeout_ms: int = 3_000) -> int:
    """How many documents run ``run_id`` inserted (``metadata.run_id`` is written on insert),
    counted on the server. A count is a collection scan: bounded by ``maxTimeMS`` too.

    Raises:
        TransientError: the server does not answer within ``timeout_ms`` (a failed load's server
            may be gone) or the connection is lost.
        ServerError: the server refuses the count.
        ConfigurationError: the URI or its credentials are refused.
    """
    operation = "the count of a run's documents"
    try:
        with connect(target, timeout_ms=timeout_ms) as client, server_errors(operation, target.uri):
            collection = client[target.database][target.collection]
            return int(collection.count_documents({"metadata.run_id": run_id}, maxTimeMS=30_000))
    except PyMongoError as exc:  # any other driver error, named like the rest
        raise ServerError(f"{operation} failed: {scrub(str(exc), target.uri)}") from exc
