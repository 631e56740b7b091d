"""Where the local state lives: one home for the ``forecast`` command and the Makefile.

``FORECAST_HOME`` holds the local MongoDB's data, the local lake, generated demo inputs and the
run scratch space; ``PREFECT_HOME`` (the local Prefect database, profiles and blocks) lives
inside it. In a checkout both default to ``<checkout>/.forecast`` and ``.forecast/prefect``,
the Makefile's own defaults, whatever the working directory, so ``make run`` followed by a bare
``.venv/bin/forecast run`` sees the same blocks and the same MongoDB. Installed outside a
checkout (the image) the default is ``./.forecast``. An environment variable set by the user
always wins.

The Prefect API: when the home's local Prefect server runs (``forecast setup`` started it) and
``PREFECT_API_URL`` is not set, every ``forecast`` command talks to it: ``PREFECT_API_URL`` and
``PREFECT_API_AUTH_STRING`` are set in this process's environment from the files the server
keeps under ``FORECAST_HOME/prefect-server`` (the auth string from its 0600 secrets file, never
argv). When it does not run, nothing is set and Prefect starts its ephemeral API, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

# The settings the Makefile exports for every command, applied to the bare CLI too.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's 20 s is too short for the ephemeral API on a busy 2-core machine (seen here:
    # "Timed out while attempting to connect to ephemeral Prefect API server").
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def checkout_root() -> Path | None:
    """The source checkout this code runs from, if it runs from one (Makefile beside it)."""
    root = Path(__file__).resolve().parents[1]
    if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def forecast_home() -> Path:
    """``FORECAST_HOME``, else ``<checkout>/.forecast``, else ``./.forecast``."""
    configured = os.environ.get("FORECAST_HOME")
    if configured:
        return Path(configured).resolve()
    return ((checkout_root() or Path.cwd()) / ".forecast").resolve()


def apply_defaults() -> dict[str, str]:
    """Set FORECAST_HOME, PREFECT_HOME and the Makefile's Prefect settings where unset.

    Must run before Prefect is imported (Prefect reads its settings on import). Returns the
    state locations in effect.
    """
    home = forecast_home()
    os.environ.setdefault("FORECAST_HOME", str(home))
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    for variable in ("FORECAST_HOME", "PREFECT_HOME"):  # Prefect creates no parent folder
        Path(os.environ[variable]).expanduser().mkdir(parents=True, exist_ok=True)
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    # JSON lines go to a log shipper: the run's own log lines (INFO) are the point, and they stay
    # off a terminal's summary (stderr); on a terminal, warnings only. Before Prefect reads it.
    from flows.observability import json_logs_requested  # no Prefect import

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if json_logs_requested() else "WARNING")
    use_local_prefect_server()
    return {
        "FORECAST_HOME": os.environ["FORECAST_HOME"],
        "PREFECT_HOME": os.environ["PREFECT_HOME"],
    }


def use_local_prefect_server() -> str | None:
    """Point this process's Prefect client at the home's local Prefect server if it runs and no
    ``PREFECT_API_URL`` is set; return its API URL (None: nothing was set).

    A ``PREFECT_API_URL`` the user set that names the local server gets its auth string too
    (unless ``PREFECT_API_AUTH_STRING`` is set). Must run before Prefect is imported.
    """
    from forecast.localstack import LocalPrefectServer, configured_api

    settings = LocalPrefectServer(forecast_home()).client_settings()
    if settings is None:
        return None
    configured, local = configured_api(settings)
    if configured and not local:
        return None  # the user's own API
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    return settings["PREFECT_API_URL"]
