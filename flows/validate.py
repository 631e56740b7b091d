"""Validate subflow: rules, scores, quarantine; valid rows to processed/, rejects to rejected/."""

from __future__ import annotations

from prefect import flow

from flows.params import RunParams
from forecast.reports import QualityReport, quality_report
from forecast.sources.common import Parsed
from forecast.validate import Validation
from tasks.validate import validate_observations, write_zones


@flow(name="forecast-validate")
def validate(parsed: Parsed, params: RunParams, run_id: str) -> tuple[Validation, QualityReport]:
    """Validate the run's observations, write both zones and report their quality."""
    validation = validate_observations(parsed, params.window)
    write_zones(validation, params.lake_block, run_id)
    return validation, quality_report(parsed.observations, validation, parsed.stations)
