"""The validation rule catalogue: one declarative place for every rule, its severity and why.

``docs/data-quality.md`` is generated from this module (``forecast docs``), so the documentation
and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from forecast.schema import UNITS

Severity = Literal["reject", "warn", "collapse", "exclude"]
"""``reject``: quarantined in ``rejected/`` with the reason, never loaded. ``warn``: loaded, named in
the record's ``data_quality.rules`` and costing score points. ``collapse``: an exact copy of a
record kept once, counted. ``exclude``: outside the run's window, left for the run that covers it."""


@dataclass(frozen=True)
class Rule:
    """One validation rule: what it checks, how severe a failure is, and the reason for it.

    ``penalty`` is what a fired ``warn`` rule costs a record's quality score.
    """

    id: str
    field: str
    kind: str
    severity: Severity
    rationale: str
    params: dict[str, float] = dataclasses.field(default_factory=dict)
    penalty: int = 0


PHYSICAL_RANGES: dict[str, tuple[float, float, str]] = {
    "temperature": (-80.0, 60.0, "beyond the world records (-89.2 / 56.7 degC) with margin"),
    "dew_point": (-90.0, 40.0, "a dew point above 35 degC has never been observed"),
    "humidity": (0.0, 100.0, "relative humidity is a percentage"),
    "pressure": (850.0, 1090.0, "sea-level pressure records are 870 and 1084 hPa"),
    "wind_speed": (0.0, 400.0, "above the strongest measured gust (408 km/h)"),
    "wind_gust": (0.0, 410.0, "the strongest measured gust is 408 km/h"),
    "wind_direction": (0.0, 360.0, "a compass bearing"),
    "precip_rate": (0.0, 1000.0, "far above record rain rates (~300 mm/h sustained)"),
    "precip_accum": (0.0, 2000.0, "above the 24 h rainfall record (1825 mm)"),
    "precip_1h": (0.0, 400.0, "above the 1 h rainfall record (305 mm)"),
    "precip_3h": (0.0, 1000.0, "above the 3 h rainfall record"),
    "visibility": (0.0, 100000.0, "synop visibility is reported up to 75 km"),
    "cloud_cover": (0.0, 9.0, "oktas 0-8, 9 = sky obscured"),
    "snow_depth": (0.0, 1500.0, "above the snow-depth record (1182 cm)"),
    "weather_code": (0.0, 99.0, "WMO present-weather code table 4677 runs 00-99"),
    "uv_index": (0.0, 25.0, "the highest UV index measured is about 43 at altitude, 25 at ground"),
    "solar_radiation": (0.0, 2000.0, "above the solar constant plus cloud enhancement"),
}
"""Measurement -> (min, max, why). Values outside are physically impossible, so rejected."""

SPIKES: dict[str, tuple[float, float]] = {
    "temperature": (3.0, 6.0),
    "dew_point": (3.0, 6.0),
    "humidity": (15.0, 30.0),
}
"""Measurement -> (min_change, rate_per_hour) of the spike rules (see ``spike_<key>``)."""

FLATLINES: dict[str, float] = {
    "temperature": 3.0,
    "dew_point": 4.0,
    "humidity": 8.0,
    "pressure": 6.0,
}
"""Measurement -> hours a value may stay exactly unchanged before ``flatline_<key>`` fires. The
real files' longest natural plateaus are 1.7 h (temperature), 3.3 h (dew point), 5.8 h (humidity
at 97 % in fog) and 3.2 h (pressure at 0.01 inHg resolution)."""

DEW_POINT_TOLERANCE = 0.5
GUST_TOLERANCE = 0.5
DEFAULT_MAX_REJECTION_RATE = 0.05

