"""Transform subflow: raw objects -> staged chunks of canonical observations (per-file failures
kept apart)."""

from __future__ import annotations

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from flows.handoff import Handoff
from flows.params import RunParams
from forecast.lake.ingest import RawObject, unique_contents
from forecast.lake.staging import StagedRun
from forecast.run.reports import FileOutcome, per_input
from tasks.transform import record_outcomes, select_for_window, stage_raw_object, staged_outcomes

PARSES_AT_ONCE = 2
"""Raw objects parsed at the same time. Each parse holds about one chunk of rows (and, for a
workbook, the file), so the transform's memory is this many parses, whatever the number of files;
Prefect's default thread pool is unbounded (at 10x the benchmark month, 42 parses at once peaked
at 1.86 GB). Parsing is CPU-bound Python: more threads than cores would not be faster."""


# (Prefect 3.8's own annotation of task_runner is invariant in the future type: mypy refuses the
# ThreadPoolTaskRunner its documentation shows here.)
@flow(name="forecast-transform", task_runner=ThreadPoolTaskRunner(max_workers=PARSES_AT_ONCE))  # type: ignore[arg-type]
def transform(raw: Handoff, params: RunParams, run_id: str) -> tuple[StagedRun, list[FileOutcome]]:
    """Parse each content the window needs once (staged on disk by content); a bad file fails
    alone."""
    raw_objects: list[RawObject] = raw.open()
    selected, skipped = select_for_window(
        unique_contents(raw_objects), params.window, params.lake_block, params.ledger_query
    )
    futures = [
        stage_raw_object.submit(
            record, params.lake_block, params.work_dir, run_id, params.limits, params.wu_streams
        )
        for record in selected
    ]
    staged, outcomes = staged_outcomes(selected, futures)
    files = per_input(raw_objects, skipped + outcomes)
    record_outcomes(files, params.lake_block, run_id)
    return StagedRun(tuple(staged)), files
