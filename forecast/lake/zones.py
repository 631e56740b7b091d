"""Where validated and rejected observations go in the lake, and how they are partitioned.

The processed zone is a hive-partitioned dataset, ``source=<source>/date=<UTC date>/`` with one
Parquet file per source-day and run (named by the raw contents of its rows): pyarrow, pandas and
DuckDB read it as one dataset (``pyarrow.dataset.dataset(root, partitioning="hive")``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecast.lake.ingest import RawObject
from forecast.lake.store import Lake

ROW_GROUP_ROWS = 32_768
"""Rows per row group of a processed file (about 30 MB in memory while it is written): large
enough for scans, small enough to skip and to keep the writer's memory flat."""


def day_parts(valid: pa.Table) -> list[tuple[str, str, pa.Table]]:
    """Return (source, UTC date, rows) of validated rows, one entry per source and day."""
    if valid.num_rows == 0:
        return []
    day = pc.strftime(valid.column("timestamp"), format="%Y-%m-%d")
    pairs = (
        pa.table({"source": valid.column("source"), "day": day})
        .group_by(["source", "day"])
        .aggregate([])
        .to_pylist()
    )
    found = []
    for pair in sorted(pairs, key=lambda p: (p["source"], p["day"])):
        mask = pc.and_(pc.equal(valid.column("source"), pair["source"]), pc.equal(day, pair["day"]))
        found.append((pair["source"], pair["day"], valid.filter(mask)))
    return found


def processed_key(source: str, day: str, shas: Iterable[str]) -> str:
    """Return the processed-zone key of one source-day of a run: hive partitions ``source=`` and
    ``date=``, one file named by the raw contents (``raw_sha256``) its rows came from, so
    reprocessing the same inputs rewrites the same object and other inputs for that day add
    their own."""
    name = hashlib.sha256("\n".join(sorted(set(shas))).encode()).hexdigest()[:16]
    return f"source={source}/date={day}/part-{name}.parquet"


def stage_days(directory: Path, partition: int, valid: pa.Table) -> list[tuple[str, str]]:
    """Write a partition's validated rows to ``directory``, one local file per source-day;
    return the (source, day) pairs written."""
    written = []
    for source, day, rows in day_parts(valid):
        target = directory / f"source={source}" / f"date={day}"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows, target / f"part-{partition:05d}.parquet", compression="zstd")
        written.append((source, day))
    return written


def _row_groups(parts: Sequence[Path], rows: int) -> Iterator[pa.Table]:
    """Yield the rows of a source-day's partition files in groups of about ``rows`` rows, each
    sorted by station and time; files are taken in order of their first station, so a group
    (and the row-group statistics readers skip by) covers a narrow range of stations."""
    first = {
        path: pc.min(pq.read_table(path, columns=["station_id"]).column("station_id")).as_py() or ""
        for path in parts
    }
    pending: list[pa.Table] = []
    size = 0
    for path in sorted(parts, key=lambda p: (first[p], p.name)):
        table = pq.read_table(path)
        pending.append(table)
        size += table.num_rows
        if size >= rows:
            yield _sorted(pending)
            pending, size = [], 0
    if pending:
        yield _sorted(pending)


def _sorted(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="default").sort_by(
        [("station_id", "ascending"), ("timestamp", "ascending")]
    )


def write_processed_days(lake: Lake, directory: Path, days: Iterable[tuple[str, str]]) -> list[str]:
    """Write one processed-zone Parquet file per source-day from the partitions' staged files.

    Each file is written on local disk one row group (about ``ROW_GROUP_ROWS`` rows) at a
    time, then uploaded from the file: at most one row group is in memory, whatever the size
    of the day.
    """
    keys = []
    for source, day in sorted(set(days)):
        folder = directory / f"source={source}" / f"date={day}"
        parts = sorted(folder.glob("part-*.parquet"))
        shas = {
            sha
            for path in parts
            for sha in pc.unique(pq.read_table(path, columns=["raw_sha256"]).column(0)).to_pylist()
        }
        local = folder / "day.parquet.tmp"
        writer: pq.ParquetWriter | None = None
        try:
            for group in _row_groups(parts, ROW_GROUP_ROWS):
                if writer is None:
                    writer = pq.ParquetWriter(local, group.schema, compression="zstd")
                writer.write_table(group.cast(writer.schema), row_group_size=max(group.num_rows, 1))
        finally:
            if writer is not None:
                writer.close()
        keys.append(lake.write_file("processed", processed_key(source, day, shas), local))
        local.unlink()
    return keys


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