RULES: tuple[Rule, ...] = (
    Rule(
        "missing_timestamp", "timestamp", "required", "reject",
        "the natural key is (station, time): a row whose time could not be read cannot be "
        "placed; the unreadable cell is quoted",
    ),
    Rule(
        "no_measurements", "*", "required", "reject",
        "an observation with a station and a time but no measured value carries no information",
    ),
    Rule(
        "parse_error", "*", "parse", "reject",
        "a value the source wrote could not be read as a number; the row is quarantined with the "
        "raw text so nothing is silently turned into null",
    ),
    Rule(
        "unit_mismatch", "*", "unit", "reject",
        "a value carrying another unit than the source's documented one (Weather Underground "
        "cells carry their unit) is not converted by guesswork; InfoClimat declares units once "
        "per file, and a file declaring another unit is refused whole",
    ),
    *(
        Rule(
            f"range_{key}", key, "range", "reject",
            f"{why}; allowed [{low:g}, {high:g}] {UNITS[key]}",
            {"min": low, "max": high},
        )
        for key, (low, high, why) in PHYSICAL_RANGES.items()
    ),
    Rule(
        "timestamp_in_future", "timestamp", "timestamp", "reject",
        "an observation cannot be later than the run's clock; the tolerance absorbs clock skew",
        {"tolerance_minutes": 10},
    ),
    Rule(
        "outside_window", "timestamp", "timestamp", "exclude",
        "rows outside the run's [start, end] UTC dates belong to another run: counted as "
        "records_outside_window, neither loaded nor quarantined",
    ),
    Rule(
        "duplicate_identical", "station_id, timestamp", "duplicate", "collapse",
        "the same station, time and values seen twice (overlapping exports, the same day in two "
        "files): kept once, the copies counted as duplicates_collapsed",
    ),
    Rule(
        "duplicate_conflict", "station_id, timestamp", "duplicate", "reject",
        "one station has one observation per instant. Records of one run that disagree on it "
        "(from two files, or two rows) are all quarantined, each naming the other and the "
        "values that differ: none silently wins, nothing of that instant is loaded, the run "
        "ends partial (duplicates_conflicting) and `forecast requeue` replays them once the "
        "wrong source is removed. Across runs the load's upsert lets the later run win "
        "(counted as updated)",
    ),
    Rule(
        "rejection_threshold", "station_id, date", "partition", "reject",
        "when more than max_rejection_rate of a station-day's rows are rejected the source is "
        "suspect: its valid rows are held back too (quarantined with this rule), nothing of it "
        "is loaded and the run fails naming the partition; `forecast requeue` releases them. "
        "Losing duplicates are copies, not lost observations, and do not count; rows without "
        "a timestamp belong to no day and are not judged here",
        {"max_rejection_rate": DEFAULT_MAX_REJECTION_RATE},
    ),
    Rule(
        "load_refused", "*", "load", "reject",
        "MongoDB refused the document (its $jsonSchema validator, a duplicate key): the row "
        "is quarantined after the load with the server's message; the rest of the batch loads",
    ),
    Rule(
        "dew_point_above_temperature", "dew_point", "compare", "warn",
        "the dew point cannot exceed the air temperature; a small excess is sensor noise",
        {"tolerance": DEW_POINT_TOLERANCE}, penalty=10,
    ),
    Rule(
        "gust_below_speed", "wind_gust", "compare", "warn",
        "a gust is the maximum wind over the interval, so it should not be below the mean speed",
        {"tolerance": GUST_TOLERANCE}, penalty=10,
    ),
    *(
        Rule(
            f"spike_{key}", key, "spike", "warn",
            "a value that leaves both neighbours by more than min_change + rate_per_hour x "
            "interval, jumping out and back in opposite directions, is a sensor glitch; only "
            "the middle reading is flagged",
            {"min_change": low, "rate_per_hour": rate, "max_gap_minutes": 180}, penalty=20,
        )
        for key, (low, rate) in SPIKES.items()
    ),
    Rule(
        "pressure_jump", "pressure", "jump", "warn",
        "air pressure changes slowly (a deep storm: ~3 hPa/h); a step beyond min_change + "
        "rate_per_hour x interval between consecutive readings is a sensor or reduction fault; "
        "the later reading is flagged, except the step back of a one-reading spike",
        {"min_change": 1.5, "rate_per_hour": 3.0, "max_gap_minutes": 180}, penalty=20,
    ),
    *(
        Rule(
            f"flatline_{key}", key, "flatline", "warn",
            "a value exactly unchanged for at least `hours` (and min_readings readings) while "
            "another core measurement of the station changes is a frozen sensor",
            {"hours": hours, "min_readings": 4}, penalty=15,
        )
        for key, hours in FLATLINES.items()
    ),
    Rule(
        "stuck_wind_direction", "wind_direction", "stuck", "warn",
        "a vane that stays within a `spread`-degree sector for `hours` of windy readings "
        "(speed > 0; calm readings say nothing about a vane) while the wind speed varies is "
        "stuck: readings join a run while each differs from the previous windy one by at most "
        "`step` degrees; every reading in a qualifying run's time span is flagged",
        {"hours": 18, "step": 22.5, "spread": 45, "min_readings": 24}, penalty=15,
    ),
    Rule(
        "precip_total_decrease", "precip_accum", "accumulation", "warn",
        "a running precipitation total only grows until the station resets it to zero, and "
        "stations reset at different times (La Madeleine at 06:00 UTC, the climatological "
        "day), so a reset is recognised by its value: a fall to at most `tolerance` mm. A fall "
        "by more than `tolerance` to a higher total, between readings at most max_gap_minutes "
        "apart (a reset and new rain can hide in a longer gap), is a fault",
        {"tolerance": 0.05, "max_gap_minutes": 180}, penalty=10,
    ),
    Rule(
        "cross_station_temperature", "temperature", "cross-station", "warn",
        "stations closer than distance_km share the air mass: a temperature differing from a "
        "neighbour's reading (at most max_offset_minutes apart) by more than max_difference "
        "degC points at a badly sited or faulty sensor; both stations' readings are flagged. "
        "A station is compared with its max_neighbours nearest stations within distance_km "
        "(and with every station it is one of the nearest of), so one faulty sensor in a dense "
        "network flags a few neighbours, not all of them",
        {"distance_km": 12, "max_difference": 5, "max_offset_minutes": 10, "max_neighbours": 6},
        penalty=10,
    ),
)  # fmt: skip

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
WARN_RULES: tuple[str, ...] = tuple(rule.id for rule in RULES if rule.severity == "warn")
REJECT_RULES: tuple[str, ...] = tuple(rule.id for rule in RULES if rule.severity == "reject")

