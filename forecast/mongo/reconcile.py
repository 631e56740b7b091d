"""Reconciliation after a load: every planned key is in MongoDB with identical values.

Per plan (one station), one range read on the (station.id, timestamp) index fetches every stored
document of the station's whole UTC days as raw BSON. A planned document is checked in two
steps:

1. **Bytes.** The loader writes documents encoded column by column (``arrow_bson``) and a
   server returns a stored document as it was written, so a document this run inserted is
   identical to its stored bytes: compared as binary arrays, vectorised, nothing decoded.
2. **Fields.** The other stored documents (inserted by an earlier run, whose ``run_id`` and
   ``ingested_at`` are its own; updated with ``$set``; changed by someone else) are decoded into
   Arrow (pymongoarrow, typed by the plan's schema) and compared field by field; the insert-only
   fields are not compared.

The same read gives the gold aggregates their input: the planned rows of the documents found as
planned, the stored values of the others and of documents the plan does not hold (loaded by
earlier runs), so gold is exact for whole station-days and no document is read twice. Reading a
document costs the server about a third of writing it on SecantusDB, which decodes every
document it returns: that read is what reconciliation costs (``make bench``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import bson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongoarrow.api import Schema
from pymongoarrow.context import PyMongoArrowContext

from forecast.mongo.arrow_bson import encode_rows
from forecast.mongo.client import MongoTarget, server_errors
from forecast.mongo.load import day_range, documents
from forecast.mongo.plan import WritePlan, nested_struct
from forecast.schema import MEASUREMENT_KEYS

EXAMPLES = 10
READ_BATCH = 10_000
_SEPARATOR = "\x1f"
_RAW: CodecOptions[RawBSONDocument] = CodecOptions(document_class=RawBSONDocument)
_TZ: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
_ID_ELEMENT = b"\x02_id\x00"
GOLD_READ = pa.schema(
    [
        ("_id", pa.string()),
        ("station", pa.struct([("id", pa.string()), ("network", pa.string())])),
        ("timestamp", pa.timestamp("ms", tz="UTC")),
        ("measurements", pa.struct([(k, pa.struct([("value", pa.float64())])) for k in MEASUREMENT_KEYS])),
        ("metadata", pa.struct([("digest", pa.int64())])),
    ]
)  # fmt: skip
"""What gold needs of a stored measurement document."""


@dataclass(frozen=True)
class Reconciliation:
    """The outcome: keys checked, missing, stored with other values; a few examples of each."""

    checked: int = 0
    missing: int = 0
    different: int = 0
    examples: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every planned document is stored with the planned values."""
        return self.missing == 0 and self.different == 0

    def __add__(self, other: Reconciliation) -> Reconciliation:
        return Reconciliation(
            self.checked + other.checked, self.missing + other.missing,
            self.different + other.different, (self.examples + other.examples)[:EXAMPLES],
        )  # fmt: skip


def _leaves(table: pa.Table) -> pa.Table:
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    return table


def _comparable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Lists become one string each (null stays null) so they compare with ``equal``."""
    if pa.types.is_list(column.type):
        return pc.binary_join(column.cast(pa.list_(pa.string())), _SEPARATOR)
    return column


def _differs(expected: pa.Table, stored: pa.Table) -> np.ndarray:
    """Return a mask of rows where any leaf value differs (two nulls are equal)."""
    left, right = _leaves(expected), _leaves(stored)
    differs = np.zeros(expected.num_rows, dtype=bool)
    for name in left.column_names:
        a = _comparable(left.column(name))
        b = _comparable(right.column(name)) if name in right.column_names else pa.nulls(len(a))
        same = pc.or_kleene(pc.equal(a, b), pc.and_(pc.is_null(a), pc.is_null(b)))
        differs |= ~pc.fill_null(same, False).to_numpy(zero_copy_only=False)
    return differs


def expected_table(plan: WritePlan) -> pa.Table:
    """Return the plan's documents (``_id`` and ``$set`` fields, nested) as an Arrow table."""
    body = nested_struct(plan.set_fields)
    columns = {
        "_id": plan.ids,
        **{body.type.field(i).name: body.field(i) for i in range(body.type.num_fields)},
    }
    return pa.table(columns)


@dataclass(frozen=True)
class Stored:
    """The stored documents of a plan's station-days: ``_id`` and raw bytes, in read order."""

    ids: pa.Array
    raw: pa.Array

    def decode(self, mask: np.ndarray, schema: pa.Schema) -> pa.Table:
        """Return the documents where ``mask`` holds, decoded into Arrow with ``schema``."""
        context = PyMongoArrowContext(Schema({f.name: f.type for f in schema}), codec_options=_TZ)
        chosen = self.raw.filter(pa.array(mask, pa.bool_()))
        if len(chosen):
            context.process_bson_stream(b"".join(chosen.to_pylist()))
        return context.finish()


def _id_of(raw: bytes) -> str:
    """The ``_id`` of a raw document: read in place when it is the first, string, element."""
    if raw[4:9] == _ID_ELEMENT:
        length = int.from_bytes(raw[9:13], "little")
        return raw[13 : 13 + length - 1].decode()
    return str(bson.decode(raw)["_id"])


