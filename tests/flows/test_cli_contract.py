"""What an independent test of ``forecast run`` found (issue 20, rows 5 and 10): a run's MongoDB
is fixed at its start, the password is never in argv, usage errors are one line and exit 2,
tracebacks stay off the terminal, the ephemeral Prefect API dies with its command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.cli import main
from forecast.samples import write_demo_landing
from tests.support import SecantusServer, free_port, station_counts_of_uri

ROOT = Path(__file__).resolve().parents[2]


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A ``forecast`` command's environment of its own: its homes, no Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FORECAST_"))}
    return env | {
        "FORECAST_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
        "PYTHONPATH": str(ROOT), **extra,
    }  # fmt: skip


def _forecast(*argv: str) -> list[str]:
    return [sys.executable, "-m", "flows.cli", *argv]


# ---------------------------------------------------------------------------- usage errors


def test_start_after_end_is_a_usage_error_in_one_line(tmp_path, capsys):
    code = main(["run", "--landing", str(tmp_path), "--start", "2024-10-07", "--end", "2024-10-01"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == ["forecast run: error: end 2024-10-01 is before start 2024-10-07"]


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://loader:s3cret-pw@127.0.0.1:27017/",
        "mongodb://lo@der:s3cret-pw@127.0.0.1:27017/",  # an unescaped "@" in the user name
    ],
)
def test_a_password_in_argv_is_refused_before_anything_runs(tmp_path, capsys, uri):
    code = main(["run", "--landing", str(tmp_path), "--mongo-uri", uri])
    out, err = capsys.readouterr()
    assert code == 2 and len(err.splitlines()) == 1
    assert "FORECAST_MONGO_URI" in err and "--mongo-uri-file" in err
    assert "s3cret-pw" not in out + err


def test_the_uri_comes_from_a_file_or_the_environment(
    stack, mongo_server, tmp_path, capsys, monkeypatch
):
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    params = stack(landing)
    uri_file = tmp_path / "mongo.uri"
    uri_file.write_text(f"{mongo_server.uri}\n")
    code = main(["run", "--landing", str(landing), "--lake-block", params.lake_block,
                 "--mongo-uri-file", str(uri_file)])  # fmt: skip
    assert code == 0, capsys.readouterr().out
    assert station_counts_of_uri(mongo_server.uri, "forecast_2_0")
    monkeypatch.setenv("FORECAST_MONGO_URI", mongo_server.uri)
    code = main(["run", "--landing", str(landing), "--lake-block", params.lake_block])
    assert code == 0
    assert "inserted 0, updated 0" in capsys.readouterr().out


# ------------------------------------------------------------------ one MongoDB per run


def test_runs_racing_in_one_home_each_load_into_their_own_target_and_count_their_own_inserts(
    tmp_path,
):
    """Rows 5 and 9: three runs in one home, started together. A loads one landing into server
    1; B and C load another into server 2. Each target gets its runs' documents and nothing of
    the other's (each run's MongoDB is fixed at its start: ``FORECAST_MONGO_URI``, one block per
    target), and B and C, racing on the same documents, count each insert once between them."""
    import re

    servers = [SecantusServer(tmp_path / f"mongo-{n}") for n in (1, 2)]
    for server in servers:
        server.start()
    try:
        landings = []
        for n, seed in ((1, 7), (2, 8)):
            landings.append(tmp_path / f"landing-{n}")
            write_demo_landing(landings[-1], seed=seed)
        home = tmp_path / "home"
        setup = _env(home, FORECAST_MONGO_URI=servers[0].uri)
        subprocess.run(
            _forecast("setup", "--no-prefect-server"),
            env=setup,
            check=True,
            capture_output=True,
            timeout=300,
        )
        plan = [(landings[0], servers[0]), (landings[1], servers[1]), (landings[1], servers[1])]
        runs = [
            subprocess.Popen(
                _forecast("run", "--landing", str(landing), "--latency-budget", "1"),
                env=_env(home, FORECAST_MONGO_URI=server.uri), cwd=ROOT,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for landing, server in plan
        ]  # fmt: skip
        outputs = [run.communicate(timeout=900) for run in runs]
        assert [run.returncode for run in runs] == [0, 0, 0], outputs
        inserted = [int(re.search(r"mongo: inserted (\d+),", out).group(1)) for out, _ in outputs]
        counts = [sum(station_counts_of_uri(s.uri, "forecast_2_0").values()) for s in servers]
        assert inserted[0] == counts[0] > 0  # A's target: A's documents
        assert inserted[1] + inserted[2] == counts[1] == counts[0]  # B and C: each insert once
        first = servers[0].client().forecast_2_0.weather_measurements.find_one(sort=[("_id", 1)])
        second = (
            servers[1].client().forecast_2_0.weather_measurements.find_one({"_id": first["_id"]})
        )
        assert first["measurements"] != second["measurements"]  # two seeds, two targets
    finally:
        for server in servers:
            server.stop()


# --------------------------------------------------------------- the terminal and the API


def test_a_failing_run_prints_no_traceback_unless_asked(tmp_path):
    """A run in a new home (no ``forecast setup``: no lake block) fails in its first stage; its
    tasks' failures are logged as one line each, not as tracebacks."""
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    env = _env(tmp_path / "new-home")
    done = subprocess.run(_forecast("run", "--landing", str(landing)), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    reason = done.stderr.strip().splitlines()[-1]
    assert reason.startswith("forecast run: error: ") and "forecast-lake" in reason
    debug = subprocess.run(_forecast("run", "--landing", str(landing)), cwd=ROOT, timeout=600,
                           env=env | {"FORECAST_DEBUG": "1"}, capture_output=True, text=True)  # fmt: skip
    assert "Traceback" in debug.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _ephemeral_server(pid: int) -> int | None:
    for child in _children(pid):
        try:
            command = (Path("/proc") / str(child) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"prefect.server.api.server:create_app" in command:
            return child
    return None


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's"
)
def test_a_killed_run_takes_its_ephemeral_api_server_with_it(tmp_path):
    landing = tmp_path / "landing"
    write_demo_landing(landing)
    home = tmp_path / "home"
    env = _env(home, FORECAST_MONGO_URI=f"mongodb://127.0.0.1:{free_port()}/")
    run = subprocess.Popen(_forecast("run", "--landing", str(landing)), env=env, cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline, server = time.monotonic() + 120, None
        while server is None and time.monotonic() < deadline and run.poll() is None:
            server = _ephemeral_server(run.pid)
            time.sleep(0.2)
        assert server is not None, "the run never started an ephemeral API server"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        deadline = time.monotonic() + 15
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(server), f"ephemeral API server {server} outlived its killed run"
    finally:
        if run.poll() is None:
            run.kill()
