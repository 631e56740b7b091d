"""The run's quality report with pictures: one self-contained HTML page of plotly charts.

Three kinds of chart, each from data that stays small whatever the run's size:

* **Completeness per station and UTC day**: a heatmap of distinct timestamps received over
  the cadence slots expected that day (``daily_completeness``); the slots come from the
  station's cadence and span in the merged quality report, so a station's days add up to its
  ``expected``/``received`` figures.
* **Rejections and warnings per rule**: bars of the quality report's issue counts.
* **Core measurements per station**: per time bucket (hourly, or wider for long runs so that
  a station has at most ``MAX_BUCKETS`` buckets) the mean, min and max of temperature,
  humidity, pressure and wind speed, and the circular mean of the wind direction; the readings
  a warn rule flagged on that measurement (``quality_rules``) are drawn at their own values as
  a marker trace per rule, at most ``MAX_FLAGGED_POINTS`` per station, measurement and rule
  (evenly spaced in time beyond that; the legend says how many were flagged and shown).

The series are reduced one partition's validated file at a time (``chart_files``): only the
buckets, the per-day counts and the capped flagged readings are kept. The page loads plotly.js
from one shared copy in the reports zone (``PLOTLY_ASSET``, written once by the first run that
needs it), by a path relative to the page (``../assets/plotly-<version>.min.js``): a page is
~100 KB, not 5 MB, and still opens offline beside its zone, locally or copied from S3
(``aws s3 sync s3://<reports>/ .``), with no network.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import plotly
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from forecast.quality.completeness import Completeness, StationCompleteness
from forecast.quality.report import QualityReport
from forecast.quality.rules import RULES
from forecast.quality.validate import Window
from forecast.schema import UNITS
from forecast.tables import as_array

CHARTED: tuple[str, ...] = ("temperature", "humidity", "pressure", "wind_speed", "wind_direction")
"""The core measurements drawn per station, top to bottom."""

BANDED: tuple[str, ...] = CHARTED[:-1]
"""Measurements drawn as mean with a min-max band (a direction has no meaningful min/max)."""

BUCKET_HOURS: tuple[int, ...] = (1, 3, 6, 12, 24, 168)
"""The bucket widths a run's time series are reduced to, the narrowest that fits first."""

MAX_BUCKETS = 1500
"""At most this many buckets per station and measurement."""

MAX_FLAGGED_POINTS = 2000
"""At most this many flagged readings drawn per station, measurement and rule."""

MAX_STATION_CHARTS = 40
"""At most this many stations get a time-series chart (the lowest mean scores first)."""

COLUMNS: tuple[str, ...] = ("station_id", "timestamp", *CHARTED, "quality_rules")
"""The columns of a validated file the charts read."""

FLAGGING_RULES: dict[str, str] = {
    rule.id: rule.field for rule in RULES if rule.severity == "warn" and rule.field in CHARTED
}
"""Warn rule -> the charted measurement it flags."""

_LABELS = {
    "temperature": "temperature",
    "humidity": "humidity",
    "pressure": "pressure",
    "wind_speed": "wind speed",
    "wind_direction": "wind direction",
}
_COLOURS = {
    "temperature": "#d62728",
    "humidity": "#1f77b4",
    "pressure": "#7f7f7f",
    "wind_speed": "#2ca02c",
    "wind_direction": "#9467bd",
}
_FLAG_COLOURS = ("#ff7f0e", "#e377c2", "#17becf", "#bcbd22", "#8c564b")
_MS_PER_HOUR = 3_600_000
_MS_PER_DAY = 86_400_000
_DEG = math.pi / 180.0
_CONFIG = {"displaylogo": False, "responsive": True}
_SERIES = pa.schema(
    [pa.field("station_id", pa.string()), pa.field("bucket", pa.timestamp("ms", tz="UTC"))]
    + [pa.field(f"{m}_{s}", pa.float64()) for m in BANDED for s in ("mean", "min", "max")]
    + [pa.field("wind_direction_mean", pa.float64())]
)
_DAYS = pa.schema(
    [pa.field("station_id", pa.string()), pa.field("day", pa.date32()),
     pa.field("received", pa.int64())]
)  # fmt: skip
_FLAGGED = pa.schema(
    [pa.field("station_id", pa.string()), pa.field("measurement", pa.string()),
     pa.field("rule", pa.string()), pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
     pa.field("value", pa.float64())]
)  # fmt: skip
_FLAG_COUNTS = pa.schema(
    [pa.field("station_id", pa.string()), pa.field("measurement", pa.string()),
     pa.field("rule", pa.string()), pa.field("readings", pa.int64()),
     pa.field("with_value", pa.int64())]
)  # fmt: skip


