"""The pipeline's error hierarchy: terminal errors name the place, transient errors retry."""

from __future__ import annotations

import re


class ForecastError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class SourceFormatError(ForecastError):
    """A raw file does not have the structure its source promises (terminal for that file)."""

    def __init__(
        self,
        message: str,
        *,
        file: str,
        sheet: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.sheet, self.row, self.field = file, sheet, row, field
        self.reason = message
        where = [f"file {file!r}"]
        if sheet is not None:
            where.append(f"sheet {sheet!r}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")

    def at_row(self, row: int) -> SourceFormatError:
        """Return the same error placed at ``row`` (a record's line in its object)."""
        return SourceFormatError(
            self.reason, file=self.file, sheet=self.sheet, row=row, field=self.field
        )


class DataContractError(ForecastError):
    """A table does not satisfy the canonical schema or a run-level contract (terminal)."""


class ConfigurationError(ForecastError):
    """Configuration is missing or wrong; the message says how to fix it (terminal)."""


class RejectionThresholdExceeded(ForecastError):
    """Station-days were rejected above the run's threshold: held back, not loaded (terminal).

    ``status`` is the run's status (everything else was loaded and reported) so a caller can
    still show it.
    """

    def __init__(self, message: str, status: object = None) -> None:
        super().__init__(message)
        self.status = status


class ServerError(ForecastError):
    """An external server refused an operation for a reason retrying will not fix (terminal).

    The message names the operation, the server's code and its message, never the server's
    internal reply fields (cluster times, signatures, the documents sent).
    """


class TransientError(ForecastError):
    """A temporary failure of an external system; the operation may be retried as is."""


def is_transient(exc: BaseException) -> bool:
    """Return True when ``exc`` (or an exception it was raised from) is a TransientError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TransientError):
            return True
        seen = seen.__cause__
    return False


class RunFailed(ForecastError):
    """A run failed in one of its stages; ``status`` is the run status it published first."""

    def __init__(self, message: str, status: object = None, stage: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.stage = stage


_INTERNALS = (", full error:", "\nTraceback")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s]*@")


def one_line(exc: BaseException) -> str:
    """Return ``Type: message`` of an exception on one line, without a driver's internal reply
    (pymongo appends ``full error: {...}`` with cluster times and signatures) or URI
    credentials."""
    text = str(exc)
    for marker in _INTERNALS:
        text = text.split(marker, 1)[0]
    text = _USERINFO.sub(r"\1***@", " ".join(text.split()))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