def read_days(collection: Collection[Any], plan: WritePlan) -> Stored:
    """Return every stored document of the plan's station and whole UTC days, as raw BSON.

    No projection: the server returns whole documents, which costs it less than evaluating a
    projection (measured on SecantusDB).
    """
    station, start, end = day_range(plan)
    query = {"station.id": station, "timestamp": {"$gte": start, "$lt": end}}
    raws = [
        bytes(document.raw)
        for batch in collection.find_raw_batches(query, batch_size=READ_BATCH)
        for document in bson.decode_all(batch, _RAW)
    ]
    return Stored(pa.array([_id_of(r) for r in raws], pa.string()), pa.array(raws, pa.binary()))


def gold_rows(documents_table: pa.Table) -> pa.Table:
    """Return measurement documents (as Arrow, nested) in gold's flat input layout:
    station_id, network, timestamp, digest, then one value column per measurement."""
    station, measurements = (
        documents_table.column("station"),
        documents_table.column("measurements"),
    )
    kind = measurements.type
    return pa.table({
        "station_id": pc.struct_field(station, "id"), "network": pc.struct_field(station, "network"),
        "timestamp": documents_table.column("timestamp"),
        "digest": pc.struct_field(documents_table.column("metadata"), "digest"),
        **{kind.field(i).name: pc.struct_field(measurements, [kind.field(i).name, "value"])
           for i in range(kind.num_fields)},
    })  # fmt: skip


def compare(plan: WritePlan, expected: pa.Table, stored: Stored) -> tuple[Reconciliation, pa.Table]:
    """Compare planned documents with stored ones; return the outcome and gold's input rows.

    ``expected`` is ``expected_table(plan)`` without the refused documents (matched by ``_id``;
    stored documents the plan does not hold are not compared, but go to gold).
    """
    ids = expected.column("_id")
    planned_raw = pa.array(encode_rows(documents(plan)), pa.binary())
    wanted = pc.take(planned_raw, pc.index_in(ids, value_set=plan.ids))
    position = pc.index_in(ids, value_set=stored.ids)
    present = np.asarray(pc.is_valid(position))
    same_bytes = np.asarray(pc.fill_null(pc.equal(pc.take(stored.raw, position), wanted), False))
    missing_ids = ids.filter(pa.array(~present)).to_pylist()
    check = present & ~same_bytes
    found = expected.filter(pa.array(check))
    different = np.zeros(found.num_rows, bool)
    if found.num_rows:
        chosen = np.zeros(len(stored.ids), bool)
        chosen[np.asarray(position.filter(pa.array(check)))] = True
        decoded = stored.decode(chosen, expected.schema)
        order = pc.index_in(found.column("_id"), value_set=decoded.column("_id"))
        different = _differs(found, decoded.take(order))
    changed_ids = found.column("_id").filter(pa.array(different)).to_pylist()
    examples = [f"missing {i}" for i in missing_ids] + [f"different {i}" for i in changed_ids]
    outcome = Reconciliation(
        expected.num_rows, len(missing_ids), int(different.sum()), tuple(examples[:EXAMPLES])
    )
    as_planned = present.copy()
    as_planned[np.flatnonzero(check)[different]] = False
    trusted = expected.filter(pa.array(as_planned))
    others = np.asarray(pc.invert(pc.is_in(stored.ids, value_set=trusted.column("_id"))))
    parts = [gold_rows(trusted)]
    if others.any():
        parts.append(gold_rows(stored.decode(others, GOLD_READ)))
    return outcome, pa.concat_tables(parts, promote_options="default")


def checked_plans(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    skip: Sequence[str] = (),
    timings: dict[str, float] | None = None,
    while_idle: Callable[[], None] | None = None,
) -> Iterator[tuple[Reconciliation, pa.Table]]:
    """Yield, per plan, its reconciliation and gold's input rows for its whole station-days.

    ``timings`` (if given) accumulates ``reconcile_s``: the seconds spent reading back and
    comparing.

    ``skip`` lists ``_id``s known refused (not expected to be stored as planned). The next
    plan's documents are read in a background thread while this plan is compared and the
    caller works on it (aggregating gold), so the server and the client work at the same time;
    at most two plans' documents are in memory. ``while_idle`` (if given) is called each time a
    read has finished and before the next one starts: the caller's own writes go there, so
    they never queue behind a read on the server and their time is their own.

    Raises:
        TransientError: the server became unreachable; rerunning is safe.
    """
    collection = client[target.database][target.collection]
    refused = pa.array(list(skip), pa.string())
    loaded_plans = [plan for plan in plans if len(plan)]

    clock = timings if timings is not None else {}
    clock.setdefault("reconcile_s", 0.0)

    def read(index: int) -> Stored:
        started = time.perf_counter()
        try:
            with server_errors("reading back the load", target.uri):
                return read_days(collection, loaded_plans[index])
        finally:
            clock["reconcile_s"] += time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-back") as reader:
        pending = reader.submit(read, 0) if loaded_plans else None
        for index, plan in enumerate(loaded_plans):
            assert pending is not None
            stored = pending.result()
            if while_idle is not None:
                while_idle()
            pending = reader.submit(read, index + 1) if index + 1 < len(loaded_plans) else None
            expected = expected_table(plan)
            if len(refused):
                expected = expected.filter(
                    pc.invert(pc.is_in(expected.column("_id"), value_set=refused))
                )
            started = time.perf_counter()
            result = compare(plan, expected, stored)
            clock["reconcile_s"] += time.perf_counter() - started
            yield result


def reconcile(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    skip: Sequence[str] = (),
) -> Reconciliation:
    """Check every planned document against MongoDB; ``skip`` lists ``_id``s known refused."""
    result = Reconciliation()
    for check, _gold_input in checked_plans(client, target, plans, skip=skip):
        result = result + check
    return result
