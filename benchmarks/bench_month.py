"""``make bench``: a month of 60 stations through ``forecast run``, side by side with naive scripts.

1. Generates (once, cached under ``$FORECAST_HOME/bench``) a month of 10-minute data for 60
   InfoClimat stations plus the two Weather Underground stations, in the real formats, seeded
   (``forecast.samples.write_month_landing``): 276,480 observations.
2. Starts a throw-away SecantusDB on disk, on a free port.
3. In a fresh FORECAST_HOME, ``forecast setup --mongo-uri <server>`` starts the local Prefect
   server as ``make run`` does (PostgreSQL-backed, basic auth, on a free port; with
   ``--prefect ephemeral``, ``--no-prefect-server``: each command then starts Prefect's
   ephemeral API itself), then the bare ``forecast run --landing <month>`` runs (it finds the
   server through the home, as after ``make run``), then the same command again (a rerun with
   no new input), and each stage's time is read from ``pipeline_status.json``. The server is
   stopped and its database dropped afterwards.
4. Runs ``benchmarks/naive_load.py`` on the same inputs and server, into fresh databases: with
   the seed's three indexes, and with none.
5. Lands the month as Airbyte's S3 destination writes it (``forecast.airbyte``: ``.jsonl.gz``
   objects of records in envelopes, the 60 stations' InfoClimat document as one ~60 MiB line, the
   workbooks as dated rows) and runs ``forecast run`` on it and on the same month as files (one
   InfoClimat file), each on a database of its own: the Airbyte run may take at most 1.2x the
   files' run, in time and in peak memory.
6. Prints every stage's time, the ratios and whether the targets hold; exits 1 when one is
   missed.

Usage: python benchmarks/bench_month.py [--stations 60] [--days 30] [--skip-naive]
       [--memory-scale 10] [--skip-airbyte] [--prefect server|ephemeral]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from forecast.localstack import LocalPrefectServer, free_port  # noqa: E402 (after the path)

BIN = Path(sys.executable).parent
TARGETS = {
    "product_vs_naive_seed_max": 0.5,  # at least 2x faster than the naive script with the seed's indexes
    "product_vs_naive_none_max": 2.0,  # at most 2x slower than the naive script with no index
    "rerun_vs_first_max": 0.10,
    "part_of_load_max": 0.15,  # reconciliation, gold and latency, each
    "airbyte_vs_files_max": 1.2,  # the month landed by Airbyte vs the same month as files
}


def inputs(home: Path, stations: int, days: int, files: int, wu_days: int | None = None) -> Path:
    """Return the generated month, writing it first if it is not cached."""
    wu_days = wu_days or days
    directory = home / "bench" / f"month-{stations}st-{days}d-{files}f-{wu_days}wu-seed11"
    marker = directory / ".complete"
    if not marker.exists():
        from forecast.samples import write_month_landing

        started = time.perf_counter()
        written = write_month_landing(
            directory, stations=stations, days=days, infoclimat_files=files, wu_days=wu_days
        )
        rows = sum(sum(f.rows.values()) for f in written)
        marker.write_text(json.dumps({"rows": rows}))
        sys.stdout.write(f"generated {rows} observations in {directory} "
                         f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
    return directory


def airbyte_inputs(home: Path, files: Path) -> Path:
    """Return the month ``files`` as Airbyte's S3 destination lands it (cached): one ``.jsonl.gz``
    object per stream, an InfoClimat file as one record (one line), a workbook as one record per
    row with the Date column a user adds before the sync."""
    directory = home / "bench" / f"{files.name}-airbyte-jsonl-gz"
    marker = directory / ".complete"
    if not marker.exists():
        from forecast import airbyte

        started = time.perf_counter()
        fmt = airbyte.Format("jsonl", compressed=True)
        for number, path in enumerate(
            sorted(p for p in files.iterdir() if not p.name.startswith("."))
        ):
            if path.suffix == ".json":
                stream, records = path.stem, airbyte.infoclimat_records(path)
            else:  # "La Madeleine, FR": the station's place, as users name the stream
                stream = path.stem.removeprefix("Weather Underground - ")
                records = airbyte.wunderground_records(path, seed=number)
            airbyte.write_object(records, directory, stream, fmt, seed=number)
        marker.write_text("{}")
        sys.stdout.write(f"landed the month as Airbyte objects in {directory} "
                         f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
    return directory


def run(command: list[str], env: dict[str, str]) -> tuple[float, str, float]:
    """Run ``command``; return its wall time, stdout and peak RSS in MiB (``wait4``'s
    ``ru_maxrss`` of that process itself, not of the servers it starts)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out, err = stdout.read().decode(), stderr.read().decode()
    if child.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(command[:3])} failed ({child.returncode}):\n{out}\n{err}")
    return elapsed, out, round(usage.ru_maxrss / 1024, 1)


