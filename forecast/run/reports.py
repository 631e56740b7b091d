"""Run reports as values: quality, migration, latency and run status.

Each report is a frozen dataclass built by a pure function, with ``to_rows()`` (a summary-sized
table for a Prefect artifact), ``to_markdown()`` and ``to_dict()`` (the JSON file).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pyarrow.compute as pc

from forecast.mongo import LoadCounts, QueryTiming
from forecast.mongo.gold import GoldCounts
from forecast.mongo.reconcile import Reconciliation
from forecast.quality.report import QualityReport
from forecast.quality.validate import Window
from forecast.tables import markdown_table, rate


@dataclass(frozen=True)
class MigrationReport:
    """What the MongoDB load did."""

    input: int
    inserted: int
    updated: int
    unchanged: int
    failed: int
    duration_s: float
    stations_upserted: int
    failures: tuple[tuple[str, str], ...] = ()
    batches: int = 0
    retries: int = 0
    reconciliation: Reconciliation | None = None
    gold: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    validated_by: str = "server"

    @property
    def reconciled(self) -> bool | None:
        """True when every loaded key is stored with the planned values (None: not checked)."""
        return None if self.reconciliation is None else self.reconciliation.ok

    @property
    def error_rate(self) -> float:
        """Failed / input."""
        return rate(self.failed, self.input)

    @property
    def documents_per_second(self) -> float:
        """Input documents per second of load time."""
        return round(self.input / self.duration_s, 1) if self.duration_s > 0 else 0.0

    def to_rows(self) -> list[dict[str, Any]]:
        """Return the one-row summary table."""
        return [
            {
                "input": self.input,
                "inserted": self.inserted,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "failed": self.failed,
                "error_rate": self.error_rate,
                "duration_s": round(self.duration_s, 3),
                "docs_per_s": self.documents_per_second,
                "batches": self.batches,
                "retries": self.retries,
                "reconciled": "-" if self.reconciled is None else self.reconciled,
                "validated_by": self.validated_by,
            }
        ]

    def to_markdown(self) -> str:
        """Return the summary as markdown."""
        return f"## MongoDB load\n\n{markdown_table(self.to_rows())}\n"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report (at most 100 failures listed)."""
        check = self.reconciliation
        return {
            **self.to_rows()[0],
            "stations_upserted": self.stations_upserted,
            "failures": [{"_id": i, "error": e} for i, e in self.failures[:100]],
            "reconciliation": None if check is None else {
                "checked": check.checked, "missing": check.missing,
                "different": check.different, "examples": list(check.examples),
            },
            "gold": self.gold,
            "timings": self.timings,
        }  # fmt: skip


def migration_report(
    counts: LoadCounts,
    duration_s: float,
    stations_upserted: int,
    reconciliation: Reconciliation | None = None,
    timings: dict[str, float] | None = None,
) -> MigrationReport:
    """Return the migration report of a load (``duration_s``: the documents' writes)."""
    return MigrationReport(
        timings=dict(timings or {}),
        validated_by=counts.validated_by,
        batches=counts.batches,
        retries=counts.retries,
        reconciliation=reconciliation,
        input=counts.input,
        inserted=counts.inserted,
        updated=counts.updated,
        unchanged=counts.unchanged,
        failed=counts.failed,
        duration_s=duration_s,
        stations_upserted=stations_upserted,
        failures=tuple(counts.failures),
    )


def merge_migrations(reports: Sequence[MigrationReport]) -> MigrationReport:
    """Return one run's migration report from its partitions' (counts and times add up)."""
    if not reports:
        return migration_report(LoadCounts(), 0.0, 0, Reconciliation())
    checks = [r.reconciliation for r in reports if r.reconciliation is not None]
    gold: dict[str, int] = {}
    timings: dict[str, float] = {}
    for report in reports:
        for key, value in report.gold.items():
            gold[key] = gold.get(key, 0) + value
        for key, seconds in report.timings.items():
            timings[key] = round(timings.get(key, 0.0) + seconds, 3)
    total = Reconciliation()
    for check in checks:
        total = total + check
    return MigrationReport(
        input=sum(r.input for r in reports), inserted=sum(r.inserted for r in reports),
        updated=sum(r.updated for r in reports), unchanged=sum(r.unchanged for r in reports),
        failed=sum(r.failed for r in reports), duration_s=sum(r.duration_s for r in reports),
        stations_upserted=sum(r.stations_upserted for r in reports),
        failures=tuple(f for r in reports for f in r.failures)[:100],
        batches=sum(r.batches for r in reports), retries=sum(r.retries for r in reports),
        reconciliation=total if checks else None, gold=gold, timings=timings,
        validated_by=reports[0].validated_by,
    )  # fmt: skip


