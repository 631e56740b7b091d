"""Resource limits a raw file must respect before its parser spends memory on it.

The figures bound what one bad or hostile landing file can cost a worker: its size, the size
an ``.xlsx`` (a zip archive) expands to, and the rows of one day. Each check fails the file with
a ``SourceFormatError`` that names the limit and the figure found.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass

from forecast.errors import SourceFormatError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Resource limits for parsing one raw file.

    Attributes:
        max_file_bytes: Size of the raw file itself.
        max_uncompressed_bytes: Sum of the member sizes of a zip container (``.xlsx``), read
            from the zip directory before anything is decompressed (zip-bomb guard).
        max_compression_ratio: Uncompressed / compressed size of any one zip member.
        max_rows_per_sheet: Rows below the header of one day (a worksheet or a CSV export),
            empty rows included.
    """

    max_file_bytes: int = 50 * MIB
    max_uncompressed_bytes: int = 200 * MIB
    max_compression_ratio: float = 200.0
    max_rows_per_sheet: int = 20_000


DEFAULT_LIMITS = Limits()


def _figure(size: int) -> str:
    return f"{size} bytes ({size / MIB:.1f} MiB)" if size >= MIB else f"{size} bytes"


def check_file_size(file: str, content: bytes, limits: Limits) -> None:
    """Refuse a file larger than ``limits.max_file_bytes``.

    Raises:
        SourceFormatError: the file is over the limit (names the limit and the size).
    """
    check_size(file, len(content), limits)


def check_size(file: str, size: int, limits: Limits) -> None:
    """Refuse a file of ``size`` bytes when that is over ``limits.max_file_bytes``.

    Streaming parsers call it with the object's declared size, before opening it.

    Raises:
        SourceFormatError: the file is over the limit (names the limit and the size).
    """
    if size > limits.max_file_bytes:
        raise SourceFormatError(
            f"file is {_figure(size)}, over the limit "
            f"max_file_bytes = {_figure(limits.max_file_bytes)}",
            file=file,
        )


def check_archive(archive: zipfile.ZipFile, file: str, limits: Limits) -> None:
    """Refuse a zip whose directory declares too much data or a too-well-compressed member.

    Only the central directory is read: nothing is decompressed. The declared sizes are what
    a well-behaved reader trusts; they are also what a zip bomb inflates.

    Raises:
        SourceFormatError: a limit is exceeded (names the limit, the member and the figure).
    """
    members = archive.infolist()
    total = sum(info.file_size for info in members)
    if total > limits.max_uncompressed_bytes:
        raise SourceFormatError(
            f"archive expands to {_figure(total)}, over the limit "
            f"max_uncompressed_bytes = {_figure(limits.max_uncompressed_bytes)}",
            file=file,
        )
    for info in members:
        if info.file_size == 0:
            continue
        ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
        if ratio > limits.max_compression_ratio:
            raise SourceFormatError(
                f"archive member {info.filename!r} has compression ratio {ratio:.0f} "
                f"({info.file_size} / {info.compress_size} bytes), over the limit "
                f"max_compression_ratio = {limits.max_compression_ratio:g}",
                file=file,
            )


def check_rows(rows: int, file: str, sheet: str, limits: Limits) -> None:
    """Refuse a day (sheet or CSV export) with more than ``limits.max_rows_per_sheet`` rows.

    Raises:
        SourceFormatError: the sheet is over the limit (names the limit and the row count).
    """
    if rows > limits.max_rows_per_sheet:
        raise SourceFormatError(
            f"sheet has {rows} rows below the header, over the limit "
            f"max_rows_per_sheet = {limits.max_rows_per_sheet}",
            file=file,
            sheet=sheet,
        )
