"""Report tasks: publish each report once as a Prefect artifact and as JSON in reports/."""

from __future__ import annotations

import json
import shutil

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from forecast.lake import zones
from forecast.lake.staging import StagedRun
from forecast.quality import html as quality_html
from forecast.quality.partitions import CheckedRun
from forecast.quality.report import QualityReport
from forecast.quality.validate import Window
from forecast.run.reports import LatencyReport, MigrationReport, RunStatus
from tasks.config import load_lake, retry_transient

ARTIFACT_KEYS = {
    "quality": "forecast-quality",
    "quality_summary": "forecast-quality-summary",
    "completeness": "forecast-completeness",
    "migration": "forecast-migration",
    "latency": "forecast-latency",
    "status": "forecast-run-status",
}


def report_keys(run_id: str) -> dict[str, str]:
    """Return the reports-zone keys of a run's JSON reports."""
    return {
        name: f"run={run_id}/{name}.json"
        for name in ("quality", "migration", "latency", "metrics", "pipeline_status")
    }


def quality_page_key(run_id: str) -> str:
    """Return the reports-zone key of a run's quality page (charts)."""
    return f"run={run_id}/quality.html"


# The validated partition files are still in the run's scratch directory: the page reads them
# one at a time (only their time buckets, day counts and capped flagged readings are kept).
@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def publish_quality_page(
    checked: CheckedRun, staged: StagedRun, window: Window, run_id: str, lake_block: str
) -> str:
    """Write the run's quality page (``quality.html``, plus ``latest/``); return its URI."""
    lake = load_lake(lake_block)
    data = quality_html.chart_files([p.validated_path for p in checked.partitions], checked.quality)
    page = quality_html.quality_page(
        checked.quality, data, staged.stations(), run_id=run_id, window=window
    ).encode()
    if not lake.exists("reports", quality_html.PLOTLY_ASSET):  # one copy for every page
        lake.write_new("reports", quality_html.PLOTLY_ASSET, quality_html.plotly_asset())
    key = quality_page_key(run_id)
    lake.write("reports", key, page)
    lake.write("reports", "latest/quality.html", page)
    get_run_logger().info(
        "quality page: %s (%d bytes, %s)", lake.uri("reports", key), len(page),
        quality_html.describe(data),
    )  # fmt: skip
    return lake.uri("reports", key)


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def publish_reports(
    status: RunStatus,
    quality: QualityReport,
    migration: MigrationReport | None,
    latency: LatencyReport | None,
    lake_block: str,
    quality_page: str | None = None,
    metrics: list[str] | None = None,
) -> dict[str, str]:
    """Write the JSON reports (plus ``latest/pipeline_status.json``) and create the artifacts;
    ``quality_page``: the URI of the run's quality page, linked from the run status;
    ``metrics``: the run's EMF lines, kept as ``metrics.json``."""
    lake = load_lake(lake_block)
    keys = report_keys(status.run_id)
    if metrics is None:
        keys.pop("metrics")
    else:
        lake.write_json("reports", keys["metrics"], [json.loads(line) for line in metrics])
    lake.write_json("reports", keys["quality"], quality.to_dict())
    create_table_artifact(
        quality.to_rows(),
        key=ARTIFACT_KEYS["quality"],
        description="Per station and measurement: expected vs received observations, rows "
        "rejected and warnings naming it (summary: forecast-quality-summary)",
    )
    create_markdown_artifact(
        quality.summary_markdown(),
        key=ARTIFACT_KEYS["quality_summary"],
        description=f"KPIs, top issues, sensor faults, held partitions, gaps; run {status.run_id}",
    )
    create_table_artifact(
        quality.completeness.gap_rows(),
        key=ARTIFACT_KEYS["completeness"],
        description="Gaps in each station's series (missing observations at its cadence)",
    )
    if migration is not None:
        lake.write_json("reports", keys["migration"], migration.to_dict())
        create_table_artifact(
            migration.to_rows(),
            key=ARTIFACT_KEYS["migration"],
            description="MongoDB load: every input document is inserted, updated, unchanged or failed",
        )
    if latency is not None:
        lake.write_json("reports", keys["latency"], latency.to_dict())
        create_table_artifact(
            latency.to_rows(),
            key=ARTIFACT_KEYS["latency"],
            description=f"Standard queries, {latency.iterations} iterations each; plan = winning index",
        )
    document = status.to_dict() | {"reports": {k: f"reports/{v}" for k, v in keys.items()}}
    if quality_page:
        document["reports"]["quality_html"] = f"reports/{quality_page_key(status.run_id)}"
    lake.write_json("reports", keys["pipeline_status"], document)
    lake.write_json("reports", "latest/pipeline_status.json", document)
    create_markdown_artifact(
        _status_markdown(status, quality_page), key=ARTIFACT_KEYS["status"],
        description=f"run {status.run_id}",
    )  # fmt: skip
    get_run_logger().info("reports written under reports/run=%s/", status.run_id)
    return keys


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def record_requeue(requeued_run: str, status: RunStatus, lake_block: str) -> str:
    """Mark the replayed quarantine as requeued by this run (the quarantine stays as it was)."""
    lake = load_lake(lake_block)
    quarantine = zones.quarantines(lake, requeued_run)[0]
    quality = status.quality
    key = zones.mark_requeued(
        lake, quarantine, run_id=status.run_id,
        result={"at": status.finished_at.isoformat(), "rows_quarantined": quarantine.rows,
                "rows_rejected_now": quality["records_rejected"] + quality["records_held"],
                "rows_validated_now": quality["records_validated"]},
    )  # fmt: skip
    get_run_logger().info(
        "quarantine of run %s (%d rows) requeued: now %d validated, %d rejected",
        requeued_run, quarantine.rows, quality["records_validated"], quality["records_rejected"],
    )  # fmt: skip
    return key


