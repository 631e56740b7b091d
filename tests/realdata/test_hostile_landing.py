"""Hostile things beside the real files in a landing (issue 20, rows 1-4): none of them keeps
the real files from loading, and nothing outside the landing is ever read.

Each test puts the three real files (hard links, no copies of their bytes on disk) in a landing
of its own with one hostile thing beside them, and runs the ``forecast`` CLI on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from blocks.local import save_local_lake, save_mongo
from flows.cli import main
from tests.s3_support import station_counts
from tests.support import REAL_COUNTS

pytestmark = pytest.mark.realdata

LA_MADELEINE = "Weather Underground - La Madeleine, FR.xlsx"
JSON = "Data_Source1_011024-071024.json"


@pytest.fixture
def run(mongo_server, prefect_harness, tmp_path):
    """Return a runner of the CLI on a landing, into a lake and database of this test."""
    suffix = uuid.uuid4().hex[:10]
    lake, mongo, database = f"h-lake-{suffix}", f"h-mongo-{suffix}", f"h_{suffix}"
    save_local_lake(tmp_path / "lake", name=lake)
    save_mongo(mongo_server.uri, name=mongo, database=database)

    def cli(landing: Path, *extra: str) -> tuple[int, str, dict[str, int]]:
        argv = ["run", "--landing", str(landing), "--lake-block", lake, "--mongo-block", mongo,
                "--latency-iterations", "1", *extra]  # fmt: skip
        code = main(argv)
        return code, "", station_counts(mongo_server, database)

    cli.lake = tmp_path / "lake"  # type: ignore[attr-defined]
    return cli


def real_landing(shared_raw: Path, directory: Path) -> Path:
    """The real files under ``directory``, as hard links (or copies across filesystems)."""
    for path in sorted(shared_raw.rglob("*")):
        if path.suffix in (".json", ".xlsx"):
            target = directory / path.relative_to(shared_raw)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, target)
            except OSError:
                shutil.copyfile(path, target)
    return directory


def _failed(out: str) -> dict[str, str]:
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("FAILED ")]
    return dict(line.removeprefix("FAILED ").split(": ", 1) for line in lines)


# ------------------------------------------------------------------------ 1: name and content


def test_a_workbook_copied_under_another_name_never_takes_the_real_ones_station(
    shared_raw, tmp_path, run, capsys
):
    paris = tmp_path / "paris"
    paris.mkdir()
    (paris / "Weather Underground - Paris, FR.xlsx").write_bytes(
        (shared_raw / "wunderground" / LA_MADELEINE).read_bytes()
    )
    code, _, counts = run(paris)
    out = capsys.readouterr().out
    assert code == 1 and counts == {}  # its only file names no station
    assert "no Weather Underground station is registered" in out

    code, _, counts = run(real_landing(shared_raw, tmp_path / "real"), "--force")
    assert code == 0, capsys.readouterr().out
    assert counts == REAL_COUNTS  # La Madeleine loads: nothing inherited from the copy's name


def test_both_names_of_one_workbook_in_one_run_resolve_each_on_its_own(
    shared_raw, tmp_path, run, capsys
):
    landing = real_landing(shared_raw, tmp_path / "landing")
    (landing / "Weather Underground - Paris, FR.xlsx").write_bytes(
        (shared_raw / "wunderground" / LA_MADELEINE).read_bytes()
    )
    code, _, counts = run(landing)
    out = capsys.readouterr().out
    assert code == 3, out  # partial
    assert list(_failed(out)) == ["Weather Underground - Paris, FR.xlsx"]
    assert counts == REAL_COUNTS


# ------------------------------------------------------------------------------ 2: long names


def test_a_long_file_name_is_stored_and_poisons_no_later_run(shared_raw, tmp_path, run, capsys):
    landing = real_landing(shared_raw, tmp_path / "landing")
    long_name = "Data_Source1_" + "x" * (230 - len("Data_Source1_.json")) + ".json"
    assert len(long_name) == 230
    (landing / long_name).write_bytes((shared_raw / "infoclimat" / JSON).read_bytes())
    code, _, counts = run(landing)
    out = capsys.readouterr().out
    assert code == 0, out
    assert counts == REAL_COUNTS and "files: 4 (0 failed, 0 ignored)" in out
    stored = [p for p in (run.lake / "raw").rglob("*") if p.is_file()]
    assert max(len(p.name) for p in stored) < 100  # bounded keys; the name is in the manifest
    assert any(
        long_name in p.read_text() for p in (run.lake / "raw" / "_manifests").rglob("*.json")
    )
    code, _, counts = run(landing, "--force")
    assert code == 0 and counts == REAL_COUNTS


# -------------------------------------------------------------------------- 3: unreadable file


def test_a_file_that_cannot_be_read_fails_alone_and_the_others_load(
    shared_raw, tmp_path, run, capsys, monkeypatch
):
    from forecast.lake import landing as landing_module

    landing = real_landing(shared_raw, tmp_path / "landing")
    locked = landing / "locked.json"
    locked.write_text("{}")
    opener = landing_module.LocalLanding._open

    def refuse_locked(self, file):  # what chmod 000 gives a process without CAP_DAC_OVERRIDE
        if file.location == str(locked):
            raise PermissionError(13, "Permission denied", file.location)
        return opener(self, file)

    monkeypatch.setattr(landing_module.LocalLanding, "_open", refuse_locked)
    code, _, counts = run(landing)
    out = capsys.readouterr().out
    assert code == 3, out
    assert _failed(out) == {
        "locked.json": f"cannot be read: PermissionError: [Errno 13] Permission denied: '{locked}'"
    }
    assert counts == REAL_COUNTS


@pytest.mark.skipif(os.geteuid() != 0, reason="drops the root capabilities that read any file")
def test_a_chmod_000_file_is_an_oserror_when_the_process_cannot_override_permissions(tmp_path):
    """The real thing, without root's CAP_DAC_OVERRIDE: the landing raises an OSError (which
    ingest turns into that file's refusal, above), it does not crash the listing."""
    (tmp_path / "landing").mkdir()
    locked = tmp_path / "landing" / "locked.json"
    locked.write_text("{}")
    locked.chmod(0)
    script = textwrap.dedent(f"""
        from pathlib import Path
        from forecast.lake.landing import LocalLanding
        landing = LocalLanding(Path({str(tmp_path / "landing")!r}))
        (found,), _ = landing.list()
        try:
            landing.download(found, Path({str(tmp_path / "copy")!r}))
        except OSError as exc:
            print(type(exc).__name__, exc.errno)
    """)  # fmt: skip
    dropped = "-dac_override,-dac_read_search"
    done = subprocess.run(
        ["setpriv", f"--inh-caps={dropped}", f"--bounding-set={dropped}", sys.executable, "-c",
         script],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.stdout.strip() == "PermissionError 13"


# ---------------------------------------------------------------------------------- 4: links


def test_links_never_lead_out_of_the_landing(shared_raw, tmp_path, run, capsys, monkeypatch):
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", sentinel)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text(f'{{"token": "{sentinel}"}}')
    landing = real_landing(shared_raw, tmp_path / "landing")
    (landing / "env.json").symlink_to("/proc/self/environ")
    (landing / "linked.json").symlink_to(outside / "secret.json")
    (landing / "folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(landing / "pipe.json")
    code, _, counts = run(landing)
    out = capsys.readouterr().out
    assert code == 3, out
    failed = _failed(out)
    assert set(failed) == {"env.json", "linked.json", "folder", "pipe.json"}
    assert failed["env.json"].startswith("a symbolic link (to file '/proc/self/environ'): not read")
    assert failed["folder"].startswith("a symbolic link (to folder")
    assert failed["pipe.json"] == "not a regular file (a FIFO): not read"
    assert counts == REAL_COUNTS
    written = b"".join(p.read_bytes() for p in run.lake.rglob("*") if p.is_file())
    assert sentinel.encode() not in written


# ------------------------------------------------------------------------ 8: disagreeing copies


def test_a_stray_file_that_disagrees_wins_nothing_and_the_run_says_so(
    shared_raw, tmp_path, run, capsys, mongo_server, monkeypatch
):
    import json

    monkeypatch.setenv("FORECAST_EMF", "stdout")
    document = json.loads((shared_raw / "infoclimat" / JSON).read_bytes())
    for records in document["hourly"].values():
        for record in records if isinstance(records, list) else ():
            if isinstance(record, dict) and record.get("temperature") not in (None, ""):
                record["temperature"] = f"{float(record['temperature']) + 10:.1f}"
    landing = real_landing(shared_raw, tmp_path / "landing")
    (landing / "overlap.json").write_text(json.dumps(document))
    code, _, counts = run(landing)
    out = capsys.readouterr().out
    assert code == 3, out  # partial: neither copy silently won
    assert counts == {k: v for k, v in REAL_COUNTS.items() if k in ("ILAMAD25", "IICHTE19")}
    disputed = 2 * sum(v for k, v in REAL_COUNTS.items() if k not in ("ILAMAD25", "IICHTE19"))
    assert f"conflicting {disputed}" in out
    assert f"{disputed} observations disagree with another of the same station and time" in out
    assert '"DuplicatesConflicting":' + str(disputed) in out
