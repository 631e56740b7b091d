"""Generic Arrow helpers every stage uses (whole columns, never rows) and the reports' small
helpers: rates and markdown tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


def rate(part: int, whole: int) -> float:
    """Return part / whole rounded to 6 decimals, 0.0 for an empty whole."""
    return round(part / whole, 6) if whole else 0.0


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Return rows (dicts with the same keys) as a markdown table."""
    if not rows:
        return "_no rows_"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row[h]) for h in header) + " |" for row in rows]
    return "\n".join(lines)


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return ``values`` as one contiguous array (without a copy when it has one chunk)."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def parse_numbers(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return ``text`` parsed as float64 and a mask of cells that are present but not numbers.

    Null and empty strings are missing values (null), not errors.
    """
    text = text.cast(pa.string())
    stripped = pc.utf8_trim_whitespace(text)
    present = pc.and_kleene(pc.is_valid(stripped), pc.not_equal(stripped, ""))
    numeric = pc.match_substring_regex(stripped, _NUMBER)
    ok = pc.fill_null(pc.and_(present, numeric), False)
    bad = pc.fill_null(pc.and_(present, pc.invert(numeric)), False)
    values = pc.if_else(ok, stripped, pa.scalar(None, pa.string())).cast(pa.float64())
    return values, bad


def collect_messages(messages: list[pa.Array], length: int) -> pa.Array:
    """Return a list<string> column: for each row, the non-null entries of ``messages``."""
    list_type = pa.list_(pa.string())
    width = len(messages)
    if width == 0 or all(m.null_count == len(m) for m in messages):
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(length + 1, np.int32)), pa.array([], pa.string())
        ).cast(list_type)
    stacked = pa.concat_arrays([as_array(m).cast(pa.string()) for m in messages])  # column-major
    row_major = (np.arange(width)[None, :] * length + np.arange(length)[:, None]).ravel()
    interleaved = stacked.take(pa.array(row_major))
    valid = interleaved.is_valid().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(valid.reshape(length, width).sum(axis=1))])
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), interleaved.filter(pa.array(valid))
    )


def messages_where(mask: pa.Array, prefix: str, values: pa.Array) -> pa.Array:
    """Return ``prefix + repr-ish value`` where ``mask`` is true, null elsewhere."""
    quoted = pc.binary_join_element_wise(
        pa.scalar("'"), pc.fill_null(values.cast(pa.string()), ""), pa.scalar("'"), ""
    )
    text = pc.binary_join_element_wise(pa.scalar(prefix), quoted, "")
    return pc.if_else(mask, text, pa.scalar(None, pa.string()))


def constant(value: object, length: int, type_: pa.DataType) -> pa.Array:
    """Return an array of ``length`` copies of ``value``."""
    return pa.repeat(pa.scalar(value, type_), length) if length else pa.array([], type_)


def empty_lists(length: int) -> pa.Array:
    """Return a list<string> column of ``length`` empty lists."""
    return pa.ListArray.from_arrays(
        pa.array(np.zeros(length + 1, np.int32)), pa.array([], pa.string())
    )


def flags_where(masks: dict[str, pa.Array], length: int) -> pa.Array:
    """Return a list<string> column holding, per row, the names of the ``masks`` true there."""
    return collect_messages(
        [
            pc.if_else(pc.fill_null(m, False), pa.scalar(name), pa.scalar(None, pa.string()))
            for name, m in masks.items()
        ],
        length,
    )


def concat_lists(*columns: pa.Array) -> pa.Array:
    """Return the row-wise concatenation of list<string> columns of equal length."""
    length = len(columns[0])
    columns = tuple(as_array(c) for c in columns)
    values = pa.concat_arrays([pc.list_flatten(c).cast(pa.string()) for c in columns])
    rows = np.concatenate(
        [pc.list_parent_indices(c).to_numpy(zero_copy_only=False) for c in columns]
    )
    cols = np.concatenate([np.full(len(pc.list_flatten(c)), j) for j, c in enumerate(columns)])
    order = np.lexsort((cols, rows))  # stable: row, then column, then original position
    offsets = np.concatenate([[0], np.cumsum(np.bincount(rows.astype(np.int64), minlength=length))])
    return pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), values.take(pa.array(order))
    )


def has_flag(flags: pa.Array | pa.ChunkedArray, *names: str) -> np.ndarray:
    """Return, per row of a list<string> column, how many of ``names`` it holds."""
    flags = as_array(flags)
    values = pc.list_flatten(flags)
    hits = pc.is_in(values, value_set=pa.array(names, pa.string())).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(flags).to_numpy(zero_copy_only=False)
    return np.bincount(parents[hits].astype(np.int64), minlength=len(flags))
