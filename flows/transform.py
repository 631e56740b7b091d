"""Transform subflow: raw objects -> one canonical Arrow table (per-file failures kept apart)."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject, unique_contents
from forecast.reports import FileOutcome, per_input
from forecast.sources.common import Parsed
from tasks.transform import (
    combine,
    file_outcomes,
    parse_raw_object,
    record_outcomes,
    select_for_window,
)


@flow(name="forecast-transform")
def transform(
    raw_objects: list[RawObject], params: RunParams, run_id: str
) -> tuple[Parsed, list[FileOutcome]]:
    """Parse each content the window needs once (cached by content); a bad file fails alone."""
    selected, skipped = select_for_window(
        unique_contents(raw_objects), params.window, params.lake_block, params.ledger_query
    )
    futures = [parse_raw_object.submit(record, params.lake_block) for record in selected]
    parsed, outcomes = file_outcomes(selected, futures)
    files = per_input(raw_objects, skipped + outcomes)
    record_outcomes(files, params.lake_block, run_id)
    return combine(parsed), files
