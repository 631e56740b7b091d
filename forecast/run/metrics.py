"""A run's metrics as CloudWatch Embedded Metric Format (EMF) documents.

An EMF document is one JSON object per log line: ``_aws.CloudWatchMetrics`` says which root
members are metrics (name and unit), under which namespace and dimension sets; CloudWatch Logs
extracts them from the log group the ECS task writes to. Each run gives one document with the
run's metrics and one per standard query with its p95 latency (dimension ``Query``).

Every document is published under two dimension sets: ``[Environment]``, which the alarms use
(one series per environment whatever the deployment), and ``[Environment, Flow, Deployment]``
for dashboards. Only numbers the run produced are declared: a run that failed before validation
has no quality metrics, one without a latency report no latency metric (EMF requires a value for
each declared metric, and a made-up zero would read as a real measurement). Values are counts,
rates and times, and dimensions are names chosen by the deployment: no URI, token or message.

Reference: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from forecast.run.reports import LatencyReport, RunStatus

NAMESPACE = "Forecast/Pipeline"
"""Default namespace; infra/terraform/modules/monitoring's ``metric_namespace`` default."""

ENVIRONMENT = "local"
"""Default ``Environment`` dimension (a deployment sets ``FORECAST_ENVIRONMENT``)."""

NO_DEPLOYMENT = "none"
"""``Deployment`` dimension of a run started without a deployment (``forecast run``, tests)."""

ALARM_DIMENSIONS = ("Environment",)
"""The dimension set the alarms read (also on every query document, with ``Query``)."""

RUN_DIMENSIONS = ("Environment", "Flow", "Deployment")

UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
     "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
     "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
     "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
     "Terabits/Second", "Count/Second", "None"}
)  # fmt: skip
"""The units CloudWatch accepts (``StandardUnit``)."""

# (metric, unit, key in RunStatus.quality, scale)
_QUALITY = (
    ("RecordsExtracted", "Count", "records_extracted", 1),
    ("RecordsValidated", "Count", "records_validated", 1),
    ("RecordsRejected", "Count", "records_rejected", 1),
    ("RecordsHeld", "Count", "records_held", 1),
    ("DuplicatesConflicting", "Count", "duplicates_conflicting", 1),
    ("RejectionRate", "Percent", "rejection_rate", 100),  # the report's rate is a fraction
    ("Completeness", "Percent", "completeness_score", 1),  # already a percentage
)
# (metric, unit, key in RunStatus.migration)
_LOAD = (
    ("DocumentsInserted", "Count", "inserted"),
    ("DocumentsUpdated", "Count", "updated"),
    ("LoadFailures", "Count", "failed"),
    ("DocumentsLoadedPerSecond", "Count/Second", "docs_per_s"),
)


@dataclass(frozen=True)
class MetricContext:
    """Where a run's metrics go: namespace and the run's dimensions."""

    namespace: str = NAMESPACE
    environment: str = ENVIRONMENT
    flow: str = "forecast-pipeline"
    deployment: str = NO_DEPLOYMENT

    def dimensions(self) -> dict[str, str]:
        """Return the run's dimension values."""
        return {"Environment": self.environment, "Flow": self.flow, "Deployment": self.deployment}


def run_metrics(status: RunStatus) -> dict[str, tuple[float, str]]:
    """Return ``{metric: (value, unit)}`` of a run: outcome, duration, counts, load figures.

    ``RunSucceeded`` is 1 only for a run whose status is ``success``; ``partial``, ``held`` and
    ``failed`` runs give 0 (each needs someone to look). Quality and load metrics appear only
    when the run got that far.
    """
    metrics: dict[str, tuple[float, str]] = {
        "RunSucceeded": (1 if status.status == "success" else 0, "Count"),
        "Duration": (round((status.finished_at - status.started_at).total_seconds(), 3), "Seconds"),
        "FilesFailed": (sum(f.failed for f in status.files), "Count"),
    }
    for name, unit, key, scale in _QUALITY:
        if _is_number(status.quality.get(key)):
            metrics[name] = (round(status.quality[key] * scale, 4), unit)
    for name, unit, key in _LOAD:
        if _is_number(status.migration.get(key)):
            metrics[name] = (status.migration[key], unit)
    return metrics


def query_latencies(latency: LatencyReport | None) -> dict[str, float]:
    """Return each standard query's p95 latency in milliseconds (none without a report)."""
    if latency is None:
        return {}
    return {q.name: round(q.stats["p95_ms"], 3) for q in latency.queries if q.timings_ms}


def emf_documents(
    status: RunStatus, context: MetricContext, latency: LatencyReport | None = None
) -> list[dict[str, Any]]:
    """Return the run's EMF documents: the run's metrics, then one per query (p95 latency)."""
    timestamp = int(status.finished_at.timestamp() * 1000)
    properties = {"RunId": status.run_id, "Status": status.status}
    documents = [
        _document(context, timestamp, (), run_metrics(status), properties),
    ]
    for query, p95 in query_latencies(latency).items():
        documents.append(
            _document(
                context, timestamp, ("Query",), {"QueryLatencyP95": (p95, "Milliseconds")},
                properties | {"Query": query},
            )
        )  # fmt: skip
    return documents


def emf_lines(
    status: RunStatus, context: MetricContext, latency: LatencyReport | None = None
) -> list[str]:
    """Return the run's EMF documents, one compact JSON line each."""
    return [
        json.dumps(d, separators=(",", ":"), allow_nan=False)
        for d in emf_documents(status, context, latency)
    ]


def _document(
    context: MetricContext,
    timestamp: int,
    extra_dimensions: Sequence[str],
    metrics: Mapping[str, tuple[float, str]],
    properties: Mapping[str, str],
) -> dict[str, Any]:
    directive = {
        "Namespace": context.namespace,
        "Dimensions": [
            [*ALARM_DIMENSIONS, *extra_dimensions],
            [*RUN_DIMENSIONS, *extra_dimensions],
        ],
        "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
    }
    return {
        "_aws": {"Timestamp": timestamp, "CloudWatchMetrics": [directive]},
        **context.dimensions(),
        **properties,
        **{name: value for name, (value, _) in metrics.items()},
    }


def _is_number(value: object) -> bool:
    """True for a finite int or float (EMF values are JSON numbers: no NaN, no bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