@task(
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=retry_transient,
)
def publish_failure(status: RunStatus, lake_block: str, metrics: list[str] | None = None) -> str:
    """Publish the status of a failed run (JSON, its EMF documents as ``metrics.json``, the
    run-status artifact) before it fails."""
    lake = load_lake(lake_block)
    keys = report_keys(status.run_id)
    if metrics is not None:
        lake.write_json("reports", keys["metrics"], [json.loads(line) for line in metrics])
    document = status.to_dict()
    lake.write_json("reports", keys["pipeline_status"], document)
    lake.write_json("reports", "latest/pipeline_status.json", document)
    create_markdown_artifact(
        _status_markdown(status), key=ARTIFACT_KEYS["status"], description=f"run {status.run_id}"
    )
    get_run_logger().error("run failed in %s: %s", *(status.failure or {}).values())
    return keys["pipeline_status"]


@task(cache_policy=NO_CACHE, retries=0)
def clean_work(directory: str) -> None:
    """Remove a finished run's scratch directory (its staged parses are inside it: runs on the
    same machine at the same time never share, or delete, each other's)."""
    shutil.rmtree(directory, ignore_errors=True)


def _status_markdown(status: RunStatus, quality_page: str | None = None) -> str:
    document = status.to_dict()
    failure = status.failure or {}
    lines = [f"# Run {status.status}", "", f"- run id: `{status.run_id}`", f"- window: {status.window}",
             *([f"- quality report with charts: [quality.html]({quality_page}) (`{quality_page}`)"] if quality_page else []),
             *([f"- **failed in {failure.get('stage')}**: {failure.get('cause')}"] if failure else []),
             *([f"- loaded before the failure: {status.migration}"] if failure and status.migration else []),
             *([f"- **held**: {status.held}"] if status.held else []),
             f"- duration: {document['duration_s']} s", "", "| file | source | ingest | status | sha256 | error |", "|---|---|---|---|---|---|"]  # fmt: skip
    lines += ["| " + " | ".join(str(v) for v in row.values()) + " |" for row in status.to_rows()]
    for source, notes in status.schema_drift().items():
        lines += ["", f"## Schema drift: {source}", "", *(f"- {note}" for note in notes[:50])]
    return "\n".join(lines) + "\n"
