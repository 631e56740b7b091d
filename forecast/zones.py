"""Where validated and rejected observations go in the lake, and how they are partitioned."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

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


def rejected_key(run_id: str, run_date: str) -> str:
    """Return the key of a run's quarantine file."""
    return f"date={run_date}/run={run_id}.parquet"


def write_rejected(lake: Lake, rejected: pa.Table, *, run_id: str, run_date: str) -> str | None:
    """Write a run's rejected observations (with rules and reasons) to the rejected zone."""
    if rejected.num_rows == 0:
        return None
    return lake.write_parquet("rejected", rejected_key(run_id, run_date), rejected)
