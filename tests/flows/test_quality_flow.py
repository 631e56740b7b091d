"""Data quality through the whole flow: injected faults found exactly, thresholds, requeue."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import plotly
import pyarrow.parquet as pq
import pytest

from flows.cli import main
from flows.pipeline import forecast_pipeline
from forecast.errors import RejectionThresholdExceeded
from forecast.quality import rules
from forecast.quality.html import plotly_asset
from forecast.samples import write_wunderground_workbook
from forecast.sources import wunderground
from forecast.sources.common import RawFile
from tests.flows.test_run_failure import _status_artifact

SPACE_NAME = "Weather Underground - La Madeleine, FR.xlsx"
PLUS_NAME = "Weather+Underground+-+La+Madeleine,+FR.xlsx"
STUCK_ROWS = range(3, 243)  # sheet 051024, local 00:00-19:55: 240 readings, 19.9 h


def _stuck_vane() -> dict[tuple[str, int, str], str]:
    cells = {}
    for i, row in enumerate(STUCK_ROWS):
        speed = 2 + i % 5
        cells |= {("051024", row, "Wind"): "NNW", ("051024", row, "Speed"): f"{speed}.0\xa0mph",
                  ("051024", row, "Gust"): f"{speed + 2}.0\xa0mph"}  # fmt: skip
    # The reading after the run blows from the opposite side, so the run ends exactly here.
    return cells | {("051024", 243, "Wind"): "SSE", ("051024", 243, "Speed"): "5.0\xa0mph",
                    ("051024", 243, "Gust"): "7.0\xa0mph"}  # fmt: skip


def _temperature_f(path: Path, sheet: str, row: int) -> float:
    content = path.read_bytes()
    parsed = wunderground.parse(
        RawFile(path.name, content, path.name, hashlib.sha256(content).hexdigest())
    )
    rows = parsed.observations.to_pylist()
    (match,) = [r for r in rows if r["sheet"] == sheet and r["row"] == row]
    return match["temperature"] * 9 / 5 + 32


@pytest.fixture
def faulty_landing(tmp_path: Path) -> Path:
    """Two exports of La Madeleine for 2024-10-05 and 06 (same generator, so the same readings)
    with four injected faults, everything else clean:

    - spike: 051024 row 270 (22:19 local) reads 100 degF between two ordinary readings;
    - stuck vane: 051024 rows 3-242 (00:04-19:59 local) read NNW while the speed varies;
    - humidity 140 %: 051024 row 280 (23:09 local), in the first export only;
    - conflicting duplicate: 061024 row 150 (12:19 local) is 1 degF warmer in the second export.

    Every other reading is in both exports with identical values, so it collapses.
    """
    landing = tmp_path / "landing"
    first, second = landing / SPACE_NAME, landing / PLUS_NAME
    shared = {("051024", 270, "Temperature"): "100.0\xa0°F"} | _stuck_vane()
    write_wunderground_workbook(first, first_day=date(2024, 10, 5), days=2,
                                cell_overrides=shared | {("051024", 280, "Humidity"): "140\xa0%"})  # fmt: skip
    original = _temperature_f(first, "061024", 150)
    write_wunderground_workbook(
        second, first_day=date(2024, 10, 5), days=2,
        cell_overrides=shared | {("061024", 150, "Temperature"): f"{original + 1:.1f}\xa0°F"},
    )  # fmt: skip
    return landing


def _quality(stack, run_id: str) -> dict:
    return json.loads((stack.lake / "reports" / f"run={run_id}" / "quality.json").read_text())


def _documents(mongo_server, stack) -> dict[str, dict]:
    collection = mongo_server.client()[stack.database]["weather_measurements"]
    return {doc["_id"]: doc for doc in collection.find()}


def test_injected_faults_are_found_exactly_and_nothing_else(stack, faulty_landing, mongo_server):
    status = forecast_pipeline(stack(faulty_landing))
    assert status.status == "partial"  # the two exports disagree on one reading
    assert status.reason.startswith("2 observations disagree with another of the same station")
    quality = _quality(stack, status.run_id)
    assert quality["rejections_by_rule"] == {"range_humidity": 1, "duplicate_conflict": 2}
    assert quality["warnings_by_rule"] == {"stuck_wind_direction": 240, "spike_temperature": 1}
    assert (quality["records_extracted"], quality["duplicates_collapsed"]) == (1152, 574)
    assert (quality["records_validated"], quality["records_rejected"]) == (575, 3)
    (finding,) = quality["findings"]
    assert (finding["rule"], finding["station_id"], finding["start"], finding["end"],
            finding["readings"]) == ("stuck_wind_direction", "ILAMAD25", "2024-10-04T22:04:00Z",
                                     "2024-10-05T17:59:00Z", 240)  # fmt: skip

    rejected = pq.read_table(next((stack.lake / "rejected").rglob("*.parquet"))).to_pylist()
    found = sorted((r["source_file"], r["sheet"], r["row"], r["reject_rules"]) for r in rejected)
    assert found == [
        (SPACE_NAME, "051024", 280, ["range_humidity"]),
        (SPACE_NAME, "061024", 150, ["duplicate_conflict"]),  # neither export's reading wins
        (PLUS_NAME, "061024", 150, ["duplicate_conflict"]),
    ]
    assert all(r["raw_key"] and r["raw_sha256"] and r["reject_reasons"] for r in rejected)
    conflict = next(r for r in rejected if r["reject_rules"] == ["duplicate_conflict"])
    assert (
        f"(file '{PLUS_NAME}', sheet '061024', row 150 vs file '{SPACE_NAME}', sheet '061024', "
        "row 150): temperature " in conflict["reject_reasons"][0]
    )

    documents = _documents(mongo_server, stack)
    assert len(documents) == 575  # every undisputed key; the humidity-140 one from the clean export
    assert documents["ILAMAD25:2024-10-05T21:09:00.000Z"]["measurements"]["humidity"]["value"] < 100
    spike = documents["ILAMAD25:2024-10-05T20:19:00.000Z"]
    assert spike["data_quality"]["rules"] == ["spike_temperature"]
    assert spike["data_quality"]["score"] == 100 - rules.RULES_BY_ID["spike_temperature"].penalty
    stuck = documents["ILAMAD25:2024-10-05T12:04:00.000Z"]
    assert stuck["data_quality"]["rules"] == ["stuck_wind_direction"]
    assert "ILAMAD25:2024-10-06T10:19:00.000Z" not in documents  # disputed: not loaded
    assert sum(1 for d in documents.values() if d["data_quality"]["rules"]) == 241


def test_the_quality_page_is_in_the_lake_and_linked_from_the_run_status(stack, faulty_landing):
    status = forecast_pipeline(stack(faulty_landing))
    page_path = stack.lake / "reports" / f"run={status.run_id}" / "quality.html"
    page = page_path.read_text(encoding="utf-8")
    assert (stack.lake / "reports" / "latest" / "quality.html").read_text(encoding="utf-8") == page
    asset = stack.lake / "reports" / "assets" / f"plotly-{plotly.__version__}.min.js"
    assert f'src="../assets/{asset.name}"' in page and asset.read_bytes() == plotly_asset()
    assert len(page) < 500_000  # the page alone: the library is shared by every run's page
    assert '"ILAMAD25-wind_direction-stuck_wind_direction"' in page
    assert "stuck_wind_direction: 240 flagged (240 shown)" in page
    assert "spike_temperature: 1 flagged (1 shown)" in page  # on the temperature panel
    assert "La Madeleine (ILAMAD25)" in page
    document = json.loads((stack.lake / "reports" / "latest" / "pipeline_status.json").read_text())
    assert document["reports"]["quality_html"] == f"reports/run={status.run_id}/quality.html"
    artifact = _status_artifact(status.run_id)
    assert f"[quality.html]({page_path.resolve().as_uri()})" in artifact


def test_requeue_after_a_rule_change_releases_what_the_new_rules_accept(
    stack, tmp_path, mongo_server, monkeypatch, capsys
):
    landing = tmp_path / "humid"
    write_wunderground_workbook(landing / SPACE_NAME, first_day=date(2024, 10, 5), days=1,
                                cell_overrides={("051024", 280, "Humidity"): "140\xa0%"})  # fmt: skip
    first = forecast_pipeline(stack(landing))
    assert first.quality["records_rejected"] == 1
    params = stack(landing)
    args = ["--lake-block", params.lake_block, "--mongo-block", params.mongo_block]

    assert main(["requeue", "--list", *args]) == 0
    assert f"{first.run_id} (" in capsys.readouterr().out

    # A rule change: suppose a sensor legitimately reads up to 150 % (it does not; it is a test).
    monkeypatch.setitem(rules.PHYSICAL_RANGES, "humidity", (0.0, 150.0, "test"))
    assert main(["requeue", "--run", first.run_id, *args]) == 0
    out = capsys.readouterr().out
    assert f"requeue of run {first.run_id}: 1 rows" in out
    assert "validated 288, rejected 0" in out

    documents = _documents(mongo_server, stack)
    assert len(documents) == 288
    assert (
        documents["ILAMAD25:2024-10-05T21:09:00.000Z"]["measurements"]["humidity"]["value"] == 140
    )
    (marker,) = (stack.lake / "rejected").rglob(f"run={first.run_id}.requeued.json")
    assert json.loads(marker.read_text())["rows_quarantined"] == 1
    # The original quarantine is kept as it was; requeueing it again finds nothing pending.
    (quarantine,) = (stack.lake / "rejected").rglob(f"run={first.run_id}.parquet")
    assert pq.read_table(quarantine).num_rows == 1
    assert main(["requeue", "--run", first.run_id, *args]) == 0
    assert "nothing pending" in capsys.readouterr().err


def test_a_partition_over_the_threshold_is_held_and_the_run_fails_after_loading_the_rest(
    stack, tmp_path, mongo_server, capsys
):
    landing = tmp_path / "bad-cells"
    write_wunderground_workbook(landing / SPACE_NAME, first_day=date(2024, 10, 5), days=1,
                                cell_overrides={("051024", 10, "Humidity"): "140\xa0%",
                                                ("051024", 11, "Temperature"): "N/A"})  # fmt: skip
    with pytest.raises(RejectionThresholdExceeded) as raised:
        forecast_pipeline(stack(landing))
    # (the CLI turns this into exit code 4 with the partitions on stderr: see below)
    # Rows 3-26 are local 00:00-01:55, UTC 2024-10-04: 2 of those 24 rejected (8.3 %).
    assert "station ILAMAD25 on 2024-10-04: 2 of 24 rows rejected (8.3%) > 5.0%" in str(
        raised.value
    )
    status = raised.value.status
    assert (status.status, status.quality["records_held"], status.quality["records_rejected"]) == (
        "held",
        22,
        2,
    )
    assert len(_documents(mongo_server, stack)) == 288 - 24  # the held day is not loaded
    document = json.loads((stack.lake / "reports" / "latest" / "pipeline_status.json").read_text())
    assert document["status"] == "held" and "ILAMAD25 on 2024-10-04" in document["held"]
    rejected = pq.read_table(next((stack.lake / "rejected").rglob("*.parquet"))).to_pylist()
    held = [r for r in rejected if r["reject_rules"] == ["rejection_threshold"]]
    assert (
        len(held) == 22
        and "partition held: station ILAMAD25 on 2024-10-04" in held[0]["reject_reasons"][0]
    )

    # Through the CLI the same run exits 4 and names the partition.
    params = stack(landing)
    blocks = ["--lake-block", params.lake_block, "--mongo-block", params.mongo_block]
    assert main(["run", "--landing", str(landing), *blocks]) == 4
    out, err = capsys.readouterr()
    assert "held 22" in out and "forecast: held: 1 partition(s)" in err

    # The operator looks, accepts the day knowingly, and releases it with a higher threshold.
    assert main(["requeue", "--all", "--max-rejection-rate", "0.1", *blocks]) == 0
    assert len(_documents(mongo_server, stack)) == 286
