"""The pipeline's error hierarchy: terminal errors name the place, transient errors retry."""

from __future__ import annotations


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
        where = [f"file {file!r}"]
        if sheet is not None:
            where.append(f"sheet {sheet!r}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}")


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