@dataclass(frozen=True)
class ChartData:
    """What the charts draw, reduced from validated rows.

    Attributes:
        bucket_hours: The width of a time-series bucket.
        series: One row per station and bucket: ``<m>_mean/_min/_max`` of the banded
            measurements, ``wind_direction_mean`` (circular mean, degrees).
        days: One row per station and UTC day: distinct timestamps received.
        flagged: The flagged readings drawn (capped): station, measurement, rule, time, value.
        flag_counts: Per station, measurement and rule: readings flagged, and those with a value.
    """

    bucket_hours: int
    series: pa.Table
    days: pa.Table
    flagged: pa.Table
    flag_counts: pa.Table


def bucket_hours(report: Completeness, max_buckets: int = MAX_BUCKETS) -> int:
    """Return the narrowest of ``BUCKET_HOURS`` giving at most ``max_buckets`` per station."""
    spans = [
        (s.first_observation, s.last_observation)
        for s in report.stations
        if s.first_observation is not None and s.last_observation is not None
    ]
    if not spans:
        return BUCKET_HOURS[0]
    hours = (max(e for _, e in spans) - min(s for s, _ in spans)) / timedelta(hours=1)
    return next((h for h in BUCKET_HOURS if hours / h < max_buckets), BUCKET_HOURS[-1])


def _series(valid: pa.Table, hours: int) -> pa.Table:
    """Return the per-station, per-bucket aggregates of the charted measurements."""
    radians = pc.multiply(valid.column("wind_direction"), _DEG)
    frame = pa.table(
        {
            "station_id": valid.column("station_id"),
            "bucket": pc.floor_temporal(valid.column("timestamp"), multiple=hours, unit="hour"),
            **{m: valid.column(m) for m in BANDED},
            "sin": pc.sin(radians),
            "cos": pc.cos(radians),
        }
    )
    aggregates = [(m, f) for m in BANDED for f in ("mean", "min", "max")]
    grouped = frame.group_by(["station_id", "bucket"]).aggregate(
        [*aggregates, ("sin", "mean"), ("cos", "mean")]
    )
    degrees = pc.divide(pc.atan2(grouped.column("sin_mean"), grouped.column("cos_mean")), _DEG)
    direction = pc.if_else(pc.less(degrees, 0.0), pc.add(degrees, 360.0), degrees)
    table = grouped.drop_columns(["sin_mean", "cos_mean"]).append_column(
        "wind_direction_mean", direction
    )
    return table.select(_SERIES.names).cast(_SERIES).sort_by([("station_id", "ascending"),
                                                              ("bucket", "ascending")])  # fmt: skip


def _days(valid: pa.Table) -> pa.Table:
    """Return the distinct timestamps received per station and UTC day."""
    frame = pa.table(
        {
            "station_id": valid.column("station_id"),
            "day": pc.floor_temporal(valid.column("timestamp"), unit="day").cast(pa.date32()),
            "timestamp": valid.column("timestamp"),
        }
    )
    grouped = frame.group_by(["station_id", "day"]).aggregate([("timestamp", "count_distinct")])
    return grouped.rename_columns(["station_id", "day", "received"]).cast(_DAYS)


def _flag_hits(valid: pa.Table) -> pa.Table:
    """Return one row per (reading, flagging rule): station, measurement, rule, time, value."""
    lists = as_array(valid.column("quality_rules"))
    rows, rules = pc.list_parent_indices(lists), pc.list_flatten(lists)
    parts = []
    for rule, measurement in FLAGGING_RULES.items():
        hit = rows.filter(pc.equal(rules, rule))
        if not len(hit):
            continue
        taken = valid.select(["station_id", "timestamp", measurement]).take(hit)
        parts.append(
            pa.table(
                {
                    "station_id": taken.column("station_id"),
                    "measurement": pa.array([measurement] * len(hit), pa.string()),
                    "rule": pa.array([rule] * len(hit), pa.string()),
                    "timestamp": taken.column("timestamp"),
                    "value": taken.column(measurement),
                }
            ).cast(_FLAGGED)
        )
    return pa.concat_tables(parts) if parts else _FLAGGED.empty_table()


