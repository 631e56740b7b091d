"""What a run tells the platform: EMF metric lines on stdout and, on request, JSON logs.

**Metrics.** Every run, a failed one included, has CloudWatch Embedded Metric Format documents
(``forecast.run.metrics``; ``run_metric_lines``): they are kept in the run's reports
(``reports/run=<id>/metrics.json``) and, where CloudWatch reads them, written to stdout one JSON
line each (``emit_metric_lines``): with ``FORECAST_EMF=stdout``, which the ECS deployments set
(prefect.yaml's job variables): the task's stdout goes to the flow log group (awslogs driver),
where CloudWatch extracts the metrics. A local ``forecast run`` keeps its summary plain text. The
namespace (``FORECAST_METRIC_NAMESPACE``, default ``Forecast/Pipeline``) and the ``Environment``
dimension (``FORECAST_ENVIRONMENT``, default ``local``) are set by the deployment's job variables
(prefect.yaml), never detected.

**Logs.** With ``FORECAST_LOG_FORMAT=json`` the console handlers format records with
``forecast.run.logs.JsonFormatter``: one JSON object per line on stderr. A flow run started by a
worker gets it from ``flows/logging.yml`` through ``PREFECT_LOGGING_SETTINGS_PATH`` (both set in
prefect.yaml's ECS job variables), so Prefect's own first lines are JSON too; ``use_json_logs``
does the same in a process whose logging Prefect has already set up (``forecast run``, the flow
itself when the settings path was not given).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from forecast.run.logs import JsonFormatter

if TYPE_CHECKING:  # the CLI imports this module for every command: keep it light
    from forecast.run.metrics import MetricContext
    from forecast.run.reports import LatencyReport, RunStatus

LOGGING_CONFIG = Path(__file__).with_name("logging.yml")
"""Prefect's logging.yml (3.8.8) with the console and debug handlers writing JSON lines."""

LOG_FORMAT_VARIABLE = "FORECAST_LOG_FORMAT"


def metric_context() -> MetricContext:
    """Return the namespace and dimensions of the current run (from the deployment's env)."""
    from prefect.runtime import deployment, flow_run

    from forecast.run.metrics import ENVIRONMENT, NAMESPACE, NO_DEPLOYMENT, MetricContext

    try:
        deployment_name = deployment.name  # an API read when the run has a deployment
    except Exception as exc:  # the metrics of a failing run must still go out: say why, go on
        logging.getLogger(__name__).warning(
            "deployment name unavailable for the metrics (%s)", type(exc).__name__
        )
        deployment_name = "unknown"
    return MetricContext(
        namespace=os.environ.get("FORECAST_METRIC_NAMESPACE") or NAMESPACE,
        environment=os.environ.get("FORECAST_ENVIRONMENT") or ENVIRONMENT,
        flow=flow_run.flow_name or "forecast-pipeline",
        deployment=deployment_name or NO_DEPLOYMENT,
    )


EMF_VARIABLE = "FORECAST_EMF"


def run_metric_lines(status: RunStatus, latency: LatencyReport | None = None) -> list[str]:
    """The run's EMF documents, one JSON line each."""
    from forecast.run.metrics import emf_lines

    return emf_lines(status, metric_context(), latency)


def emit_metric_lines(lines: list[str]) -> None:
    """Write EMF lines to stdout when ``FORECAST_EMF=stdout`` (where CloudWatch reads them: not
    a log record, each line must be the JSON document alone, without a logger's prefix)."""
    if os.environ.get(EMF_VARIABLE, "").strip().lower() != "stdout":
        return
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    sys.stdout.flush()


def emit_run_metrics(status: RunStatus, latency: LatencyReport | None = None) -> list[str]:
    """Build the run's EMF lines and emit them (``emit_metric_lines``); return them."""
    lines = run_metric_lines(status, latency)
    emit_metric_lines(lines)
    return lines


DEBUG_VARIABLE = "FORECAST_DEBUG"


class _WithoutTraceback(logging.Formatter):
    """A console formatter that writes a record's message without its traceback."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self._inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return self._inner.format(record)
        bare = logging.makeLogRecord(record.__dict__)
        bare.exc_info = bare.exc_text = bare.stack_info = None
        return self._inner.format(bare)


@contextmanager
def quiet_tracebacks() -> Iterator[None]:
    """Keep tracebacks off the terminal while a command runs, unless ``FORECAST_DEBUG=1``.

    A failing task logs its exception with its traceback (Prefect's task engine, pymongo's
    retries): on a terminal that was hundreds of lines before the command's one-line reason.
    The console handlers write each record's message only; the records themselves are untouched,
    so the run's logs in the Prefect API (and ``FORECAST_DEBUG=1`` on the terminal) keep them.
    """
    if os.environ.get(DEBUG_VARIABLE) or "prefect.logging.handlers" not in sys.modules:
        yield
        return
    swapped = []
    for handler in _console_handlers():
        if isinstance(handler.formatter, JsonFormatter):
            continue  # JSON lines go to a log shipper: the traceback is a field, not a flood
        swapped.append((handler, handler.formatter))
        handler.setFormatter(_WithoutTraceback(handler.formatter))
    try:
        yield
    finally:
        for handler, formatter in swapped:
            handler.setFormatter(formatter)  # type: ignore[arg-type]


def _console_handlers() -> list[logging.Handler]:
    """The handlers that write to the terminal (Prefect's console handlers, JSON or not)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]  # fmt: skip
    found = []
    for logger in loggers:
        for handler in logger.handlers:
            console = isinstance(handler, PrefectConsoleHandler) or (
                type(handler) is logging.StreamHandler
                and handler.stream in (sys.stderr, sys.stdout)
            )
            if console and handler not in found:
                found.append(handler)
    return found


def json_logs_requested() -> bool:
    """True when ``FORECAST_LOG_FORMAT=json``."""
    return os.environ.get(LOG_FORMAT_VARIABLE, "").strip().lower() == "json"


def use_json_logs() -> int:
    """With ``FORECAST_LOG_FORMAT=json``, make every console handler write JSON lines.

    Sets ``PREFECT_LOGGING_SETTINGS_PATH`` to ``flows/logging.yml`` unless given (a Prefect
    imported later, or a child process, configures itself with it) and replaces the console
    handlers Prefect has already installed by plain stream handlers on the same stream with
    ``JsonFormatter`` (Prefect's console handler renders through rich, which may add colour
    codes on a terminal). Idempotent; returns how many handlers were replaced.
    """
    if not json_logs_requested():
        return 0
    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(LOGGING_CONFIG))
    if "prefect.logging.handlers" not in sys.modules:
        return 0  # Prefect not imported yet: it will read the settings path
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]  # fmt: skip
    replaced = 0
    for logger in loggers:
        for handler in list(logger.handlers):
            if isinstance(handler, PrefectConsoleHandler):
                logger.removeHandler(handler)
                logger.addHandler(_json_handler(handler))
                replaced += 1
    return replaced


def _json_handler(previous: logging.StreamHandler) -> logging.Handler:  # type: ignore[type-arg]
    handler = logging.StreamHandler(previous.stream)
    handler.setLevel(previous.level)
    for log_filter in previous.filters:
        handler.addFilter(log_filter)
    handler.setFormatter(JsonFormatter())
    return handler
