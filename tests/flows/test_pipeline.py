"""The parent flow through Prefect on generated real-format inputs: lake, MongoDB, reports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from flows.pipeline import forecast_pipeline
from forecast.errors import ConfigurationError, RunFailed
from forecast.samples import write_demo_landing
from tasks.reports import ARTIFACT_KEYS
from tests.support import DEMO_COUNTS, artifacts


@pytest.fixture
def landing(tmp_path):
    directory = tmp_path / "landing"
    write_demo_landing(directory)
    return directory


def _counts(mongo_server, database):
    collection = mongo_server.client()[database]["weather_measurements"]
    return {
        row["_id"]: row["n"]
        for row in collection.aggregate([{"$group": {"_id": "$station.id", "n": {"$sum": 1}}}])
    }


def test_pipeline_loads_every_demo_observation_and_a_rerun_changes_nothing(
    stack, landing, mongo_server
):
    first = forecast_pipeline(stack(landing))
    assert first.status == "success"
    assert _counts(mongo_server, stack.database) == DEMO_COUNTS
    assert first.migration["inserted"] == sum(DEMO_COUNTS.values())

    second = forecast_pipeline(stack(landing))
    # the load ledger: every content was loaded by the first run for this code and window
    assert second.ledger() == {"skipped": 3, "loaded_by": {first.run_id: 3}, "recorded": 0}
    assert {f.status for f in second.files} == {"already_loaded"}
    assert (second.migration["input"], second.migration["inserted"]) == (0, 0)
    assert {f.ingest_status for f in second.files} == {"already_ingested"}
    forced = forecast_pipeline(stack(landing, force=True))
    assert (
        forced.migration["inserted"],
        forced.migration["updated"],
        forced.migration["unchanged"],
    ) == (0, 0, sum(DEMO_COUNTS.values()))
    assert forced.ledger()["skipped"] == 0 and forced.ledger()["recorded"] == 3
    raw_objects = [
        p for p in (stack.lake / "raw").rglob("*") if p.is_file() and "source=" in str(p)
    ]
    assert len(raw_objects) == 3  # the rerun copied nothing new


def test_pipeline_writes_zones_reports_and_artifacts(stack, landing):
    status = forecast_pipeline(stack(landing))
    processed = list((stack.lake / "processed").rglob("*.parquet"))
    assert sum(pq.read_metadata(p).num_rows for p in processed) == sum(DEMO_COUNTS.values())
    document = json.loads((stack.lake / "reports" / "latest" / "pipeline_status.json").read_text())
    assert document["run_id"] == status.run_id and document["status"] == "success"
    quality = json.loads(
        (stack.lake / "reports" / f"run={status.run_id}" / "quality.json").read_text()
    )
    assert (
        quality["records_extracted"] == sum(DEMO_COUNTS.values())
        and quality["records_rejected"] == 0
    )
    latency = json.loads(
        (stack.lake / "reports" / f"run={status.run_id}" / "latency.json").read_text()
    )
    assert {q["query"] for q in latency["queries"]} >= {"station_day", "network_week", "near_point"}
    assert all("IXSCAN" in q["plan"] for q in latency["queries"])

    assert set(ARTIFACT_KEYS.values()) <= {a.key for a in artifacts(status.run_id)}


def test_a_bad_file_fails_alone_and_good_files_still_load(stack, landing, mongo_server):
    broken = b'{"status": "OK", "hourly": '
    (landing / "broken.json").write_bytes(broken)
    status = forecast_pipeline(stack(landing))
    assert status.status == "partial"
    failed = [f for f in status.files if f.failed]
    assert [f.name for f in failed] == ["broken.json"] and "not valid JSON" in failed[0].error
    assert _counts(mongo_server, stack.database) == DEMO_COUNTS
    assert (stack.lake / "raw" / failed[0].raw_key).read_bytes() == broken  # raw bytes kept


def test_rejected_rows_are_quarantined_with_reasons_and_the_rest_loads(
    stack, tmp_path, mongo_server
):
    from forecast.samples import write_wunderground_workbook

    landing = tmp_path / "bad-cells"
    write_wunderground_workbook(landing / "Weather Underground - La Madeleine, FR.xlsx", first_day=date(2024, 10, 5), days=1,
                                cell_overrides={("051024", 10, "Humidity"): "140\xa0%", ("051024", 11, "Temperature"): "N/A"})  # fmt: skip
    # 2 of the 24 rows of UTC 2024-10-04 are rejected: over the default 5 % that day would be
    # held (test_quality_flow); here the threshold lets it through to test the quarantine itself.
    status = forecast_pipeline(stack(landing, max_rejection_rate=0.5))
    assert status.quality["records_rejected"] == 2
    rejected = pq.read_table(next((stack.lake / "rejected").rglob("*.parquet"))).to_pylist()
    assert sorted((r["row"], r["reject_rules"][0]) for r in rejected) == [
        (10, "range_humidity"),
        (11, "parse_error"),
    ]
    assert _counts(mongo_server, stack.database) == {"ILAMAD25": 286}


def test_window_loads_only_the_requested_utc_dates(stack, landing, mongo_server):
    status = forecast_pipeline(stack(landing, start=date(2024, 10, 15), end=date(2024, 10, 15)))
    counts = _counts(mongo_server, stack.database)
    # InfoClimat demo: 07015 hourly 2024-10-14 00:00 .. 10-15 11:00; static 10-min .. 10-15 12:00
    assert counts["07015"] == 12 and counts["00052"] == 73
    assert status.quality["records_outside_window"] == sum(DEMO_COUNTS.values()) - sum(
        counts.values()
    )


def test_missing_block_fails_at_once_naming_it_and_the_command(landing):
    from flows.params import RunParams

    with pytest.raises(
        RunFailed, match=r"failed in ingest: .*block 'no-such-lake' .*forecast setup"
    ) as raised:
        forecast_pipeline(RunParams(landing=str(landing), lake_block="no-such-lake"))
    assert isinstance(raised.value.__cause__, ConfigurationError)
    assert str(raised.value).endswith("its run report could not be written either (the same cause)")


def test_schema_drift_is_reported_per_source_and_the_file_still_loads(
    stack, tmp_path, mongo_server
):
    import openpyxl

    from forecast.samples import write_wunderground_workbook

    landing = tmp_path / "drift"
    path = landing / "Weather Underground - La Madeleine, FR.xlsx"
    sample = write_wunderground_workbook(path, first_day=date(2024, 10, 14), days=1)
    workbook = openpyxl.load_workbook(path)
    workbook["141024"]["M1"] = "Feels Like"  # a column the pipeline does not know
    workbook["141024"]["M3"] = "55.0\xa0°F"
    workbook.save(path)
    status = forecast_pipeline(stack(landing))
    assert status.status == "success"
    document = json.loads((stack.lake / "reports" / "latest" / "pipeline_status.json").read_text())
    assert document["schema_drift"] == {
        "wunderground": [
            "Weather Underground - La Madeleine, FR.xlsx: sheet '141024': extra column 'Feels Like' ignored"
        ]
    }
    assert _counts(mongo_server, stack.database) == {"ILAMAD25": sample.rows["141024"]}


def test_a_windowed_rerun_skips_raw_contents_outside_the_window(stack, landing):
    forecast_pipeline(stack(landing))  # records each content's span
    later = forecast_pipeline(stack(landing, start=date(2024, 10, 20), end=date(2024, 10, 26)))
    assert {f.status for f in later.files} == {"outside_window"}
    assert later.quality["records_extracted"] == 0 and later.status == "success"
    inside = forecast_pipeline(stack(landing, start=date(2024, 10, 15), end=date(2024, 10, 15)))
    assert {f.status for f in inside.files} == {"parsed"}


def test_a_relative_window_is_resolved_once_at_the_start_of_the_run(stack, landing):
    today = datetime.now(UTC).date()
    status = forecast_pipeline(stack(landing, last_days=1))
    assert status.window == {
        "start": (today - timedelta(days=1)).isoformat(),
        "end": today.isoformat(),
    }
    # the demo inputs are from 2024: all of them are outside a window ending today
    assert status.quality["records_outside_window"] == sum(DEMO_COUNTS.values())
    assert status.migration["input"] == 0


def test_a_partial_run_ends_in_a_partial_state_no_completed_run_automation_counts(stack, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    state = forecast_pipeline(stack(empty), return_state=True)
    assert (state.type.value, state.name) == (
        "COMPLETED",
        "Partial",
    )  # event prefect.flow-run.Partial
    assert (
        state.message
        == "partial: nothing to read: the landing held no object and no API response came"
    )
    assert state.result().status == "partial"
