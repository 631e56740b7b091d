"""Reconciliation after a load: every planned key is in MongoDB with identical values.

Per plan (one station), one range read on the (station.id, timestamp) index fetches every stored
document of the station's whole UTC days straight into Arrow (pymongoarrow, typed by the plan's
own schema); the planned documents are compared with it column by column (vectorised), and the
same table feeds the gold aggregates (``gold.refresh_from``), so the documents are read once for
both. The insert-only fields (``metadata.run_id``, ``metadata.ingested_at``) belong to the run that
first inserted a document and are not compared.

Reading a document costs the server about a quarter of writing it on SecantusDB, which decodes
every document it returns; this read is what reconciliation costs (``make bench``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongoarrow.api import Schema, find_arrow_all

from forecast.documents import WritePlan, nested_struct
from forecast.errors import TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub
from forecast.mongo.load import day_range

EXAMPLES = 10
READ_BATCH = 10_000
_SEPARATOR = "\x1f"


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


def read_days(collection: Collection[Any], plan: WritePlan, schema: pa.Schema) -> pa.Table:
    """Return every stored document of the plan's station and whole UTC days, typed by ``schema``
    (fields a document lacks are null)."""
    station, start, end = day_range(plan)
    query = {"station.id": station, "timestamp": {"$gte": start, "$lt": end}}
    typed = Schema({f.name: f.type for f in schema})
    # No projection: the server returns whole documents, which costs it less than evaluating a
    # projection of every field (measured on SecantusDB); the schema picks the fields.
    return find_arrow_all(collection, query, schema=typed, projection=None, batch_size=READ_BATCH)


def compare(expected: pa.Table, stored: pa.Table) -> Reconciliation:
    """Compare planned documents with stored ones (matched by ``_id``; extra stored ignored)."""
    ids = expected.column("_id")
    position = pc.index_in(ids, value_set=stored.column("_id"))
    present = pc.is_valid(position)
    missing_ids = ids.filter(pc.invert(present)).to_pylist()
    found = expected.filter(present)
    aligned = stored.take(position.filter(present))
    different = _differs(found, aligned)
    changed_ids = found.column("_id").filter(pa.array(different)).to_pylist()
    examples = [f"missing {i}" for i in missing_ids] + [f"different {i}" for i in changed_ids]
    return Reconciliation(
        expected.num_rows, len(missing_ids), int(different.sum()), tuple(examples[:EXAMPLES])
    )


def checked_plans(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    skip: Sequence[str] = (),
) -> Iterator[tuple[Reconciliation, pa.Table]]:
    """Yield, per plan, its reconciliation and the stored documents of its whole station-days.

    ``skip`` lists ``_id``s known refused (not expected to be stored as planned). The next
    plan's documents are read in a background thread while the caller works on the current
    one (comparing, aggregating gold), so the server and the client work at the same time; at
    most two plans' documents are in memory.

    Raises:
        TransientError: the server became unreachable; rerunning is safe.
    """
    collection = client[target.database][target.collection]
    refused = pa.array(list(skip), pa.string())
    todo = [(plan, expected_table(plan)) for plan in plans if len(plan)]

    def read(index: int) -> pa.Table:
        plan, expected = todo[index]
        try:
            return read_days(collection, plan, expected.schema)
        except TRANSIENT as exc:
            raise TransientError(
                f"reading back the load failed: {scrub(str(exc), target.uri)}"
            ) from exc

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-back") as reader:
        pending = reader.submit(read, 0) if todo else None
        for index, (_plan, expected) in enumerate(todo):
            assert pending is not None
            stored = pending.result()
            pending = reader.submit(read, index + 1) if index + 1 < len(todo) else None
            if len(refused):
                expected = expected.filter(
                    pc.invert(pc.is_in(expected.column("_id"), value_set=refused))
                )
            yield compare(expected, stored), stored


def reconcile(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    skip: Sequence[str] = (),
) -> Reconciliation:
    """Check every planned document against MongoDB; ``skip`` lists ``_id``s known refused."""
    result = Reconciliation()
    for check, _stored in checked_plans(client, target, plans, skip=skip):
        result = result + check
    return result
