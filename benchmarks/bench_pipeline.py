"""Benchmark of the vectorised hot path on the real files: parse, validate, write plan.

Targets (checked here, not in timed tests): the whole hot path over the 4,950 real
observations under 2 s and above 5,000 rows/s, peak RSS under 1 GiB. Prints one line per
stage and exits 1 if a target is missed.

Usage: make bench  (or .venv/bin/python benchmarks/bench_pipeline.py [RAW_DIR] [REPEAT])
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from forecast.documents import RunContext, write_plan
from forecast.ingest import discover
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.validate import validate

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}
MAX_SECONDS, MIN_ROWS_PER_S, MAX_RSS_MIB = 2.0, 5_000, 1024


def run_once(directory: Path) -> dict[str, float]:
    files, _ = discover(directory)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    parsed = []
    for landing in files:
        content = Path(landing.location).read_bytes()
        raw = RawFile(landing.name, content, landing.name, hashlib.sha256(content).hexdigest())
        parsed.append(PARSERS[landing.source](raw))
    timings["parse"] = time.perf_counter() - started
    observations = pa.concat_tables([p.observations for p in parsed])
    stations = pa.concat_tables([p.stations for p in parsed])
    started = time.perf_counter()
    result = validate(observations)
    timings["validate"] = time.perf_counter() - started
    started = time.perf_counter()
    plans = write_plan(result.valid, stations, RunContext("bench", datetime.now(UTC)))
    timings["plan"] = time.perf_counter() - started
    timings["rows"] = float(sum(len(p) for p in plans))
    return timings


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else RAW
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    runs = [run_once(directory) for _ in range(repeat)]
    best = {stage: min(run[stage] for run in runs) for stage in ("parse", "validate", "plan")}
    total = sum(best.values())
    rows = runs[0]["rows"]
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = sys.stdout
    for stage, seconds in best.items():
        out.write(f"{stage:9s} {seconds * 1000:8.1f} ms (best of {repeat})\n")
    out.write(
        f"total     {total * 1000:8.1f} ms  {rows:.0f} rows  {rows / total:,.0f} rows/s  peak RSS {rss_mib:.0f} MiB\n"
    )
    ok = total <= MAX_SECONDS and rows / total >= MIN_ROWS_PER_S and rss_mib <= MAX_RSS_MIB
    out.write("targets met\n" if ok else "TARGET MISSED\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