def with_gold(report: MigrationReport, gold: GoldCounts) -> MigrationReport:
    """Return the migration report with what the gold refresh wrote."""
    counts = {"station_days": gold.days, "hourly_documents": gold.hourly_documents,
              "daily_documents": gold.daily_documents, "rewritten_days": gold.rewritten_days}  # fmt: skip
    return dataclasses.replace(report, gold=counts)


@dataclass(frozen=True)
class LatencyReport:
    """Timings of the standard queries against the loaded collections.

    Times are server round trips from MongoDB command monitoring (each query's commands, its
    getMore batches included); ``plan`` names the winning plan's access stages and indexes.
    """

    TIMING = "server round trip per query from command monitoring, getMore batches included"

    iterations: int
    queries: tuple[QueryTiming, ...]
    budget_s: float | None = None
    row_cap: int | None = None
    duration_s: float | None = None

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one row per query: description, runs, ms statistics, rows returned (capped)
        and matching, plan."""
        return [
            {
                "query": q.name,
                "description": q.description,
                "runs": len(q.timings_ms),
                **{k: round(v, 3) for k, v in q.stats.items()},
                "rows": q.rows,
                "matching": "-" if q.matching is None else q.matching,
                "plan": q.plan,
            }
            for q in self.queries
        ]

    def to_markdown(self) -> str:
        """Return the timings as markdown."""
        return (
            f"## MongoDB query latency (up to {self.iterations} iterations"
            f"{f', {self.budget_s} s budget, {self.row_cap} rows per query' if self.budget_s else ''})\n\n"
            f"{markdown_table(self.to_rows())}\n\nTimes: {self.TIMING}.\n"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report, raw timings included."""
        return {
            "iterations": self.iterations,
            "budget_s": self.budget_s,
            "row_cap": self.row_cap,
            "duration_s": self.duration_s,
            "timing": self.TIMING,
            "queries": [
                {**row, "uses_index": q.uses_index, "timings_ms": list(q.timings_ms)}
                for row, q in zip(self.to_rows(), self.queries, strict=True)
            ],
        }


class Stopwatch:
    """Wall-clock seconds per named stage: ``with clock("load"): ...``; ``clock.stages``."""

    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + time.perf_counter() - started, 3)


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one landing file in a run (one manifest entry)."""

    name: str
    source: str
    sha256: str
    raw_key: str
    ingest_status: str  # "ingested" | "already_ingested" | "refused" | "ignored"
    error: str | None = None
    # "parsed" | "failed" | "refused" | "ignored" | "outside_window" | "already_loaded"
    # | "pending" (stored, not parsed yet: a run that failed before its transform ended)
    status: str = "parsed"
    stations: tuple[str, ...] = ()
    first_observation: str | None = None
    last_observation: str | None = None
    observations: int = 0
    drift: tuple[str, ...] = ()
    landing: str = ""
    size: int = 0
    ingested_at: str = ""
    run_id: str = ""
    loaded_by: str | None = None  # "already_loaded": the run that loaded it (load ledger)
    content_key: str = ""  # what its parse is identified by (forecast.lake.ingest.content_key)
    container: str = "file"  # "file" or an Airbyte object's format (forecast.sources.containers)
    stream: str = ""  # an Airbyte object's stream
    records: int = 0  # an Airbyte object's records

    def __post_init__(self) -> None:
        if self.error is not None and self.status == "parsed":
            object.__setattr__(self, "status", "failed")  # an error always means a failed file

    @property
    def failed(self) -> bool:
        """True when the file could not be ingested or transformed."""
        return self.status in ("failed", "refused")


def file_outcome(
    record: Any,
    parsed: Any = None,
    error: str | None = None,
    status: str | None = None,
    loaded_by: str | None = None,
) -> FileOutcome:
    """Return the outcome of a raw object: parsed (with its span), failed, refused or skipped."""
    stations: tuple[str, ...] = ()
    first = last = None
    rows = 0
    drift: tuple[str, ...] = ()
    if parsed is not None:
        observations = parsed.observations
        rows = observations.num_rows
        stations = (
            tuple(sorted(pc.unique(observations.column("station_id")).to_pylist())) if rows else ()
        )
        if rows:
            bounds = pc.min_max(observations.column("timestamp")).as_py()
            first, last = bounds["min"].isoformat(), bounds["max"].isoformat()
        drift = tuple(parsed.drift)
    if status is None:
        unread = record.status in ("refused", "ignored")
        status = record.status if unread else ("failed" if error or record.error else "parsed")
    return FileOutcome(
        name=record.name, source=record.source, sha256=record.sha256, raw_key=record.raw_key,
        ingest_status=record.status, error=error if error is not None else record.error, status=status,
        stations=stations, first_observation=first, last_observation=last, observations=rows,
        drift=drift, landing=record.landing, size=record.size, ingested_at=record.ingested_at,
        run_id=record.run_id, loaded_by=loaded_by, **_identity(record),
    )  # fmt: skip


def _identity(record: Any) -> dict[str, Any]:
    """A raw object's identity and container, as an outcome keeps them."""
    return {
        "content_key": record.content_key, "container": record.container,
        "stream": record.stream, "records": record.records,
    }  # fmt: skip