CORE_MEASUREMENTS = (
    "temperature",
    "dew_point",
    "humidity",
    "pressure",
    "wind_speed",
    "wind_direction",
)
"""Measurements every source provides; a missing one lowers a record's quality score."""

FLAG_PENALTIES: dict[str, int] = {"dst_ambiguous": 10, "dst_nonexistent": 10, "wind_calm": 0}
"""Parser flags and their score cost: a DST-resolved time is a documented guess; calm is a fact."""

SCORE_PER_MISSING_CORE = 5
SCORE_FORMULA = (
    "score = clamp(100 - sum of the penalties of the warn rules that fired - sum of the "
    f"penalties of the parser flags ({', '.join(f'{k} {v}' for k, v in FLAG_PENALTIES.items())})"
    f" - {SCORE_PER_MISSING_CORE} x missing core measurements, 0, 100); core measurements are "
    f"{', '.join(CORE_MEASUREMENTS)}, and a calm record's null wind direction is not missing"
)


def param(rule_id: str, name: str) -> float:
    """Return a parameter of a catalogue rule."""
    return RULES_BY_ID[rule_id].params[name]


def catalogue_markdown() -> str:
    """Return the rule catalogue as the markdown of docs/data-quality.md."""
    lines = [
        "# Data quality rules",
        "",
        "Generated from `forecast/quality/rules.py` by `forecast docs`; do not edit by hand.",
        "",
        "Severities: `reject` quarantines the row in `rejected/` with its reason; `warn` loads it",
        "and names the rule in `data_quality.rules`, costing `penalty` score points; `collapse`",
        "keeps one of identical copies; `exclude` leaves rows outside the window to another run.",
        "",
        "| rule | field | kind | severity | parameters | penalty | rationale |",
        "|---|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        params = ", ".join(f"{k}={v:g}" for k, v in rule.params.items()) or "-"
        penalty = str(rule.penalty) if rule.severity == "warn" else "-"
        cells = (f"`{rule.id}`", rule.field, rule.kind, rule.severity, params, penalty,
                 rule.rationale)  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Quality score", "", SCORE_FORMULA + ".", ""]
    return "\n".join(lines)