def _capped(hits: pa.Table, cap: int) -> pa.Table:
    """Return the hits that have a value, at most ``cap`` per station, measurement and rule
    (evenly spaced in time)."""
    drawable = hits.filter(pc.is_valid(hits.column("value"))).sort_by(
        [("station_id", "ascending"), ("measurement", "ascending"), ("rule", "ascending"),
         ("timestamp", "ascending")]
    )  # fmt: skip
    if drawable.num_rows == 0:
        return drawable
    keys = pc.binary_join_element_wise(
        drawable.column("station_id"), drawable.column("measurement"),
        drawable.column("rule"), "\x1f",
    ).to_numpy(zero_copy_only=False)  # fmt: skip
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    picked = [
        np.arange(start, end) if end - start <= cap else
        start + np.unique(np.linspace(0, end - start - 1, cap).round().astype(np.int64))
        for start, end in zip(starts, ends, strict=True)
    ]  # fmt: skip
    return drawable.take(pa.array(np.concatenate(picked)))


def _flag_counts(hits: pa.Table) -> pa.Table:
    grouped = hits.group_by(["station_id", "measurement", "rule"]).aggregate(
        [([], "count_all"), ("value", "count")]
    )
    return grouped.rename_columns(_FLAG_COUNTS.names).cast(_FLAG_COUNTS)


def chart_data(
    valid: pa.Table, *, bucket_hours: int, max_points: int = MAX_FLAGGED_POINTS
) -> ChartData:
    """Return the chart data of validated rows (``COLUMNS`` at least)."""
    hits = _flag_hits(valid)
    return ChartData(
        bucket_hours=bucket_hours,
        series=_series(valid, bucket_hours),
        days=_days(valid),
        flagged=_capped(hits, max_points),
        flag_counts=_flag_counts(hits),
    )


def merge_chart_data(parts: Sequence[ChartData], bucket_hours: int) -> ChartData:
    """Return one run's chart data from its partitions' (disjoint stations: rows are joined)."""
    if any(p.bucket_hours != bucket_hours for p in parts):
        raise ValueError("partitions charted with different bucket widths cannot be merged")

    def joined(name: str, schema: pa.Schema) -> pa.Table:
        tables = [getattr(p, name) for p in parts]
        return pa.concat_tables(tables) if tables else schema.empty_table()

    return ChartData(
        bucket_hours=bucket_hours,
        series=joined("series", _SERIES),
        days=joined("days", _DAYS),
        flagged=joined("flagged", _FLAGGED),
        flag_counts=joined("flag_counts", _FLAG_COUNTS),
    )


def chart_files(paths: Iterable[str], report: QualityReport) -> ChartData:
    """Return the chart data of a run's validated Parquet files, read one at a time."""
    hours = bucket_hours(report.completeness)
    parts = [
        chart_data(pq.read_table(path, columns=list(COLUMNS)), bucket_hours=hours) for path in paths
    ]
    return merge_chart_data(parts, hours)


# ------------------------------------------------------------------------ completeness by day


