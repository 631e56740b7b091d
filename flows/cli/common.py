"""What every command group shares: exit codes, the state home, output, argument types."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_HELD = 0, 1, 2, 3, 4
MONGO_URI_VARIABLE = "FORECAST_MONGO_URI"


class UsageError(Exception):
    """The command was given something it cannot take (exit 2, one line)."""


def add_mongo_uri(parser: argparse.ArgumentParser, text: str) -> None:
    """The ways a command takes a MongoDB URI: a file, the environment, or (without a password)
    the command line."""
    parser.add_argument(
        "--mongo-uri", help=f"{text}; a URI with a password is refused here (every user sees a "
        f"command line): use --mongo-uri-file or {MONGO_URI_VARIABLE}",
    )  # fmt: skip
    parser.add_argument(
        "--mongo-uri-file", metavar="FILE", help=f"{text}: the URI on the file's first line"
    )


def mongo_uri(args: argparse.Namespace) -> str | None:
    """The MongoDB URI a command was given: ``--mongo-uri-file``, else ``FORECAST_MONGO_URI``,
    else ``--mongo-uri`` (None: none, the block's).

    Raises:
        UsageError: ``--mongo-uri`` holds a password (argv is visible to every user through
            ``ps`` and ``/proc``), or the file cannot be read or is empty.
    """
    if getattr(args, "mongo_uri_file", None):
        try:
            text = Path(args.mongo_uri_file).read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise UsageError(
                f"--mongo-uri-file: cannot read {args.mongo_uri_file!r}: {exc.strerror}"
            ) from exc
        if not text or not text[0].strip():
            raise UsageError(f"--mongo-uri-file: {args.mongo_uri_file!r} holds no URI")
        return text[0].strip()
    if os.environ.get(MONGO_URI_VARIABLE, "").strip():
        return os.environ[MONGO_URI_VARIABLE].strip()
    uri = getattr(args, "mongo_uri", None)
    if uri and _has_password(uri):
        raise UsageError(
            "--mongo-uri holds a password, which every user of this machine can read in the "
            f"process list: put the URI in {MONGO_URI_VARIABLE} or a file given with "
            "--mongo-uri-file"
        )
    return uri or None


def _has_password(uri: str) -> bool:
    """True when a URI's user information holds a password (``user:password@``). The user info
    runs to the LAST "@", as ``forecast.mongo.client.redact`` reads it: an unescaped "@" in a
    user or password (``us@er:p@ss@host``) must not hide the password. A query holding "@" after
    a port is refused too: the safe failure."""
    userinfo, at, _ = uri.split("://", 1)[-1].rpartition("@")
    return bool(at) and ":" in userinfo


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
