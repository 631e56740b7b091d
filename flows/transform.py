"""Transform subflow: raw objects -> one canonical Arrow table (per-file failures kept apart)."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from forecast.reports import FileOutcome
from forecast.sources.common import Parsed
from tasks.transform import combine, file_outcomes, parse_raw_object


@flow(name="forecast-transform")
def transform(raw_objects: list[RawObject], params: RunParams) -> tuple[Parsed, list[FileOutcome]]:
    """Parse every raw object (cached by content) and combine them; a bad file fails alone."""
    futures = [parse_raw_object.submit(record, params.lake_block) for record in raw_objects]
    parsed, outcomes = file_outcomes(raw_objects, futures)
    return combine(parsed), outcomes
