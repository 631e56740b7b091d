"""Small helpers the reports share: rates and markdown tables."""

from __future__ import annotations

from typing import Any


def rate(part: int, whole: int) -> float:
    """Return part / whole rounded to 6 decimals, 0.0 for an empty whole."""
    return round(part / whole, 6) if whole else 0.0


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Return rows (dicts with the same keys) as a markdown table."""
    if not rows:
        return "_no rows_"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)
