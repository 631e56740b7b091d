"""Limits are run parameters end to end: a real-size export passes the defaults, a small limit
refuses it naming the file and the flag."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.cli import main
from flows.handoff import hand_off
from flows.ingest import ingest
from flows.transform import transform
from forecast.samples import synthetic_stations, write_demo_landing, write_infoclimat_json


def test_a_63_mib_single_file_export_is_parsed_with_the_default_limits(stack, tmp_path):
    landing = tmp_path / "export"
    sample = write_infoclimat_json(
        landing / "Data_Source1_month.json", start=datetime(2024, 11, 1, tzinfo=UTC),
        hours=30 * 24, stations=synthetic_stations(34, seed=3), include_end=False,
    )  # fmt: skip
    assert sample.path.stat().st_size > 63 * 1024 * 1024  # over the former 50 MiB default
    params = stack(landing)
    raw = ingest(params, "limits-run")
    staged, files = transform(
        hand_off(raw, "raw", "", params.work_dir, "limits-run"), params, "limits-run"
    )
    ((outcome,),) = [files]
    assert (outcome.status, outcome.error, outcome.observations) == ("parsed", None, 34 * 30 * 144)
    assert staged.station_rows() == {s: 30 * 144 for s in sample.rows}


def test_max_file_bytes_refuses_a_file_naming_it_and_the_flag(stack, tmp_path, capsys):
    landing = tmp_path / "demo"
    write_demo_landing(landing)
    params = stack(landing)
    code = main(["run", "--landing", str(landing), "--lake-block", params.lake_block,
                 "--mongo-block", params.mongo_block, "--max-file-bytes", "1000"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1  # every file refused
    assert "FAILED Data_Source1_demo.json: file is " in out
    assert (
        "over the limit max_file_bytes = 1000 (run parameter max_file_bytes, forecast run --max-file-bytes)"
        in out
    )
