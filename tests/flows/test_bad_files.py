"""Many kinds of bad file in one run: each fails alone with one clear error; the rest loads."""

from __future__ import annotations

import json
from datetime import datetime

from flows.cli import main
from forecast.samples import write_infoclimat_json


def _infoclimat(path, station: str) -> bytes:
    return write_infoclimat_json(
        path, start=datetime(2024, 10, 5), hours=2, stations=(station,)
    ).path.read_bytes()


def test_bad_files_each_get_one_error_good_files_load_and_exit_code_says_partial(
    stack, tmp_path, mongo_server, capsys
):
    landing = tmp_path / "landing"
    landing.mkdir()
    good = _infoclimat(landing / "good.json", "07015")
    (landing / "bom.json").write_bytes(b"\xef\xbb\xbf" + _infoclimat(tmp_path / "x1.json", "00052"))
    (landing / "latin1.json").write_bytes(
        good.replace(b'"Lille-Lesquin"', '"Lille-Lesquin é"'.encode("latin-1"))
    )
    (landing / "nan.json").write_bytes(
        good.replace(b'"7.6"', b"NaN", 1).replace(
            b'"temperature": "', b'"temperature": NaN, "x": "', 1
        )
    )
    (landing / "dupkey.json").write_bytes(
        good.replace(b'"status": "OK",', b'"status": "OK", "status": "OK",', 1)
    )
    (landing / "shape.json").write_bytes(b"[1, 2, 3]")
    (landing / "truncated.json").write_bytes(good[: len(good) // 2])
    (landing / "huge.json").write_bytes(b" " * 3_000_000 + b"{}")
    params = stack(landing)

    code = main(
        [
            "run",
            "--landing",
            str(landing),
            "--lake-block",
            params.lake_block,
            "--mongo-block",
            params.mongo_block,
            "--max-file-bytes",
            "2000000",
        ]
    )
    out = capsys.readouterr().out
    assert code == 3, out  # partial: distinct from 0 (success) and 1 (failure)

    manifest = json.loads(next((stack.lake / "raw" / "_manifests").rglob("*.json")).read_text())
    by_name = {f["name"]: f for f in manifest["files"]}
    assert {n: f["status"] for n, f in by_name.items()} == {
        "good.json": "parsed", "bom.json": "parsed", "latin1.json": "failed", "nan.json": "failed",
        "dupkey.json": "failed", "shape.json": "failed", "truncated.json": "failed", "huge.json": "refused",
    }  # fmt: skip
    for name, expected in {"latin1.json": "UTF-8", "nan.json": "NaN", "dupkey.json": "duplicate key 'status'",
                           "shape.json": "top level", "truncated.json": "truncated", "huge.json": "limit"}.items():  # fmt: skip
        assert expected in by_name[name]["error"], (name, by_name[name]["error"])
        assert f"FAILED {name}: " in out
    assert by_name["bom.json"]["drift"] == ["UTF-8 byte-order mark removed"]

    stored = {p.relative_to(stack.lake / "raw").as_posix()
              for p in (stack.lake / "raw").glob("source=*/ingest_date=*/*")}  # fmt: skip
    kept = {name for name, f in by_name.items() if f["raw_key"] in stored}
    assert kept == set(by_name) - {"huge.json"}  # bad bytes kept; the oversized file not copied
    for name in kept:
        assert (stack.lake / "raw" / by_name[name]["raw_key"]).read_bytes() == (
            landing / name
        ).read_bytes()
    assert (landing / "huge.json").exists()  # and the landing file is left alone

    collection = mongo_server.client()[stack.database]["weather_measurements"]
    assert {s: collection.count_documents({"station.id": s}) for s in ("07015", "00052")} == {
        "07015": 2,
        "00052": 13,
    }