def _day_slots(station: StationCompleteness, day: date) -> int:
    """Return the station's expected cadence slots that fall on ``day`` (UTC).

    The slots are ``span_start + k * cadence`` for ``k`` in ``[0, expected)``, so the days of a
    station add up to its ``expected``.
    """
    if station.cadence_minutes is None or station.span_start is None or not station.expected:
        return 0
    cadence = station.cadence_minutes * 60_000
    start = int(station.span_start.timestamp() * 1000)
    low = int(datetime.combine(day, datetime.min.time(), UTC).timestamp() * 1000)

    def slots_before(ms: int) -> int:
        return min(max(-(-(ms - start) // cadence), 0), station.expected)

    return slots_before(low + _MS_PER_DAY) - slots_before(low)


def _span_days(report: Completeness, days: pa.Table) -> list[date]:
    """Return every UTC day from the first expected slot or received row to the last one."""
    found = list(days.column("day").to_pylist())
    for s in report.stations:
        if s.cadence_minutes is None or s.span_start is None or not s.expected:
            continue
        last_slot = s.span_start + timedelta(minutes=s.cadence_minutes * (s.expected - 1))
        found += [s.span_start.astimezone(UTC).date(), last_slot.astimezone(UTC).date()]
    if not found:
        return []
    first, last = min(found), max(found)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def daily_completeness(report: Completeness, days: pa.Table) -> pa.Table:
    """Return, per station and UTC day, the slots expected, the timestamps received and the
    completeness (``min(100, 100 * received / expected)``, null when nothing was expected)."""
    calendar = _span_days(report, days)
    received = {(r["station_id"], r["day"]): r["received"] for r in days.to_pylist()}
    rows = []
    for station in report.stations:
        for day in calendar:
            expected = _day_slots(station, day)
            got = received.get((station.station_id, day), 0)
            pct = round(min(100.0, 100.0 * got / expected), 1) if expected else None
            rows.append({"station_id": station.station_id, "day": day, "expected": expected,
                         "received": got, "pct": pct})  # fmt: skip
    schema = pa.schema(
        [("station_id", pa.string()), ("day", pa.date32()), ("expected", pa.int64()),
         ("received", pa.int64()), ("pct", pa.float64())]
    )  # fmt: skip
    return pa.Table.from_pylist(rows, schema=schema)


# ------------------------------------------------------------------------------- figures


def station_names(stations: pa.Table) -> dict[str, str]:
    """Return station id -> name (the first name listed for an id)."""
    names: dict[str, str] = {}
    for row in stations.select(["station_id", "name"]).to_pylist():
        names.setdefault(row["station_id"], row["name"])
    return names


def _label(station_id: str, names: dict[str, str]) -> str:
    name = names.get(station_id)
    return f"{name} ({station_id})" if name and name != station_id else station_id


def completeness_figure(table: pa.Table, names: dict[str, str]) -> go.Figure:
    """Return the heatmap of completeness per station (rows) and UTC day (columns)."""
    stations = sorted(set(table.column("station_id").to_pylist()))
    calendar = sorted(set(table.column("day").to_pylist()))
    index = {(r["station_id"], r["day"]): r for r in table.to_pylist()}
    cells = [[index[(s, d)] for d in calendar] for s in stations]
    figure = go.Figure(
        go.Heatmap(
            x=[d.isoformat() for d in calendar], y=[_label(s, names) for s in stations],
            z=[[c["pct"] for c in row] for row in cells],
            text=[["" if c["pct"] is None else f"{c['pct']:.0f}%" for c in row] for row in cells],
            customdata=[[f"{c['received']}/{c['expected']}" for c in row] for row in cells],
            texttemplate="%{text}", zmin=0, zmax=100, colorscale="RdYlGn",
            colorbar={"title": {"text": "%"}}, uid="completeness", xgap=2, ygap=2,
            hovertemplate="%{y}<br>%{x}: %{customdata} received/expected<extra></extra>",
        )
    )  # fmt: skip
    figure.update_layout(
        title="Completeness per station and UTC day (received / expected at the cadence)",
        height=160 + 40 * max(len(stations), 1), margin={"l": 220},
        xaxis={"type": "category", "title": {"text": "UTC day"}},
        yaxis={"type": "category", "autorange": "reversed"},
    )  # fmt: skip
    return figure


def rules_figure(report: QualityReport) -> go.Figure:
    """Return the bars of rows rejected and warnings per rule."""
    figure = go.Figure()
    for severity, label, colour in (("reject", "rows rejected", "#d62728"),
                                    ("warn", "warnings", "#ff7f0e")):  # fmt: skip
        issues = [i for i in report.issues if i.severity == severity]
        figure.add_trace(
            go.Bar(
                y=[i.rule for i in issues], x=[i.count for i in issues], orientation="h",
                name=label, marker_color=colour, text=[str(i.count) for i in issues],
                textposition="outside", cliponaxis=False, uid=f"rules-{severity}",
            )
        )  # fmt: skip
    fired = sum(i.severity in ("reject", "warn") for i in report.issues)
    if not fired:
        figure.add_annotation(text="no rule rejected or flagged a reading in this run",
                              showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)  # fmt: skip
    figure.update_layout(
        title="Rejections and warnings per rule", barmode="group",
        height=200 + 40 * max(fired, 1), margin={"l": 220, "r": 80},
        xaxis={"title": {"text": "readings"}}, yaxis={"type": "category", "autorange": "reversed"},
    )  # fmt: skip
    return figure


def _times(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return as_array(column).cast(pa.timestamp("ms")).to_numpy(zero_copy_only=False)


def _values(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return as_array(column).to_numpy(zero_copy_only=False)


def _add_band(figure: go.Figure, series: pa.Table, m: str, row: int, first: bool) -> None:
    """Add a banded measurement: max and min (filled between) and the mean line."""
    x = _times(series.column("bucket"))
    colour = _COLOURS[m]
    figure.add_trace(go.Scatter(x=x, y=_values(series.column(f"{m}_max")), mode="lines",
                                line={"width": 0}, showlegend=False, hoverinfo="skip",
                                connectgaps=False), row=row, col=1)  # fmt: skip
    figure.add_trace(go.Scatter(x=x, y=_values(series.column(f"{m}_min")), mode="lines",
                                line={"width": 0}, fill="tonexty", fillcolor="rgba(0,0,0,0.12)",
                                name="min-max", legendgroup="band", showlegend=first,
                                hoverinfo="skip"), row=row, col=1)  # fmt: skip
    figure.add_trace(go.Scatter(x=x, y=_values(series.column(f"{m}_mean")), mode="lines",
                                line={"color": colour, "width": 1.5}, name=_LABELS[m]),
                   row=row, col=1)  # fmt: skip


def _flag_name(rule: str, readings: int, with_value: int, drawn: int) -> str:
    shown = f"{drawn} shown" if drawn == with_value else f"{drawn} of {with_value} shown"
    missing = readings - with_value
    without = f", {missing} without a value" if missing else ""
    return f"{rule}: {readings} flagged ({shown}{without})"


def _add_flags(figure: go.Figure, station_id: str, m: str, row: int, data: ChartData) -> None:
    """Add one marker trace per rule that flagged the station's measurement."""
    counts = data.flag_counts.filter(
        pc.and_(pc.equal(data.flag_counts.column("station_id"), station_id),
                pc.equal(data.flag_counts.column("measurement"), m))
    ).sort_by("rule").to_pylist()  # fmt: skip
    for n, count in enumerate(counts):
        points = data.flagged.filter(
            pc.and_(pc.and_(pc.equal(data.flagged.column("station_id"), station_id),
                            pc.equal(data.flagged.column("measurement"), m)),
                    pc.equal(data.flagged.column("rule"), count["rule"]))
        )  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=_times(points.column("timestamp")), y=_values(points.column("value")),
                mode="markers", uid=f"{station_id}-{m}-{count['rule']}",
                marker={"symbol": "x", "size": 6, "color": _FLAG_COLOURS[n % len(_FLAG_COLOURS)]},
                name=_flag_name(count["rule"], count["readings"], count["with_value"],
                                points.num_rows),
            ),
            row=row, col=1,
        )  # fmt: skip


def station_figure(station_id: str, data: ChartData, names: dict[str, str]) -> go.Figure:
    """Return one station's core measurements, one panel each, flagged readings marked."""
    series = data.series.filter(pc.equal(data.series.column("station_id"), station_id))
    titles = [f"{_LABELS[m]} ({UNITS[m]})" for m in CHARTED]
    figure = make_subplots(rows=len(CHARTED), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                           subplot_titles=titles)  # fmt: skip
    for row, m in enumerate(CHARTED, start=1):
        if m in BANDED:
            _add_band(figure, series, m, row, first=row == 1)
        else:
            figure.add_trace(
                go.Scatter(x=_times(series.column("bucket")),
                           y=_values(series.column(f"{m}_mean")), mode="markers",
                           marker={"color": _COLOURS[m], "size": 4},
                           name=f"{_LABELS[m]} (circular mean)"),
                row=row, col=1,
            )  # fmt: skip
        _add_flags(figure, station_id, m, row, data)
    figure.update_yaxes(range=[0, 360], tickvals=[0, 90, 180, 270, 360], row=len(CHARTED), col=1)
    figure.update_xaxes(title_text="UTC", row=len(CHARTED), col=1)
    width = f"{data.bucket_hours} h" if data.bucket_hours < 24 else f"{data.bucket_hours // 24} d"
    figure.update_layout(
        title=f"{_label(station_id, names)}: per {width} mean, min-max band, flagged readings",
        height=1100,
        legend={"orientation": "h", "y": -0.06},
    )
    return figure


# ---------------------------------------------------------------------------------- page


def charted_stations(report: QualityReport, limit: int = MAX_STATION_CHARTS) -> list[str]:
    """Return the stations that get a time-series chart, the lowest mean score first (ties
    by id): every station with validated readings, at most ``limit``."""
    validated = [s for s in report.stations if s.records_validated]
    ordered = sorted(validated, key=lambda s: (s.mean_score, s.station_id))
    return [s.station_id for s in ordered[:limit]]


PLOTLY_ASSET = f"assets/plotly-{plotly.__version__}.min.js"
"""Where the reports zone keeps the one plotly.js the pages load (its version in the name)."""
PLOTLY_SOURCE = f"../{PLOTLY_ASSET}"
"""The plotly.js of a page at ``<zone>/<folder>/quality.html`` (``run=<id>/``, ``latest/``)."""


def plotly_asset() -> bytes:
    """The plotly.js bundle the pages load (``PLOTLY_ASSET``), from the installed plotly."""
    return get_plotlyjs().encode()


def _div(figure: go.Figure, div_id: str, include: str | bool) -> str:
    return str(figure.to_html(full_html=False, include_plotlyjs=include, div_id=div_id,
                              config=_CONFIG))  # fmt: skip


def _kpi_list(report: QualityReport) -> str:
    items = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in report.kpis().items()
    )
    return f"<ul class='kpis'>{items}</ul>"


_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}h2{margin-top:2em}"
    ".kpis{columns:3;list-style:none;padding:0}.note{color:#555;max-width:60em}"
)


