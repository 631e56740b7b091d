"""The validation rule catalogue: one declarative place for every rule, its severity and why.

``docs/data-quality.md`` is generated from this module (``forecast docs``), so the documentation
and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from forecast.schema import UNITS

Severity = Literal["reject", "warn"]


@dataclass(frozen=True)
class Rule:
    """One validation rule: what it checks, how severe a failure is, and the reason for it."""

    id: str
    field: str
    kind: str
    severity: Severity
    rationale: str
    params: dict[str, float] = dataclasses.field(default_factory=dict)


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

DEW_POINT_TOLERANCE = 0.5
GUST_TOLERANCE = 0.5

RULES: tuple[Rule, ...] = (
    Rule(
        "parse_error", "*", "parse", "reject",
        "a value the source wrote could not be read as a number in the expected unit; the row "
        "is quarantined with the raw text so nothing is silently turned into null",
    ),
    Rule(
        "no_measurements", "*", "required", "reject",
        "an observation with a station and a time but no measured value carries no information",
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
        "duplicate_key", "station_id, timestamp", "duplicate", "reject",
        "one station has one observation per instant; the first occurrence (by raw file, then "
        "row) is kept and later ones are quarantined, with the reason saying whether their "
        "values were identical or conflicting",
    ),
    Rule(
        "dew_point_above_temperature", "dew_point", "compare", "warn",
        "the dew point cannot exceed the air temperature; a small excess is sensor noise",
        {"tolerance": DEW_POINT_TOLERANCE},
    ),
    Rule(
        "gust_below_speed", "wind_gust", "compare", "warn",
        "a gust is the maximum wind over the interval, so it should not be below the mean speed",
        {"tolerance": GUST_TOLERANCE},
    ),
)  # fmt: skip

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}

CORE_MEASUREMENTS = (
    "temperature",
    "dew_point",
    "humidity",
    "pressure",
    "wind_speed",
    "wind_direction",
)
"""Measurements every source provides; a missing one lowers a record's quality score."""

WARNING_FLAGS = (
    "dew_point_above_temperature",
    "gust_below_speed",
    "dst_ambiguous",
    "dst_nonexistent",
)
"""Flags that count as warnings in the quality score (``wind_calm`` is information, not a fault)."""

SCORE_PER_WARNING = 10
SCORE_PER_MISSING_CORE = 5
SCORE_FORMULA = (
    f"score = clamp(100 - {SCORE_PER_WARNING} x warnings - {SCORE_PER_MISSING_CORE} x missing core "
    "measurements, 0, 100); warnings are the flags in WARNING_FLAGS; core measurements are "
    f"{', '.join(CORE_MEASUREMENTS)}, and a calm record's null wind direction is not missing"
)


def catalogue_markdown() -> str:
    """Return the rule catalogue as the markdown of docs/data-quality.md."""
    lines = [
        "# Data quality rules",
        "",
        "Generated from `forecast/rules.py` by `forecast docs`; do not edit by hand.",
        "",
        "| rule | field | kind | severity | parameters | rationale |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        params = ", ".join(f"{k}={v:g}" for k, v in rule.params.items()) or "-"
        cells = (f"`{rule.id}`", rule.field, rule.kind, rule.severity, params, rule.rationale)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Quality score", "", SCORE_FORMULA + ".", ""]
    return "\n".join(lines)
