"""The ephemeral Prefect API a bare ``forecast run`` starts never outlives the command.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server (uvicorn, SQLite under
``PREFECT_HOME``) as a child process and stops it when the command exits normally. A command
killed outright (SIGKILL, the OOM killer) never gets there: the server stayed up, holding its
port and the database (seen: three of them alive 35 minutes later). Here the child is started
with the kernel's parent-death signal (``PR_SET_PDEATHSIG``, Linux): whatever ends this process,
the server gets SIGTERM. The signal follows the *thread* that started the child; Prefect starts
the server from the main thread (checked for 3.8.8), which lives as long as the process.

The server's own output (its tracebacks when it cannot start, uvicorn's errors) goes to
``$PREFECT_HOME/ephemeral-api.log`` instead of the command's stderr, unless ``FORECAST_DEBUG=1``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child, before it runs the server: SIGTERM when the parent dies (or has died)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _server_log() -> Path:
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    home.mkdir(parents=True, exist_ok=True)
    return home / "ephemeral-api.log"


_EPHEMERAL_APP = "prefect.server.api.server:create_app"
"""What Prefect's ephemeral server command line names (uvicorn's app factory)."""


class _TiedPopen(subprocess.Popen):  # type: ignore[type-arg]
    """``subprocess.Popen`` that ties Prefect's ephemeral API server to this process (and keeps
    its output off the terminal); any other command is started as it would be."""

    def __init__(self, args: Any, *rest: Any, **kwargs: Any) -> None:
        if _EPHEMERAL_APP in (args if isinstance(args, list | tuple) else [args]):
            parent = os.getpid()
            kwargs["preexec_fn"] = lambda: _die_with_parent(parent)
            if not os.environ.get("FORECAST_DEBUG") and "stderr" not in kwargs:
                log = _server_log().open("ab")
                kwargs["stdout"] = kwargs["stderr"] = log
        super().__init__(args, *rest, **kwargs)


@contextmanager
def ephemeral_api_dies_with_this_process() -> Iterator[None]:
    """While it is active, an ephemeral API server Prefect starts dies with this process.

    ``subprocess.Popen`` is swapped for ``_TiedPopen`` (Prefect's server module calls it by that
    name when it starts the server), without importing Prefect's server here: a command that
    never needs the API does not pay for it.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    real = subprocess.Popen
    subprocess.Popen = _TiedPopen  # type: ignore[misc]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]
