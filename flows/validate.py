"""Validate subflow: rules, scores, anomalies, quarantine; valid rows to processed/, rejects to
rejected/, and the run's quality report."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.ingest import RawObject
from forecast.quality import QualityReport
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.validate import report_quality, validate_observations, write_zones


@flow(name="forecast-validate")
def validate(
    parsed: Parsed, raw_objects: list[RawObject], params: RunParams, run_id: str
) -> tuple[Validation, QualityReport]:
    """Validate the run's observations, write both zones and report their quality."""
    validation = validate_observations(
        parsed, params.window, params.max_rejection_rate, params.neighbour_km
    )
    write_zones(validation, raw_objects, params.window, params.lake_block, run_id)
    return validation, report_quality(parsed, validation, params.window)
