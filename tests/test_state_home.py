"""One state home: the bare ``forecast`` command resolves the same FORECAST_HOME and PREFECT_HOME
as the Makefile, from any working directory, with no environment variable set (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORECAST = Path(sys.executable).parent / "forecast"


def _clean_env(tmp_path: Path) -> dict[str, str]:
    keep = {"PATH", "LANG", "LC_ALL", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["HOME"] = str(tmp_path / "home")  # a user without ~/.prefect
    return env


def _homes(output: str) -> dict[str, str]:
    pairs = (line.split(": ", 1) for line in output.splitlines() if ": " in line)
    return {key: value for key, value in pairs if key in {"FORECAST_HOME", "PREFECT_HOME"}}


def test_the_bare_cli_and_the_makefile_use_the_same_homes(tmp_path):
    env = _clean_env(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    make = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "status"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    bare = subprocess.run(
        [str(FORECAST), "status"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    from_make, from_cli = _homes(make.stdout), _homes(bare.stdout)
    assert (
        from_make
        == from_cli
        == {
            "FORECAST_HOME": str(ROOT / ".forecast"),
            "PREFECT_HOME": str(ROOT / ".forecast" / "prefect"),
        }
    ), (make.stdout, bare.stdout)


def test_a_user_setting_wins(tmp_path):
    env = _clean_env(tmp_path) | {"FORECAST_HOME": str(tmp_path / "mine")}
    bare = subprocess.run(
        [str(FORECAST), "status"], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert _homes(bare.stdout) == {
        "FORECAST_HOME": str(tmp_path / "mine"),
        "PREFECT_HOME": str(tmp_path / "mine" / "prefect"),
    }
