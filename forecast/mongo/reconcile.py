"""Reconciliation after a load: every planned key is in MongoDB with identical values.

The stored documents are read back with pymongoarrow straight into Arrow, with the plan's own
types as the schema, and compared with the plan column by column (vectorised): no per-document
Python. The insert-only fields (``metadata.run_id``, ``metadata.ingested_at``) belong to the run
that first inserted a document and are not compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pymongo import MongoClient
from pymongoarrow.api import Schema, find_arrow_all

from forecast.documents import WritePlan
from forecast.mongo.client import MongoTarget

CHUNK = 10_000
EXAMPLES = 10
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


def nest(flat: pa.StructArray) -> pa.StructArray:
    """Return a struct whose dotted field names (``metadata.source``) become nested structs."""
    groups: dict[str, list[tuple[str, pa.Array]]] = {}
    for index in range(flat.type.num_fields):
        name = flat.type.field(index).name
        head, _, rest = name.partition(".")
        groups.setdefault(head, []).append((rest, flat.field(index)))
    arrays, names = [], []
    for head, members in groups.items():
        if len(members) == 1 and members[0][0] == "":
            arrays.append(members[0][1])
        else:
            inner = pa.StructArray.from_arrays(
                [a for _, a in members], names=[n for n, _ in members]
            )
            arrays.append(nest(inner))
        names.append(head)
    return pa.StructArray.from_arrays(arrays, names=names)


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


def _chunk(collection: Any, expected: pa.Table) -> Reconciliation:
    """Compare one time-ordered slice of one station's plan with what is stored.

    The read is a range on the (station, timestamp) index rather than an ``$in`` of ids, which
    servers answer much faster; documents outside the plan in that range are ignored.
    """
    ids = expected.column("_id")
    schema = Schema({f.name: f.type for f in expected.schema})
    low, high = pc.min_max(expected.column("timestamp")).values()
    station = expected.column("station").combine_chunks().field("id")[0].as_py()
    query = {"station.id": station, "timestamp": {"$gte": low.as_py(), "$lte": high.as_py()}}
    stored = find_arrow_all(collection, query, schema=schema)
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


def expected_table(plan: WritePlan) -> pa.Table:
    """Return the plan's documents (``_id`` and ``$set`` fields, nested) as an Arrow table."""
    body = nest(plan.set_fields)
    columns = {
        "_id": plan.ids,
        **{body.type.field(i).name: body.field(i) for i in range(body.type.num_fields)},
    }
    return pa.table(columns)


def reconcile(
    client: MongoClient[Any],
    target: MongoTarget,
    plans: Sequence[WritePlan],
    *,
    skip: Sequence[str] = (),
) -> Reconciliation:
    """Check every planned document against MongoDB; ``skip`` lists ``_id``s known refused."""
    collection = client[target.database][target.collection]
    result = Reconciliation()
    refused = pa.array(list(skip), pa.string())
    for plan in plans:
        expected = expected_table(plan).sort_by("timestamp")
        if len(refused):
            expected = expected.filter(
                pc.invert(pc.is_in(expected.column("_id"), value_set=refused))
            )
        for offset in range(0, expected.num_rows, CHUNK):
            result = result + _chunk(collection, expected.slice(offset, CHUNK))
    return result