def ingested_outcomes(records: Sequence[Any]) -> list[FileOutcome]:
    """The outcomes of a run's inputs once ingested, before they are parsed: a run that fails
    later still lists them (``pending``: stored, not parsed)."""
    return [file_outcome(r, status=None if not r.stored or r.error else "pending") for r in records]


def staged_outcome(record: Any, staged: Any) -> FileOutcome:
    """Return the outcome of a raw object parsed into a ``staging.StagedContent``."""
    return FileOutcome(
        name=record.name, source=record.source, sha256=record.sha256, raw_key=record.raw_key,
        ingest_status=record.status, error=None, status="parsed",
        stations=tuple(sorted(staged.station_rows)), first_observation=staged.first_observation,
        last_observation=staged.last_observation, observations=staged.rows,
        drift=tuple(staged.drift), landing=record.landing, size=record.size,
        ingested_at=record.ingested_at, run_id=record.run_id, **_identity(record),
    )  # fmt: skip


def per_input(records: Sequence[Any], outcomes: Sequence[FileOutcome]) -> list[FileOutcome]:
    """Return one outcome per input record, from outcomes computed once per content.

    Two landing inputs with the same content key are stored and parsed once, but each keeps its
    own manifest entry: its own landing location, name and ingest status, the content's results.
    """
    by_key = {o.content_key: o for o in outcomes if o.content_key}
    by_landing: dict[str, FileOutcome] = {}  # refused and ignored inputs have no content
    for o in outcomes:
        if not o.content_key:
            by_landing.setdefault(o.landing, o)
    expanded = []
    for record in records:
        outcome = by_key.get(record.content_key) if record.content_key else None
        if outcome is None:
            outcome = by_landing.get(record.landing)
        if outcome is None:  # never drop an input silently: make the gap visible
            outcome = file_outcome(record, error="no outcome was recorded for this input")
        expanded.append(
            dataclasses.replace(
                outcome, name=record.name, landing=record.landing, ingest_status=record.status,
                run_id=record.run_id, stream=record.stream,
            )
        )  # fmt: skip
    return expanded