def product(
    landing: Path, uri: str, work: Path, runs: int = 2, prefect: str = "server"
) -> list[dict]:
    """``forecast run`` on ``landing`` ``runs`` times in a fresh home; wall, status, peak RSS.

    ``prefect``: "server" (``forecast setup`` starts the home's local Prefect server, which the
    bare ``forecast run`` then finds) or "ephemeral" (each command starts its own API)."""
    home = work / "forecast"
    env = os.environ | {
        "FORECAST_HOME": str(home), "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
    }  # fmt: skip
    for name in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING"):
        env.pop(name, None)
    (work / "prefect").mkdir(parents=True)
    forecast = str(BIN / "forecast")
    server = (
        ["--prefect-port", str(free_port())] if prefect == "server" else ["--no-prefect-server"]
    )
    results = []
    try:
        run([forecast, "setup", "--mongo-uri", uri, *server], env)
        for _ in range(runs):
            elapsed, out, rss = run(
                [forecast, "run", "--landing", str(landing), "--work-dir", str(work / "work")], env
            )
            status = json.loads(
                (home / "lake" / "reports" / "latest" / "pipeline_status.json").read_text()
            )
            results.append({"wall_s": elapsed, "status": status, "summary": out, "rss_mib": rss})
    finally:
        if prefect == "server":
            LocalPrefectServer(home).forget()  # stopped, its PostgreSQL database dropped
    return results


def naive(landing: Path, uri: str, indexes: str) -> dict:
    script = ROOT / "benchmarks" / "naive_load.py"
    elapsed, out, _ = run([sys.executable, str(script), str(landing), uri, f"naive_{indexes}",
                           "--indexes", indexes], dict(os.environ))  # fmt: skip
    return json.loads(out) | {"wall_s": elapsed}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=60)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--infoclimat-files", type=int, default=4)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--memory-scale", type=int, default=10,
        help="also run the month at this scale (stations and files x N, workbooks' days x N) and "
        "compare peak RSS (0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--skip-airbyte", action="store_true",
        help="skip the month landed as Airbyte objects against the same month as files",
    )  # fmt: skip
    parser.add_argument(
        "--prefect", choices=("server", "ephemeral"), default="server",
        help="run against a local Prefect server on PostgreSQL, as make run starts it (default), "
        "or each command's ephemeral API",
    )  # fmt: skip
    args = parser.parse_args()
    home = Path(os.environ.get("FORECAST_HOME", ROOT / ".forecast")).resolve()
    landing = inputs(home, args.stations, args.days, args.infoclimat_files)
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="bench-month-") as scratch:
        work = Path(scratch)
        servers: list[subprocess.Popen[bytes]] = []
        uri = secantus(work / "mongo", servers)
        api = args.prefect
        try:
            out.write("Prefect API: " + ("the local Prefect server (PostgreSQL, basic auth) that "
                      "forecast setup starts" if api == "server" else "ephemeral (started by each "
                      "command)") + "\n")  # fmt: skip
            first, rerun = product(landing, uri, work / "product", prefect=api)
            seed = none = None
            if not args.skip_naive:
                seed = naive(landing, uri, "seed")
                none = naive(landing, uri, "none")
            scaled = None
            if args.memory_scale:
                n = args.memory_scale
                big = inputs(
                    home, args.stations * n, args.days, args.infoclimat_files * n, args.days * n
                )
                # a database of its own: the ledger of the first one would skip the contents
                # the two months share, and the 10x run would not be 10x
                fresh = secantus(work / "mongo-scaled", servers)
                (scaled,) = product(big, fresh, work / "scaled", runs=1, prefect=api)
            landed = None
            if not args.skip_airbyte:
                one_file = inputs(home, args.stations, args.days, 1)
                as_airbyte = airbyte_inputs(home, one_file)
                (as_files,) = product(one_file, secantus(work / "mongo-f", servers),
                                      work / "as-files", runs=1, prefect=api)  # fmt: skip
                (by_airbyte,) = product(as_airbyte, secantus(work / "mongo-a", servers),
                                        work / "as-airbyte", runs=1, prefect=api)  # fmt: skip
                landed = (as_files, by_airbyte)
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=60)
    report(out, first, rerun, seed, none)
    ok = verdicts(first, rerun, seed, none, out)
    if scaled is not None:
        ok &= memory(out, first, scaled, args.memory_scale)
    if landed is not None:
        ok &= airbyte_verdict(out, *landed)
    return 0 if ok else 1


