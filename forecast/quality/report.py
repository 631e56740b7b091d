"""The run's data-quality report: counts that add up, per station and measurement, the top
issues with located examples, sensor-fault findings, held partitions, completeness and gaps.

Accounting, per station: ``records_extracted = records_outside_window + duplicates_collapsed +
records_validated + records_rejected + records_held``; each term is counted from its own rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecast.quality.anomalies import Finding
from forecast.quality.completeness import Completeness, completeness
from forecast.quality.rules import RULES
from forecast.quality.validate import Hold, Validation, Window, in_window, locations
from forecast.schema import STATIONS, conform
from forecast.tables import as_array, has_flag, markdown_table, rate

HELD_RULE = "rejection_threshold"
CONFLICT_RULE = "duplicate_conflict"
EXAMPLES = 3
_FIELD_RULES: dict[str, tuple[str, ...]] = {}
for _rule in RULES:
    _FIELD_RULES.setdefault(_rule.field, ())
    _FIELD_RULES[_rule.field] += (_rule.id,)


@dataclass(frozen=True)
class StationQuality:
    """Quality figures of one station in one run."""

    source: str
    station_id: str
    records_extracted: int
    records_outside_window: int
    duplicates_collapsed: int
    records_validated: int
    records_rejected: int
    records_held: int
    anomalies_detected: int
    records_with_anomalies: int
    mean_score: float
    completeness_pct: float
    duplicates_conflicting: int = 0  # rejected: its (station, time) has records that disagree

    @property
    def rejection_rate(self) -> float:
        """Rejected / (validated + rejected + held)."""
        judged = self.records_validated + self.records_rejected + self.records_held
        return rate(self.records_rejected, judged)


@dataclass(frozen=True)
class MeasurementQuality:
    """One station's measurement: completeness, rejections and warnings naming it."""

    station_id: str
    measurement: str
    expected: int
    received: int
    completeness_pct: float
    rejected: int
    warnings: int