@dataclass(frozen=True)
class RunStatus:
    """The run's status file (``pipeline_status.json``)."""

    run_id: str
    status: str  # "success" | "partial" | "held" | "failed" (see run_state)
    started_at: datetime
    finished_at: datetime
    window: dict[str, str | None]
    files: tuple[FileOutcome, ...]
    quality: dict[str, Any]
    migration: dict[str, Any]
    reports: dict[str, str] = field(default_factory=dict)
    held: str | None = None  # why station-days were held back (rejection threshold)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    ledger_recorded: int = 0  # contents this run recorded in the load ledger
    failure: dict[str, str] | None = None  # status "failed": {"stage", "cause"}
    reason: str | None = None  # why a run that loaded what it read is partial (it read nothing)
    report_error: str | None = None  # a failed run whose report could not be written: why

    def ledger(self) -> dict[str, Any]:
        """Return what the load ledger did: contents skipped (by the run that loaded them)
        and contents recorded by this run."""
        by_run: dict[str, int] = {}
        for f in self.files:
            if f.status == "already_loaded":
                by_run[f.loaded_by or "?"] = by_run.get(f.loaded_by or "?", 0) + 1
        return {
            "skipped": sum(by_run.values()),
            "loaded_by": by_run,
            "recorded": self.ledger_recorded,
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready status."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_s": round((self.finished_at - self.started_at).total_seconds(), 3),
            "window": self.window,
            "files": [asdict(f) for f in self.files],
            "files_failed": sum(f.failed for f in self.files),
            "files_ignored": sum(f.status == "ignored" for f in self.files),
            "schema_drift": self.schema_drift(),
            "quality": self.quality,
            "migration": self.migration,
            "held": self.held,
            "stages": self.stages,
            "failure": self.failure,
            "reason": self.reason,
            "report_error": self.report_error,
            "ledger": self.ledger(),
            "reports": self.reports,
        }

    def schema_drift(self) -> dict[str, list[str]]:
        """Return, per source, the schema-drift notes of its files ("<file>: <note>")."""
        drift: dict[str, list[str]] = {}
        for f in self.files:
            drift.setdefault(f.source, []).extend(f"{f.name}: {note}" for note in f.drift)
        return {source: notes for source, notes in drift.items() if notes}

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one row per file with its outcome."""
        return [
            {
                "file": f.name,
                "source": f.source,
                "ingest": f.ingest_status,
                "status": f.status,
                "sha256": f.sha256[:12],
                "error": f.error or "",
            }
            for f in self.files
        ]


def conflicts(quality: dict[str, Any]) -> str | None:
    """Why a run whose observations disagree is partial, or None."""
    count = int(quality.get("duplicates_conflicting") or 0)
    if not count:
        return None
    return (
        f"{count} observations disagree with another of the same station and time: none of "
        "them is loaded (rule duplicate_conflict, in rejected/; remove the wrong source, then "
        "`forecast requeue`)"
    )


def nothing_read(files: Sequence[FileOutcome]) -> str | None:
    """Why a run read nothing, or None when it read (or tried to read) some input.

    An input skipped because an earlier run loaded it, or outside the window, was read; one
    ignored (not a type the pipeline reads, hidden) was not.
    """
    if any(f.status != "ignored" for f in files):
        return None
    if not files:
        return "nothing to read: the landing held no object and no API response came"
    return f"nothing to read: every landing object ({len(files)}) was ignored"


def run_state(
    files: tuple[FileOutcome, ...],
    migration: MigrationReport | None,
    held: bool = False,
    disputed: bool = False,
) -> str:
    """Return the run's state.

    "failed": every input it tried to read failed; "held": station-days over the rejection
    threshold were held back (the run fails after loading the rest); "partial": it read nothing
    (``nothing_read``), some inputs or documents failed, observations disagreed (``disputed``:
    ``conflicts``), or the reconciliation found stored values differing from the plan;
    "success" otherwise.
    """
    attempted = [f for f in files if f.status != "ignored"]
    if attempted and all(f.failed for f in attempted):
        return "failed"
    if held:
        return "held"
    unfaithful = migration is not None and (migration.failed or migration.reconciled is False)
    if not attempted or disputed or any(f.failed for f in files) or unfaithful:
        return "partial"
    return "success"


def build_run_status(
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    window: Window,
    files: Sequence[FileOutcome],
    quality: QualityReport,
    migration: MigrationReport,
    held: str | None = None,
    stages: dict[str, float] | None = None,
    ledger_recorded: int = 0,
) -> RunStatus:
    """Return the run's status from its parts (state by ``run_state``)."""
    kpis = quality.kpis()
    reasons = [r for r in (nothing_read(files), conflicts(kpis)) if r]
    return RunStatus(
        stages=dict(stages or {}),
        ledger_recorded=ledger_recorded,
        run_id=run_id,
        status=run_state(
            tuple(files), migration, held=held is not None, disputed=conflicts(kpis) is not None
        ),
        started_at=started_at,
        finished_at=finished_at,
        window=window.to_dict(),
        files=tuple(files),
        quality=kpis,
        migration=migration.to_dict(),
        held=held,
        reason="; ".join(reasons) or None,
    )


def failed_run_status(
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    window: Window,
    stage: str,
    cause: str,
    files: Sequence[FileOutcome] = (),
    quality: dict[str, Any] | None = None,
    migration: dict[str, Any] | None = None,
    stages: dict[str, float] | None = None,
) -> RunStatus:
    """Return the status of a run that failed in ``stage``: the one-line cause and what it had
    done so far (files, quality counts, documents loaded)."""
    return RunStatus(
        run_id=run_id, status="failed", started_at=started_at, finished_at=finished_at,
        window=window.to_dict(), files=tuple(files), quality=dict(quality or {}),
        migration=dict(migration or {}), stages=dict(stages or {}),
        failure={"stage": stage, "cause": cause},
    )  # fmt: skip
