"""Structured logs: one JSON object per line, with credentials redacted from every message.

``JsonFormatter`` is a standard-library ``logging.Formatter``. It reads the run context that
Prefect's run loggers put into each record's extra (``flow_run_id``, ``flow_name``,
``task_run_id``, ``task_name``) without importing Prefect, so any logger can use it; records
from outside a run get ``null`` there. ``flows/logging.yml`` installs it on the console handlers
(``FORECAST_LOG_FORMAT=json``, see ``flows/observability.py``).

Redaction is the last line of defence, not the first: the pipeline already writes URIs through
``forecast.mongo.redact`` and tokens as ``token=***``. Whatever else reaches a log line (a
driver's message quoting a URI, a URL with its query) passes through ``redact_text``.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

REDACTED = "***"

# "scheme://<user info>@" (user info up to the last "@" before a "/" or a space: passwords are
# often typed with an unescaped "@"), and "key=value" pairs of URL queries and settings whose
# key names a secret. Over-redacting is the safe failure.
_PATTERNS = (
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@"), rf"\g<1>{REDACTED}@"),
    (
        re.compile(
            r"(?i)\b(token|password|passwd|pwd|secret|api[_-]?key|access[_-]?key|signature)"
            r"(=|:\s*)[^&\s,;'\"]+"
        ),
        rf"\g<1>\g<2>{REDACTED}",
    ),
)

# Prefect's run loggers set these attributes (prefect.logging.loggers); it writes "<unknown>"
# when the flow or task object is not at hand.
_CONTEXT = {"run_id": "flow_run_id", "flow": "flow_name", "task_run_id": "task_run_id",
            "task": "task_name"}  # fmt: skip


def redact_text(text: str) -> str:
    """Return ``text`` with URI credentials and ``secret=value`` pairs replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: timestamp (UTC, ISO 8601), level, logger, run id,
    flow, task run id, task, message (redacted) and, when there is one, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        document: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        for key, attribute in _CONTEXT.items():
            value = getattr(record, attribute, None)
            document[key] = None if value in (None, "<unknown>") else str(value)
        document["message"] = redact_text(record.getMessage())
        if record.exc_info:
            document["exception"] = redact_text(self.formatException(record.exc_info))
        elif record.stack_info:
            document["stack"] = redact_text(self.formatStack(record.stack_info))
        # One line whatever the message holds: json.dumps escapes newlines.
        return json.dumps(document, ensure_ascii=False, default=str)