def quality_page(
    report: QualityReport,
    data: ChartData,
    stations: pa.Table,
    *,
    run_id: str,
    window: Window,
) -> str:
    """Return the run's quality report as one HTML page loading plotly.js from
    ``PLOTLY_SOURCE`` (relative to the page: the reports zone's shared copy)."""
    names = station_names(stations)
    daily = daily_completeness(report.completeness, data.days)
    charted = charted_stations(report)
    left_out = sorted({s.station_id for s in report.stations} - set(charted))
    bounds = window.to_dict()
    span = f"{bounds['start'] or 'open'} to {bounds['end'] or 'open'}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Data quality, run {html.escape(run_id)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Data quality, run {html.escape(run_id)}</h1>",
        f"<p>Window (UTC dates): {html.escape(span)}. Stations: {len(report.stations)}.</p>",
        _kpi_list(report),
        "<h2>Completeness per station and UTC day</h2>",
        _div(completeness_figure(daily, names), "completeness", PLOTLY_SOURCE),
        "<h2>Rejections and warnings per rule</h2>",
        _div(rules_figure(report), "rules", False),
        "<h2>Core measurements per station</h2>",
        "<p class='note'>Lowest mean quality score first. "
        f"Validated readings reduced to {data.bucket_hours}-hour buckets (mean "
        "line, min-max band; wind direction: circular mean). Crosses: readings a warn rule "
        f"flagged, at their own values (at most {MAX_FLAGGED_POINTS} per station, measurement "
        "and rule, evenly spaced beyond that).</p>",
    ]
    if left_out:
        parts.append(f"<p class='note'>Not charted (only the {len(charted)} lowest mean scores "
                     f"are): {html.escape(', '.join(left_out))}.</p>")  # fmt: skip
    parts += [_div(station_figure(s, data, names), f"series-{s}", False) for s in charted]
    if not charted:
        parts.append("<p class='note'>No reading was validated in this run.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def describe(data: ChartData) -> dict[str, Any]:
    """Return the sizes of the chart data (for a log line)."""
    return {
        "bucket_hours": data.bucket_hours,
        "buckets": data.series.num_rows,
        "station_days": data.days.num_rows,
        "flagged_drawn": data.flagged.num_rows,
        "flagged": int(pc.sum(data.flag_counts.column("readings")).as_py() or 0),
    }
