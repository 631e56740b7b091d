"""Ingest subflow: landing directory -> raw zone (immutable, deduplicated by sha256) + manifest."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from tasks.ingest import copy_to_raw, discover_landing, write_manifest


@flow(name="forecast-ingest")
def ingest(params: RunParams, run_id: str) -> list[RawObject]:
    """Copy every landing file into the raw zone once, and record the run's manifest."""
    landing_files = discover_landing(params.landing)
    records = [copy_to_raw.submit(f, params.lake_block, run_id) for f in landing_files]
    raw_objects = [future.result() for future in records]
    write_manifest(raw_objects, params.lake_block, run_id)
    return unique_contents(raw_objects)


def unique_contents(raw_objects: list[RawObject]) -> list[RawObject]:
    """Return one raw object per distinct sha256 (two identical landing files parse once)."""
    seen: dict[str, RawObject] = {}
    for record in raw_objects:
        seen.setdefault(record.sha256, record)
    return list(seen.values())