def airbyte_verdict(out, files: dict, airbyte: dict) -> bool:
    """The month landed by Airbyte against the same month as files: time and peak memory."""
    documents = [r["status"]["migration"]["inserted"] for r in (files, airbyte)]
    out.write(
        f"\nairbyte: the month as files {files['wall_s']:.1f} s wall, peak RSS {files['rss_mib']} "
        f"MiB ({documents[0]} inserted); as Airbyte .jsonl.gz objects {airbyte['wall_s']:.1f} s, "
        f"{airbyte['rss_mib']} MiB ({documents[1]} inserted, status {airbyte['status']['status']})\n"
    )
    for name, (a, b) in {"stages": (files, airbyte)}.items():
        out.write(f"  {name}: files " + ", ".join(f"{k} {v:.1f}" for k, v in a["status"]["stages"].items())
                  + "; airbyte " + ", ".join(f"{k} {v:.1f}" for k, v in b["status"]["stages"].items()) + "\n")  # fmt: skip
    limit = TARGETS["airbyte_vs_files_max"]
    ok = documents[0] == documents[1] and airbyte["status"]["status"] == "success"
    for name, ratio in (("wall", airbyte["wall_s"] / files["wall_s"]),
                        ("peak RSS", airbyte["rss_mib"] / files["rss_mib"])):  # fmt: skip
        met = ratio <= limit
        ok &= met
        out.write(
            f"  airbyte / files, {name:9s}            {ratio:6.2f}  (<= {limit:.2f}) {'ok' if met else 'MISSED'}\n"
        )
    return ok


def memory(out, first: dict, scaled: dict, scale: int) -> bool:
    rows = (
        first["status"]["quality"]["records_extracted"],
        scaled["status"]["quality"]["records_extracted"],
    )
    ratio = scaled["rss_mib"] / first["rss_mib"]
    out.write(f"\nmemory: peak RSS of forecast run {first['rss_mib']} MiB for {rows[0]} rows, "
              f"{scaled['rss_mib']} MiB for {rows[1]} rows (x{rows[1] / rows[0]:.1f}) in "
              f"{scaled['wall_s']:.0f} s\n")  # fmt: skip
    met = ratio <= 1.3
    out.write(
        f"  peak RSS {scale}x / 1x                     {ratio:6.2f}  (<= 1.30) {'ok' if met else 'MISSED'}\n"
    )
    return met


def secantus(storage: Path, servers: list[subprocess.Popen[bytes]]) -> str:
    """Start a throw-away SecantusDB on ``storage`` (added to ``servers``); return its URI."""
    port = free_port()
    command = [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
               "--storage-path", str(storage), "--log-level", "WARNING"]  # fmt: skip
    servers.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return f"mongodb://127.0.0.1:{port}/"
        time.sleep(0.1)
    raise SystemExit("SecantusDB did not start")


def report(out, first: dict, rerun: dict, seed: dict | None, none: dict | None) -> None:
    status = first["status"]
    migration, stages = status["migration"], status["stages"]
    timings = migration.get("timings", {})
    out.write(
        f"\nforecast run, first ({migration['input']} documents, {migration['inserted']} inserted):\n"
    )
    for name, seconds in stages.items():
        out.write(f"  {name:10s} {seconds:8.1f} s\n")
    for name, seconds in timings.items():
        out.write(f"    {name:12s} {seconds:8.1f} s\n")
    out.write(
        f"  wall       {first['wall_s']:8.1f} s (the whole command: start-up and imports included), "
        f"peak RSS {first['rss_mib']} MiB\n"
    )
    again = rerun["status"]
    out.write(f"forecast run, rerun with no new input: {rerun['wall_s']:.1f} s wall, "
              f"inserted {again['migration']['inserted']}, updated {again['migration']['updated']}, "
              f"skipped {again.get('ledger', {}).get('skipped', '-')}; stages "
              f"{', '.join(f'{k} {v:.1f} s' for k, v in again['stages'].items())}\n")  # fmt: skip
    for label, result in (("naive, seed's 3 indexes", seed), ("naive, no index", none)):
        if result:
            out.write(f"{label:24s} {result['wall_s']:8.1f} s (parse {result['parse_s']} s, "
                      f"insert {result['insert_s']} s, {result['documents']} documents)\n")  # fmt: skip


def verdicts(first: dict, rerun: dict, seed: dict | None, none: dict | None, out) -> bool:
    timings = first["status"]["migration"].get("timings", {})
    load_s = timings.get("load_s") or float("nan")
    checks = {
        "rerun / first": (rerun["wall_s"] / first["wall_s"], TARGETS["rerun_vs_first_max"]),
        "reconciliation / load": (
            timings.get("reconcile_s", 0) / load_s,
            TARGETS["part_of_load_max"],
        ),
        "gold / load": (timings.get("gold_s", 0) / load_s, TARGETS["part_of_load_max"]),
        "latency / load": (
            first["status"]["stages"].get("latency", 0) / load_s,
            TARGETS["part_of_load_max"],
        ),
    }
    if seed:
        checks["product / naive with seed indexes"] = (
            first["wall_s"] / seed["wall_s"],
            TARGETS["product_vs_naive_seed_max"],
        )
    if none:
        checks["product / naive without index"] = (
            first["wall_s"] / none["wall_s"],
            TARGETS["product_vs_naive_none_max"],
        )
    ok = True
    out.write("\nratios (target):\n")
    for name, (value, limit) in checks.items():
        met = value <= limit
        ok &= met
        out.write(f"  {name:36s} {value:6.2f}  (<= {limit:.2f}) {'ok' if met else 'MISSED'}\n")
    return ok


if __name__ == "__main__":
    sys.exit(main())
