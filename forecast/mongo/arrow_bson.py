"""Arrow struct rows encoded as BSON documents, column by column.

``to_pylist`` followed by ``bson.encode`` costs about 100 us per weather document (building
Python dicts, tz-aware datetimes and floats for every field is most of it); the load would spend
a third of its time there. Here every field is encoded for all rows at once: fixed-size values
through numpy byte views, strings and nested documents through Arrow's binary concatenation
kernels, so a document costs a few microseconds and the bytes are what ``bson.encode`` writes
for the same row (tests compare them byte for byte).

Type mapping (as pymongo stores the same Python values): float -> double (0x01), string ->
string (0x02), struct -> embedded document (0x03), list -> array (0x04), bool -> boolean
(0x08), timestamp -> UTC datetime in ms (0x09), null -> null (0x0A), 8-32-bit int -> int32
(0x10), 64-bit int -> int64 (0x12; pymongo would write a small Python int as int32: the schema
validators accept both for 64-bit fields). Pure numpy/pyarrow, no driver import.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_DOUBLE, _STRING, _DOCUMENT, _ARRAY, _BOOL, _DATETIME, _NULL, _INT32, _INT64 = (
    b"\x01", b"\x02", b"\x03", b"\x04", b"\x08", b"\x09", b"\x0a", b"\x10", b"\x12",
)  # fmt: skip


def _fixed(values: np.ndarray, width: int) -> pa.Array:
    """Return each row's little-endian bytes as a binary array."""
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), width)
    fixed = pa.Array.from_buffers(
        pa.binary(width), len(values), [None, pa.py_buffer(raw.tobytes())]
    )
    return fixed.cast(pa.binary())


def _cstring(name: str) -> bytes:
    encoded = name.encode()
    if b"\x00" in encoded:
        raise ValueError(f"a BSON key cannot hold a NUL byte: {name!r}")
    return encoded + b"\x00"


def _join(*parts: pa.Array | bytes) -> pa.Array:
    """Concatenate binary arrays and constant byte strings row by row."""
    arrays = [pa.scalar(p, pa.binary()) if isinstance(p, bytes) else p for p in parts]
    return pc.binary_join_element_wise(*arrays, b"")


def _document(body: pa.Array) -> pa.Array:
    """Wrap element bytes into documents: int32 total length, the elements, a NUL."""
    lengths = pc.add(pc.binary_length(body), 5).to_numpy(zero_copy_only=False).astype("<i4")
    return _join(_fixed(lengths, 4), body, b"\x00")


def _value(values: pa.Array) -> tuple[pa.Array, bytes]:
    """Return (value bytes per row, BSON type byte) of a non-null column."""
    kind = values.type
    if pa.types.is_floating(kind):
        numbers = values.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False)
        return _fixed(numbers.astype("<f8"), 8), _DOUBLE
    if pa.types.is_boolean(kind):
        flags = values.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        return _fixed(flags, 1), _BOOL
    if pa.types.is_timestamp(kind):
        ms = values.cast(pa.timestamp("ms", tz=kind.tz)).cast(pa.int64()).fill_null(0)
        return _fixed(ms.to_numpy(zero_copy_only=False).astype("<i8"), 8), _DATETIME
    if pa.types.is_integer(kind):
        big = kind.bit_width == 64
        numbers = (
            values.cast(pa.int64() if big else pa.int32())
            .fill_null(0)
            .to_numpy(zero_copy_only=False)
        )
        return _fixed(
            numbers.astype("<i8" if big else "<i4"), 8 if big else 4
        ), _INT64 if big else _INT32
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = values.cast(pa.binary()).fill_null(b"")
        lengths = pc.add(pc.binary_length(text), 1).to_numpy(zero_copy_only=False).astype("<i4")
        return _join(_fixed(lengths, 4), text, b"\x00"), _STRING
    if pa.types.is_struct(kind):
        return _document(_elements(values)), _DOCUMENT
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _document(_array_elements(values)), _ARRAY
    raise TypeError(f"no BSON encoding is declared for the Arrow type {kind}")


def _element(name: str, values: pa.Array) -> pa.Array:
    """Return each row's element ``name: value`` (a null value becomes a BSON null)."""
    key = _cstring(name)
    if pa.types.is_null(values.type):
        return pa.array([_NULL + key] * len(values), pa.binary())
    encoded, type_byte = _value(values)
    present = _join(type_byte + key, encoded)
    if not values.null_count:
        return present
    return pc.if_else(pc.is_valid(values), present, pa.scalar(_NULL + key, pa.binary()))


def _elements(values: pa.StructArray) -> pa.Array:
    """Return the concatenated elements of every field of a struct, per row."""
    kind = values.type
    if kind.num_fields == 0:
        return pa.array([b""] * len(values), pa.binary())
    parts = [_element(kind.field(i).name, values.field(i)) for i in range(kind.num_fields)]
    return _join(*parts)


def _array_elements(values: pa.Array) -> pa.Array:
    """Return the elements of each list as a BSON array body (keys "0", "1", ...)."""
    flat = pc.list_flatten(values)
    if not len(flat):
        return pa.array([b""] * len(values), pa.binary())
    parents = np.asarray(pc.list_parent_indices(values)).astype(np.int64)
    offsets = np.asarray(values.offsets)[:-1].astype(np.int64) - int(np.asarray(values.offsets)[0])
    index = np.arange(len(flat), dtype=np.int64) - offsets[parents]
    keys = pc.binary_join_element_wise(
        pa.array(index).cast(pa.string()).cast(pa.binary()), pa.scalar(b"\x00"), b""
    )
    encoded, type_byte = _value(flat)
    elements = _join(type_byte, keys, encoded)
    if flat.null_count:
        elements = pc.if_else(pc.is_valid(flat), elements, _join(_NULL, keys))
    lists = pa.ListArray.from_arrays(
        pa.array(np.asarray(values.offsets) - np.asarray(values.offsets)[0], pa.int32()), elements
    )
    return pc.fill_null(pc.binary_join(lists, b""), b"")


def encode_rows(values: pa.StructArray) -> list[bytes]:
    """Return each row of a struct array as one BSON document (``bytes``).

    A null row is encoded as an empty document.
    """
    return _document(_elements(values)).to_pylist()
