"""Where validated and rejected observations go in the lake, and how they are partitioned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from forecast.ingest import RawObject
from forecast.lake import Lake


def processed_partitions(valid: pa.Table) -> list[tuple[str, pa.Table]]:
    """Return (key, rows) per source, station, UTC date and raw file.

    Keys are deterministic: reprocessing the same raw file rewrites the same objects with the
    same rows, and a later file for the same station-day adds its own object beside them.
    """
    if valid.num_rows == 0:
        return []
    day = pc.strftime(valid.column("timestamp"), format="%Y-%m-%d")
    keyed = valid.append_column("_date", day)
    groups = (
        keyed.group_by(["source", "station_id", "_date", "raw_sha256"]).aggregate([]).to_pylist()
    )
    partitions = []
    for group in sorted(
        groups, key=lambda g: (g["source"], g["station_id"], g["_date"], g["raw_sha256"])
    ):
        mask = pc.and_(
            pc.and_(
                pc.equal(keyed.column("station_id"), group["station_id"]),
                pc.equal(keyed.column("_date"), group["_date"]),
            ),
            pc.equal(keyed.column("raw_sha256"), group["raw_sha256"]),
        )
        key = f"source={group['source']}/station={group['station_id']}/date={group['_date']}/{group['raw_sha256'][:16]}.parquet"
        partitions.append((key, valid.filter(mask)))
    return partitions


def write_processed(lake: Lake, valid: pa.Table) -> list[str]:
    """Write validated observations to the processed zone; return the keys written."""
    return [lake.write_parquet("processed", key, rows) for key, rows in processed_partitions(valid)]


def rejected_key(run_id: str, run_date: str, part: str = "") -> str:
    """Return the key of a run's quarantine file (``part`` "load": the rows MongoDB refused)."""
    return f"date={run_date}/run={run_id}{'.' + part if part else ''}.parquet"


def quarantine_key(run_id: str, run_date: str) -> str:
    """Return the key of a run's quarantine manifest (what to replay on requeue)."""
    return f"date={run_date}/run={run_id}.json"


def requeued_key(run_id: str, run_date: str) -> str:
    """Return the key of the marker saying a quarantine was requeued (and by which run)."""
    return f"date={run_date}/run={run_id}.requeued.json"


@dataclass(frozen=True)
class Quarantine:
    """A run's quarantine: its rows (Parquet) and what a requeue replays.

    A requeue replays every raw content of the original run, not only the files with rejected
    rows: duplicate resolution and the anomaly rules need the neighbouring rows, and the
    load's upserts make replaying already-loaded rows harmless.
    """

    run_id: str
    run_date: str
    rows: int
    rules: dict[str, int]
    window: dict[str, str | None]
    raw_objects: tuple[RawObject, ...]
    requeued_by: str | None = None

    @property
    def key(self) -> str:
        """The manifest's key in the rejected zone."""
        return quarantine_key(self.run_id, self.run_date)

    def to_dict(self) -> dict[str, object]:
        """Return the JSON-ready manifest."""
        return {
            "run_id": self.run_id, "run_date": self.run_date, "rows": self.rows,
            "rules": self.rules, "window": self.window,
            "raw_objects": [r.to_dict() for r in self.raw_objects],
            "parquet": rejected_key(self.run_id, self.run_date),
            "load_parquet": rejected_key(self.run_id, self.run_date, "load"),
        }  # fmt: skip


def write_rejected(
    lake: Lake,
    rejected: pa.Table,
    *,
    run_id: str,
    run_date: str,
    window: dict[str, str | None],
    raw_objects: Sequence[RawObject],
    part: str = "",
) -> str | None:
    """Write a run's rejected rows (rules, reasons, raw lineage) and its quarantine manifest.

    The validation quarantine and the load's (``part="load"``) share one manifest, whose row
    and rule counts add up both.
    """
    if rejected.num_rows == 0:
        return None
    key = lake.write_parquet("rejected", rejected_key(run_id, run_date, part), rejected)
    flat = pc.value_counts(pc.list_flatten(rejected.column("reject_rules"))).to_pylist()
    rules = {r["values"]: r["counts"] for r in flat}
    rows = rejected.num_rows
    manifest = quarantine_key(run_id, run_date)
    if part and lake.exists("rejected", manifest):
        earlier = lake.read_json("rejected", manifest)
        rows += earlier["rows"]
        rules = {
            k: rules.get(k, 0) + earlier["rules"].get(k, 0) for k in {*rules, *earlier["rules"]}
        }
    quarantine = Quarantine(
        run_id,
        run_date,
        rows,
        rules,
        window,
        tuple(r for r in raw_objects if r.status != "refused"),
    )
    lake.write_json("rejected", quarantine.key, quarantine.to_dict())
    return key


def quarantines(lake: Lake, run_id: str | None = None) -> list[Quarantine]:
    """Return the quarantines in the rejected zone (of one run, or all), oldest date first.

    ``requeued_by`` is set when a requeue already replayed one.
    """
    keys = lake.list("rejected")
    requeued = {k for k in keys if k.endswith(".requeued.json")}
    found = []
    for key in sorted(keys):
        if not key.endswith(".json") or key in requeued:
            continue
        if run_id is not None and not key.endswith(f"/run={run_id}.json"):
            continue
        document = lake.read_json("rejected", key)
        marker = requeued_key(document["run_id"], document["run_date"])
        found.append(
            Quarantine(
                document["run_id"], document["run_date"], document["rows"], document["rules"],
                document["window"],
                tuple(RawObject.from_dict(r) for r in document["raw_objects"]),
                lake.read_json("rejected", marker)["requeued_by"] if marker in requeued else None,
            )
        )  # fmt: skip
    return found


def mark_requeued(
    lake: Lake, quarantine: Quarantine, *, run_id: str, result: dict[str, object]
) -> str:
    """Record that ``run_id`` replayed ``quarantine``; the quarantine itself is never changed."""
    key = requeued_key(quarantine.run_id, quarantine.run_date)
    return lake.write_json("rejected", key, {"requeued_by": run_id, **result})
