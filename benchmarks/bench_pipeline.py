"""Benchmark of the vectorised hot path on the real files: parse, validate, write plan.

Targets (checked here, not in timed tests): the whole hot path over the 4,950 real
observations under 2 s and above 5,000 rows/s, peak RSS under 1 GiB; and validation plus the
quality report (rules, duplicates, anomalies, completeness) over the real rows repeated
SCALE times as consecutive weeks (~500,000 rows) above 100,000 rows/s. Prints one line per
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
import pyarrow.compute

from forecast.lake.ingest import discover
from forecast.mongo.plan import RunContext, write_plan
from forecast.quality.report import quality_report
from forecast.quality.validate import Window, validate
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.sources.registry import recognise_file

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}
MAX_SECONDS, MIN_ROWS_PER_S, MAX_RSS_MIB = 2.0, 5_000, 1024
SCALE, MIN_QUALITY_ROWS_PER_S = 100, 100_000
WEEK_MS = 7 * 24 * 3_600_000


def run_once(directory: Path) -> dict[str, float]:
    files, _ = discover(directory)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    parsed = []
    for landing in files:
        content = Path(landing.location).read_bytes()
        raw = RawFile(landing.name, content, landing.name, hashlib.sha256(content).hexdigest())
        parsed.append(PARSERS[recognise_file(content, landing.name).name](raw))
    timings["parse"] = time.perf_counter() - started
    observations = pa.concat_tables([p.observations for p in parsed])
    stations = pa.concat_tables([p.stations for p in parsed])
    started = time.perf_counter()
    result = validate(observations, stations=stations, now=datetime.now(UTC))
    timings["validate"] = time.perf_counter() - started
    started = time.perf_counter()
    plans = write_plan(result.valid, stations, RunContext("bench", datetime.now(UTC)))
    timings["plan"] = time.perf_counter() - started
    timings["rows"] = float(sum(len(p) for p in plans))
    return timings


def scaled(directory: Path) -> tuple[float, int]:
    """Return (seconds, rows) of validate + quality report over the real rows x SCALE weeks."""
    files, _ = discover(directory)
    parsed = []
    for landing in files:
        content = Path(landing.location).read_bytes()
        raw = RawFile(landing.name, content, landing.name, hashlib.sha256(content).hexdigest())
        parsed.append(PARSERS[recognise_file(content, landing.name).name](raw))
    base = pa.concat_tables([p.observations for p in parsed])
    stations = pa.concat_tables([p.stations for p in parsed])
    stamps = base.column("timestamp").cast(pa.int64())
    weeks = []
    for week in range(SCALE):
        shifted = pa.compute.add(stamps, week * WEEK_MS).cast(base.schema.field("timestamp").type)
        weeks.append(
            base.set_column(base.schema.get_field_index("timestamp"), "timestamp", shifted)
        )
    observations = pa.concat_tables(weeks).combine_chunks()
    now = datetime(2100, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    result = validate(observations, stations=stations, now=now)
    quality_report(observations, result, stations, Window(), now=now)
    return time.perf_counter() - started, observations.num_rows


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
    seconds, scaled_rows = scaled(directory)
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write(
        f"quality  {seconds * 1000:8.1f} ms  {scaled_rows} rows  {scaled_rows / seconds:,.0f} rows/s"
        f"  (validate + quality report, real rows x {SCALE} weeks)  peak RSS {rss_mib:.0f} MiB\n"
    )
    ok = total <= MAX_SECONDS and rows / total >= MIN_ROWS_PER_S and rss_mib <= MAX_RSS_MIB
    ok = ok and scaled_rows / seconds >= MIN_QUALITY_ROWS_PER_S
    out.write("targets met\n" if ok else "TARGET MISSED\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
