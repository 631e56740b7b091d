"""docs/data-quality.md, generated: the rule catalogue, the score, completeness, quarantine.

``forecast docs`` writes it and a test keeps the committed file in sync, so the documentation
is always the code's.
"""

from __future__ import annotations

from forecast.quality import completeness
from forecast.quality.rules import catalogue_markdown

OPERATIONS = """## Duplicates

Within a run, observations are keyed by (station, UTC timestamp) across all files. Copies with
identical values collapse to one (counted as `duplicates_collapsed`). Records that disagree are
all quarantined by rule `duplicate_conflict` above, each with a reason that names the records
and every differing value: no source silently wins, nothing of that instant is loaded, the run
ends `partial` (counted as `duplicates_conflicting`, the EMF metric `DuplicatesConflicting`).
Remove the wrong source, then `forecast requeue`. Across runs, the MongoDB load upserts by the
deterministic `_id`, so a later run's values replace earlier ones and are counted as `updated`.

## Quarantine and requeue

Rejected rows go to `rejected/date=<run date>/run=<run id>.parquet` with every rule that
rejected them (`reject_rules`), a located reason per rule (`reject_reasons`: file, sheet and
row, or file, station and record) and the raw lineage (`raw_key`, `raw_sha256`,
`source_file`). Beside it, `run=<run id>.json` lists the run's raw contents and window.

`forecast requeue --list` shows the quarantines; `forecast requeue --run RUN_ID` (or `--all`)
replays a quarantined run's raw contents from the raw zone under the current rules, as a new
pipeline run with the original window: rows the rules now accept are loaded, the others land
in the new run's quarantine. The whole run is replayed, not only its rejected rows, because
duplicate resolution and anomaly detection need the neighbouring rows, and the idempotent
upserts make replaying loaded rows harmless. The quarantine is never modified; a
`run=<run id>.requeued.json` marker records which run replayed it, and a requeued quarantine
is not replayed twice. A Prefect deployment run can do the same with the `requeue_run`
parameter.

## Rejection threshold

`max_rejection_rate` (run parameter, CLI `--max-rejection-rate`, default 0.05) applies per
station and UTC day: rejected / (rejected + valid). Above it, the partition's valid rows are
held back too (quarantined with rule `rejection_threshold`), nothing of that station-day is
loaded, the other partitions load, the reports are published, and then the flow fails with a
message naming each partition (`forecast run` exits 4). After fixing the cause, requeue the run;
to accept such a day knowingly, requeue it with a higher `--max-rejection-rate`.

## Reports

Each run publishes the artifacts `forecast-quality` (per station and measurement: expected vs
received, rows rejected and warnings naming it), `forecast-quality-summary` (KPIs, top issues
with located examples, sensor-fault findings, held partitions, per-station table, largest
gaps) and `forecast-completeness` (the gaps), and the JSON `reports/run=<id>/quality.json`
holding all of it. Per station the counts add up:
`extracted = outside_window + collapsed + validated + rejected + held`. KPIs:
`records_extracted`, `records_outside_window`, `duplicates_collapsed`, `duplicates_conflicting`
(rejected, also counted in `records_rejected`), `records_validated`,
`records_rejected`, `records_held`, `rejection_rate` (rejected / judged), `completeness_score`,
`anomalies_detected` (warn-rule hits), `records_with_anomalies`, `mean_score`.

The same run's quality with pictures is `reports/run=<id>/quality.html` (and
`reports/latest/quality.html`), linked from the `forecast-run-status` artifact: one page
(loading the zone's shared `assets/plotly-<version>.min.js`: it opens offline beside the zone,
locally or synced from S3) with completeness per station and UTC
day, rejections and warnings per rule, and per station the core measurements (temperature,
humidity, pressure, wind speed: hourly mean with a min-max band; wind direction: circular
mean; buckets widen for long runs to at most 1,500 per station) with the readings each warn rule
flagged drawn at their own values (at most 2,000 per station, measurement and rule; the legend
gives the counts). It is built from the validated partition files, one at a time
(`forecast/quality/html.py`).
"""


def _completeness_section() -> str:
    doc = completeness.__doc__ or ""
    rules = doc[doc.index("* **Stations**") : doc.index("Pure domain logic")].strip()
    return (
        "## Completeness and freshness\n\n"
        "Computed on the validated rows of each station, per measurement it provides:\n\n"
        f"{rules}\n\n"
        "`completeness_score` is the mean over every station's core measurements; per-event "
        "ones (precipitation over 1 h or 3 h, present weather, cloud cover, snow depth) are "
        "listed per measurement but not scored. A calm record's null wind direction counts as "
        "received.\n"
    )


def data_quality_markdown() -> str:
    """Return the whole of docs/data-quality.md."""
    return f"{catalogue_markdown()}\n{_completeness_section()}\n{OPERATIONS}"
