"""What every command group shares: exit codes, the state home, output, argument types."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL, EXIT_HELD = 0, 1, 3, 4


def home() -> Path:
    """The local state directory (``FORECAST_HOME``; see ``flows.state``)."""
    from flows.state import forecast_home

    return forecast_home()


def write(stream: TextIO, text: str) -> None:
    stream.write(text + "\n")


def positive(text: str) -> int:
    """Argparse type of ``--iterations``: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None
