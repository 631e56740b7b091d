"""Run parameters: the relative window a schedule uses, resolved once per run."""

from datetime import date

import pytest
from pydantic import ValidationError

from flows.params import RunParams


def test_last_days_resolves_to_the_run_date_and_the_days_before_it():
    params = RunParams(landing="s3://bucket/airbyte-sync/", last_days=7)
    resolved = params.resolved(date(2026, 11, 25))  # a Wednesday, the production cron's day
    assert (resolved.start, resolved.end, resolved.last_days) == (
        date(2026, 11, 18), date(2026, 11, 25), None,
    )  # fmt: skip
    # consecutive weekly runs overlap by one day: nothing between them is missed
    assert params.resolved(date(2026, 12, 2)).start == resolved.end


def test_explicit_windows_are_left_as_they_are():
    params = RunParams(landing="/data", start=date(2024, 10, 1), end=date(2024, 10, 7))
    assert params.resolved(date(2026, 11, 25)) == params


def test_last_days_excludes_start_and_end():
    with pytest.raises(ValidationError, match="either last_days or start/end"):
        RunParams(landing="/data", last_days=7, start=date(2024, 10, 1))


def test_api_stations_accept_a_relative_window():
    params = RunParams(infoclimat_stations=["07015"], last_days=7)
    assert params.resolved(date(2026, 11, 25)).window.start == date(2026, 11, 18)
