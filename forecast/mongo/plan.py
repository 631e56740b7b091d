"""Validated observations -> the MongoDB write plan (pure: no driver, no I/O).

A document's ``_id`` is ``<station id>:<UTC timestamp ISO-8601>``, deterministic from the natural
key, so loading is an idempotent upsert. The plan keeps, per document, what ``$set`` writes
(everything derived from the data) apart from what ``$setOnInsert`` writes (the run that first
loaded it), so reloading identical data modifies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import DataContractError
from forecast.mongo.digest import row_digests
from forecast.schema import SCHEMA_VERSION, STATIONS, UNITS, VALIDATED, conform
from forecast.sources.registry import SOURCES, source
from forecast.tables import as_array, constant

ID_SEPARATOR = ":"
LINEAGE: tuple[str, ...] = tuple(
    dict.fromkeys(name for source in SOURCES.values() for name in source.lineage)
)
"""Every source's lineage columns (``Source.lineage``), kept under ``metadata`` when filled."""


@dataclass(frozen=True)
class RunContext:
    """The run a load belongs to (written only when a document is first inserted)."""

    run_id: str
    ingested_at: datetime


DIGEST_FIELD = "metadata.digest"
"""Where a document keeps the content digest of its ``$set`` fields (see ``forecast.mongo.digest``)."""


@dataclass(frozen=True)
class WritePlan:
    """One entry per document: its ``_id``, its ``$set`` body (the digest included), its
    ``$setOnInsert`` body, the position of its row in the validated table (so a refused document
    maps back to it) and its content digest."""

    ids: pa.Array
    set_fields: pa.StructArray
    insert_fields: pa.StructArray
    rows: pa.Array
    digests: pa.Array

    def __len__(self) -> int:
        return len(self.ids)

    def slice(self, offset: int, length: int) -> WritePlan:
        """Return the entries ``[offset, offset + length)``."""
        return self.take(pa.array(range(offset, min(offset + length, len(self))), pa.int64()))

    def take(self, index: pa.Array) -> WritePlan:
        """Return the entries at ``index``."""
        return WritePlan(
            self.ids.take(index), self.set_fields.take(index), self.insert_fields.take(index),
            self.rows.take(index), self.digests.take(index),
        )  # fmt: skip


def document_ids(station_ids: pa.Array, timestamps: pa.Array) -> pa.Array:
    """Return deterministic ``_id`` strings from (station id, UTC timestamp)."""
    iso = pc.strftime(timestamps, format="%Y-%m-%dT%H:%M:%SZ")
    return as_array(pc.binary_join_element_wise(station_ids, iso, ID_SEPARATOR))


def _struct(fields: dict[str, pa.Array]) -> pa.StructArray:
    return pa.StructArray.from_arrays([as_array(a) for a in fields.values()], names=list(fields))


def _station_struct(station: dict[str, object], length: int) -> pa.StructArray:
    point = _struct(
        {
            "type": constant("Point", length, pa.string()),
            "coordinates": constant(
                [station["longitude"], station["latitude"]], length, pa.list_(pa.float64())
            ),
        }
    )
    fields: dict[str, pa.Array] = {
        "id": constant(station["station_id"], length, pa.string()),
        "name": constant(station["name"], length, pa.string()),
        "network": constant(station["network"], length, pa.string()),
        "type": constant(station["type"], length, pa.string()),
        "location_geo": point,
        "elevation_m": constant(station["elevation_m"], length, pa.float64()),
        "timezone": constant(station["timezone"], length, pa.string()),
    }
    for key in ("city", "country", "license", "license_url", "attribution"):
        if station[key] is not None:
            fields[key] = constant(station[key], length, pa.string())
    return _struct(fields)


def _measurements(rows: pa.Table, provided: list[str]) -> pa.StructArray:
    n = rows.num_rows
    return _struct(
        {
            key: _struct({"value": rows.column(key), "unit": constant(UNITS[key], n, pa.string())})
            for key in provided
        }
    )


