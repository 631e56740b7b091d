"""The ``forecast`` command: run the pipeline, manage the local stack, make demo inputs.

Exit codes: 0 success, 1 failure (one-line reason on stderr), 2 usage error, 3 partial success
(some files or documents failed; the good data was loaded), 4 held (station-days over the
rejection threshold were held back in rejected/; everything else was loaded).

One module per command group, each adding its commands to the parser:

- ``run``: ``run``, ``requeue`` (the pipeline in this process, its summary, exit codes)
- ``stack``: ``setup``, ``stop``, ``status``, ``token``, ``blocks-aws``, ``demo``, ``docs``
- ``mongo``: ``crud-check``, ``latency``
- ``automations``: ``automations webhook | apply | list``
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from flows.cli.common import EXIT_FAILED, EXIT_USAGE, UsageError, write


def parser() -> argparse.ArgumentParser:
    """The ``forecast`` argument parser, every command group's commands added."""
    from flows.cli import automations, mongo, run, stack

    top = argparse.ArgumentParser(prog="forecast", description="Forecast 2.0 weather pipeline")
    commands = top.add_subparsers(dest="command", required=True)
    for group in (run, stack, mongo, automations):
        group.add_commands(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``forecast`` console script."""
    from flows.state import apply_defaults

    apply_defaults()  # before anything imports Prefect: the Makefile's FORECAST_HOME and PREFECT_HOME
    from pydantic import ValidationError

    from flows.ephemeral import ephemeral_api_dies_with_this_process
    from flows.observability import quiet_tracebacks, use_json_logs
    from forecast.errors import ForecastError

    use_json_logs()  # FORECAST_LOG_FORMAT=json: every console handler writes JSON lines
    args = parser().parse_args(argv)
    try:
        with quiet_tracebacks(), ephemeral_api_dies_with_this_process():
            return int(args.handler(args))
    except UsageError as exc:  # argparse's own: one line, exit 2
        write(sys.stderr, f"forecast {args.command}: error: {exc}")
        return EXIT_USAGE
    except (ForecastError, ValidationError, OSError) as exc:
        return _fail(args, exc)
    except Exception as exc:  # top of the CLI: any other failure is still reported in one line
        if os.environ.get("FORECAST_DEBUG"):
            raise
        return _fail(args, exc)


def _fail(args: argparse.Namespace, exc: BaseException) -> int:
    reason = " ".join(str(exc).split())
    write(
        sys.stderr,
        f"forecast {args.command}: error: {type(exc).__name__}: {reason} (FORECAST_DEBUG=1 for a traceback)",
    )
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