@dataclass(frozen=True)
class Issue:
    """One rule that fired in the run, how often, and up to three located examples."""

    rule: str
    severity: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class QualityReport:
    """Data quality of one run."""

    stations: tuple[StationQuality, ...]
    measurements: tuple[MeasurementQuality, ...]
    issues: tuple[Issue, ...]
    findings: tuple[Finding, ...]
    held: tuple[Hold, ...]
    completeness: Completeness
    max_rejection_rate: float

    def _sum(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.stations)

    @property
    def rejections_by_rule(self) -> dict[str, int]:
        """Rejected rows per reject rule (a row rejected by two rules counts for both)."""
        return {i.rule: i.count for i in self.issues if i.severity == "reject"}

    @property
    def warnings_by_rule(self) -> dict[str, int]:
        """Warn-rule hits per rule."""
        return {i.rule: i.count for i in self.issues if i.severity == "warn"}

    def kpis(self) -> dict[str, Any]:
        """Return the run-level KPIs."""
        validated, rejected = self._sum("records_validated"), self._sum("records_rejected")
        held = self._sum("records_held")
        scores = [(s.mean_score, s.records_validated) for s in self.stations]
        return {
            "records_extracted": self._sum("records_extracted"),
            "records_outside_window": self._sum("records_outside_window"),
            "duplicates_collapsed": self._sum("duplicates_collapsed"),
            "duplicates_conflicting": self._sum("duplicates_conflicting"),
            "records_validated": validated,
            "records_rejected": rejected,
            "records_held": held,
            "rejection_rate": rate(rejected, validated + rejected + held),
            "completeness_score": self.completeness.score(),
            "anomalies_detected": self._sum("anomalies_detected"),
            "records_with_anomalies": self._sum("records_with_anomalies"),
            "mean_score": round(sum(m * w for m, w in scores) / validated, 2) if validated else 0.0,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one row per station and measurement (the quality table artifact)."""
        return [
            {
                "station": m.station_id,
                "measurement": m.measurement,
                "expected": m.expected,
                "received": m.received,
                "completeness_pct": m.completeness_pct,
                "rejected": m.rejected,
                "warnings": m.warnings,
            }
            for m in self.measurements
        ]

    def station_rows(self) -> list[dict[str, Any]]:
        """Return one row per station: counts, rates and mean score."""
        return [
            {
                "source": s.source,
                "station": s.station_id,
                "extracted": s.records_extracted,
                "outside_window": s.records_outside_window,
                "collapsed": s.duplicates_collapsed,
                "validated": s.records_validated,
                "rejected": s.records_rejected,
                "held": s.records_held,
                "rejection_rate": s.rejection_rate,
                "anomalies": s.anomalies_detected,
                "mean_score": s.mean_score,
                "completeness_pct": s.completeness_pct,
            }
            for s in self.stations
        ]

    def summary_markdown(self, gap_limit: int = 10) -> str:
        """Return KPIs, top issues, sensor faults, held partitions, stations and largest gaps."""
        kpis = "\n".join(f"- **{k}**: {v}" for k, v in self.kpis().items())
        issues = [
            {"rule": f"`{i.rule}`", "severity": i.severity, "records": i.count,
             "example": (i.examples[0] if i.examples else "-").replace("|", "/")}
            for i in self.issues
        ]  # fmt: skip
        findings = [
            f"- `{f.rule}` {f.station_id} {f.start:%Y-%m-%d %H:%M} -> {f.end:%Y-%m-%d %H:%M} "
            f"UTC: {f.detail}"
            for f in self.findings
        ]
        held = [f"- {hold.describe(self.max_rejection_rate)}" for hold in self.held]
        return "\n".join(
            [
                "## Data quality", "", kpis, "", "### Top issues", "", markdown_table(issues), "",
                "### Sensor faults", "", *(findings or ["- none"]), "",
                f"### Partitions held (rejection rate > {self.max_rejection_rate:.1%})", "",
                *(held or ["- none"]), "", "### Stations", "", markdown_table(self.station_rows()),
                "", f"### Largest gaps (of {sum(len(s.gaps) for s in self.completeness.stations)})",
                "", markdown_table(self.completeness.gap_rows(gap_limit)), "",
            ]
        )  # fmt: skip

    def to_markdown(self) -> str:
        """Return the summary followed by the per-station-and-measurement table."""
        return f"{self.summary_markdown()}\n{markdown_table(self.to_rows())}\n"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report."""
        return {
            **self.kpis(),
            "max_rejection_rate": self.max_rejection_rate,
            "rejections_by_rule": self.rejections_by_rule,
            "warnings_by_rule": self.warnings_by_rule,
            "issues": [asdict(i) for i in self.issues],
            "findings": [f.to_dict() for f in self.findings],
            "held": [{**asdict(h), "rate": h.rate} for h in self.held],
            "stations": [{**asdict(s), "rejection_rate": s.rejection_rate} for s in self.stations],
            "measurements": [asdict(m) for m in self.measurements],
            "completeness": self.completeness.to_dict(),
        }


# ------------------------------------------------------------------------------ counting


def _counts(values: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    if len(values) == 0:
        return {}
    return {row["values"]: row["counts"] for row in pc.value_counts(values).to_pylist()}


def _hits(table: pa.Table, rules_column: str) -> pa.Table:
    """Return one row per (row, rule) of a list column: station_id, rule, row index."""
    lists = as_array(table.column(rules_column))
    parents = pc.list_parent_indices(lists)
    return pa.table(
        {
            "station_id": as_array(table.column("station_id")).take(parents),
            "rule": pc.list_flatten(lists),
            "row": parents,
        }
    )


def _hit_counts(hits: pa.Table) -> dict[tuple[str, str], int]:
    grouped = hits.group_by(["station_id", "rule"]).aggregate([([], "count_all")]).to_pylist()
    return {(row["station_id"], row["rule"]): row["count_all"] for row in grouped}


def _issues(validation: Validation, extracted_outside: int) -> tuple[Issue, ...]:
    """Return every rule that fired, most frequent first, with located examples."""
    issues = []
    rejected = validation.rejected
    reasons = pc.list_flatten(as_array(rejected.column("reject_reasons")))
    rule_of_reason = pc.list_flatten(as_array(rejected.column("reject_rules")))
    for rule, count in _counts(rule_of_reason).items():
        examples = reasons.filter(pc.equal(rule_of_reason, rule)).slice(0, EXAMPLES)
        issues.append(Issue(rule, "reject", count, tuple(examples.to_pylist())))
    valid = validation.valid
    for rule, count in _counts(pc.list_flatten(as_array(valid.column("quality_rules")))).items():
        rows = np.flatnonzero(has_flag(valid.column("quality_rules"), rule))[:EXAMPLES]
        examples = locations(valid.take(pa.array(rows))).to_pylist()
        issues.append(Issue(rule, "warn", count, tuple(examples)))
    collapsed = sum(validation.collapsed.values())
    if collapsed:
        issues.append(Issue("duplicate_identical", "collapse", collapsed, ()))
    if extracted_outside:
        issues.append(Issue("outside_window", "exclude", extracted_outside, ()))
    return tuple(sorted(issues, key=lambda i: (-i.count, i.rule)))


def _measurement_rows(
    report: Completeness, rejected: dict[tuple[str, str], int], warned: dict[tuple[str, str], int]
) -> tuple[MeasurementQuality, ...]:
    rows = []
    for station in report.stations:
        for m in station.measurements:
            rules = _FIELD_RULES.get(m.key, ())
            rows.append(
                MeasurementQuality(
                    station.station_id, m.key, m.expected, m.received, m.pct,
                    sum(rejected.get((station.station_id, r), 0) for r in rules),
                    sum(warned.get((station.station_id, r), 0) for r in rules),
                )
            )  # fmt: skip
    return tuple(rows)


@dataclass(frozen=True)
class _StationCounts:
    extracted: dict[str, int]
    outside: dict[str, int]
    valid: dict[str, int]
    rejected: dict[str, int]
    held: dict[str, int]
    anomalies: dict[str, int]
    anomalous: dict[str, int]
    scores: dict[str, float]
    conflicting: dict[str, int]


def _station_counts(extracted: pa.Table, validation: Validation, window: Window) -> _StationCounts:
    valid, rejected = validation.valid, validation.rejected
    is_held = pa.array(has_flag(rejected.column("reject_rules"), HELD_RULE) > 0)
    warn_hits = pc.list_value_length(valid.column("quality_rules"))
    scores = valid.group_by("station_id").aggregate([("quality_score", "mean")]).to_pylist()
    anomalies = pa.table({"station_id": valid.column("station_id"), "hits": warn_hits})
    summed = anomalies.group_by("station_id").aggregate([("hits", "sum")]).to_pylist()
    return _StationCounts(
        extracted=_counts(extracted.column("station_id")),
        outside=_counts(
            extracted.column("station_id").filter(pc.invert(in_window(extracted, window)))
        ),
        valid=_counts(valid.column("station_id")),
        rejected=_counts(rejected.column("station_id").filter(pc.invert(is_held))),
        held=_counts(rejected.column("station_id").filter(is_held)),
        anomalies={row["station_id"]: row["hits_sum"] for row in summed},
        anomalous=_counts(valid.column("station_id").filter(pc.greater(warn_hits, 0))),
        scores={row["station_id"]: row["quality_score_mean"] for row in scores},
        conflicting=_counts(
            rejected.column("station_id").filter(
                pa.array(has_flag(rejected.column("reject_rules"), CONFLICT_RULE) > 0)
            )
        ),
    )


def quality_report(
    extracted: pa.Table,
    validation: Validation,
    stations: pa.Table,
    window: Window,
    *,
    now: datetime,
) -> QualityReport:
    """Return the quality report of a run from what was extracted and how it validated."""
    stations = conform(stations, STATIONS)
    counts = _station_counts(extracted, validation, window)
    pairs = extracted.group_by(["station_id", "source"]).aggregate([]).to_pylist()
    sources = {row["station_id"]: row["source"] for row in pairs}
    report = completeness(validation.valid, stations, window, now=now)
    pct = {s.station_id: s.pct for s in report.stations}
    rows = tuple(
        StationQuality(
            source=sources[station_id], station_id=station_id,
            records_extracted=counts.extracted[station_id],
            records_outside_window=counts.outside.get(station_id, 0),
            duplicates_collapsed=validation.collapsed.get(station_id, 0),
            records_validated=counts.valid.get(station_id, 0),
            records_rejected=counts.rejected.get(station_id, 0),
            records_held=counts.held.get(station_id, 0),
            anomalies_detected=counts.anomalies.get(station_id, 0),
            records_with_anomalies=counts.anomalous.get(station_id, 0),
            mean_score=round(counts.scores.get(station_id) or 0.0, 2),
            completeness_pct=pct.get(station_id, 0.0),
            duplicates_conflicting=counts.conflicting.get(station_id, 0),
        )
        for station_id in sorted(counts.extracted)
    )  # fmt: skip
    measurements = _measurement_rows(
        report,
        _hit_counts(_hits(validation.rejected, "reject_rules")),
        _hit_counts(_hits(validation.valid, "quality_rules")),
    )
    outside = sum(s.records_outside_window for s in rows)
    return QualityReport(
        stations=rows, measurements=measurements, issues=_issues(validation, outside),
        findings=validation.findings, held=validation.held, completeness=report,
        max_rejection_rate=validation.max_rejection_rate,
    )  # fmt: skip


def merge_reports(reports: Sequence[QualityReport], max_rejection_rate: float) -> QualityReport:
    """Return one run's report from the reports of its partitions (disjoint stations).

    Station, measurement and completeness rows are joined (sorted by station); issues of the
    same rule add up their counts and keep the first examples.
    """
    issues: dict[tuple[str, str], Issue] = {}
    for report in reports:
        for issue in report.issues:
            key = (issue.rule, issue.severity)
            if key in issues:
                earlier = issues[key]
                examples = (earlier.examples + issue.examples)[:EXAMPLES]
                issues[key] = Issue(
                    issue.rule, issue.severity, earlier.count + issue.count, examples
                )
            else:
                issues[key] = issue
    ordered = tuple(sorted(issues.values(), key=lambda i: (-i.count, i.rule)))
    return QualityReport(
        stations=tuple(sorted((s for r in reports for s in r.stations), key=lambda s: s.station_id)),
        measurements=tuple(sorted((m for r in reports for m in r.measurements),
                                  key=lambda m: (m.station_id, m.measurement))),
        issues=ordered,
        findings=tuple(f for r in reports for f in r.findings),
        held=tuple(h for r in reports for h in r.held),
        completeness=Completeness(tuple(sorted(
            (c for r in reports for c in r.completeness.stations), key=lambda c: c.station_id))),
        max_rejection_rate=max_rejection_rate,
    )  # fmt: skip