def _station_plan(
    rows: pa.Table, positions: pa.Array, station: dict[str, object], run: RunContext
) -> WritePlan:
    n = rows.num_rows
    # A lineage column none of these rows fills (an Airbyte record id of a file's rows) is left
    # out, so a document holds what its source says of it, and a file's documents stay as they
    # were before Airbyte objects were read.
    lineage = [
        name
        for name in source(rows.column("source")[0].as_py()).lineage
        if rows.column(name).null_count < n
    ]
    set_fields: dict[str, pa.Array] = {
        "station": _station_struct(station, n),
        "timestamp": rows.column("timestamp"),
        "measurements": _measurements(rows, list(station["measurements"])),  # type: ignore[call-overload]
        "data_quality": _struct(
            {
                "score": rows.column("quality_score"),
                "flags": rows.column("flags"),
                "rules": rows.column("quality_rules"),
            }
        ),
        "metadata.source": rows.column("source"),
        "metadata.raw_key": rows.column("raw_key"),
        "metadata.raw_sha256": rows.column("raw_sha256"),
        **{f"metadata.{name}": rows.column(name) for name in lineage},
        "metadata.schema_version": constant(SCHEMA_VERSION, n, pa.int32()),
    }
    insert_fields = {
        "metadata.run_id": constant(run.run_id, n, pa.string()),
        "metadata.ingested_at": constant(run.ingested_at, n, pa.timestamp("ms", tz="UTC")),
    }
    ids = document_ids(as_array(rows.column("station_id")), as_array(rows.column("timestamp")))
    digests = row_digests(_struct(set_fields))
    set_fields[DIGEST_FIELD] = digests
    return WritePlan(ids, _struct(set_fields), _struct(insert_fields), positions, digests)


def _drop_repeated_ids(plan: WritePlan) -> WritePlan:
    """Keep the last entry of every ``_id`` (a batch must not upsert one key twice)."""
    ids = plan.ids.to_numpy(zero_copy_only=False)
    _, last_from_end = np.unique(ids[::-1], return_index=True)
    keep = np.sort(len(ids) - 1 - last_from_end)
    if len(keep) == len(ids):
        return plan
    return plan.take(pa.array(keep))


PLAN_MAX_ROWS = 10_000
"""Rows of one write plan at most (unless one UTC day has more): a station's rows are cut into
plans of whole UTC days, so the read-back of a plan (reconciliation and gold read whole days)
stays the same size however long the window."""


def _day_groups(timestamps: pa.Array, max_rows: int) -> tuple[pa.Array, int]:
    """Return, per row, the index of its group of consecutive whole UTC days holding at most
    ``max_rows`` rows (a day with more is a group of its own), and the number of groups."""
    days = pc.cast(pc.cast(timestamps, pa.timestamp("ms", tz="UTC")), pa.date32())
    values, counts = pc.value_counts(days).flatten()
    order = pc.sort_indices(values)
    distinct, sizes = values.take(order), counts.take(order).to_pylist()
    group, filled, of_day = 0, 0, []
    for size in sizes:
        if filled and filled + size > max_rows:
            group, filled = group + 1, 0
        of_day.append(group)
        filled += size
    return pc.take(pa.array(of_day, pa.int32()), pc.index_in(days, value_set=distinct)), group + 1


def write_plan(
    valid: pa.Table, stations: pa.Table, run: RunContext, *, max_rows: int = PLAN_MAX_ROWS
) -> list[WritePlan]:
    """Return the write plans of validated observations: per station, one per run of whole UTC
    days of at most ``max_rows`` rows (in time order).

    Raises:
        DataContractError: an observation's station has no metadata.
    """
    valid = conform(valid, VALIDATED)
    stations = conform(stations, STATIONS)
    described = {row["station_id"]: row for row in stations.to_pylist()}
    present = pc.unique(valid.column("station_id")).to_pylist()
    missing = sorted(set(present) - set(described))
    if missing:
        raise DataContractError(f"observations of stations without metadata: {missing}")
    plans = []
    for station_id in sorted(present):
        of_station = pc.indices_nonzero(pc.equal(valid.column("station_id"), station_id))
        groups, count = _day_groups(valid.column("timestamp").take(of_station), max_rows)
        for group in range(count):
            positions = of_station.filter(pc.equal(groups, group))
            rows = valid.take(positions)
            plan = _station_plan(rows, positions, described[station_id], run)
            plans.append(_drop_repeated_ids(plan))
    return plans


def nested(flat: dict[str, object]) -> dict[str, object]:
    """Return a ``$set`` body with dotted keys expanded, i.e. the document as stored."""
    document: dict[str, object] = {}
    for key, value in flat.items():
        target = document
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})  # type: ignore[assignment]
        target[leaf] = value
    return document


def nested_struct(flat: pa.StructArray) -> pa.StructArray:
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
            arrays.append(nested_struct(inner))
        names.append(head)
    return pa.StructArray.from_arrays(arrays, names=names)
