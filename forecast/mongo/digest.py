"""Content digests of Arrow rows: a stable 62-bit number per row, computed column by column.

A document's digest identifies what the pipeline wrote into it (every field derived from the
data), so a later load can tell an unchanged document from a changed one by reading one number
instead of the whole document, and a station-day can be summarised by the sum of its documents'
digests. The algorithm is ours and fixed (splitmix64 over the IEEE-754 bits of numbers, blake2b of
each distinct string), so digests stored in MongoDB stay comparable across library versions.

Pure numpy/pyarrow: loops run over columns and over the *distinct* strings of a column, never
over rows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DIGEST_BITS = 61
"""Digests carry 61 bits and are stored with bit 61 set: always in [2**61, 2**62), exact as int64,
and always a BSON long (pymongo would write a small number as a 32-bit int)."""
SUM_MODULUS = 2**31
"""Station-day sums add ``digest % SUM_MODULUS``: exact in int64 for any realistic day."""

_NULL = np.uint64(0x9E3779B97F4A7C15)  # a null (or absent) value
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_LIST_SEPARATOR = "\x1f"


def _splitmix(values: np.ndarray) -> np.ndarray:
    """Return splitmix64's finaliser of each uint64 (a bijective, well-mixed scramble)."""
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * _MIX
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _string_hashes(values: pa.Array) -> np.ndarray:
    """Hash each string through its dictionary: blake2b once per distinct value."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    table = np.array(
        [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
         for s in distinct],
        dtype=np.uint64,
    )  # fmt: skip
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    valid = np.asarray(pc.is_valid(encoded.indices))
    hashes = np.full(len(values), _NULL, dtype=np.uint64)
    if len(table):
        hashes[valid] = table[indices[valid].astype(np.int64)]
    return hashes


def _leaf_hashes(values: pa.Array) -> np.ndarray:
    """Return one uint64 per row of a non-nested column (nulls hash to a constant)."""
    kind = values.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _string_hashes(pc.binary_join(values.cast(pa.list_(pa.string())), _LIST_SEPARATOR))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _string_hashes(values)
    if pa.types.is_null(kind):
        return np.full(len(values), _NULL, dtype=np.uint64)
    if pa.types.is_floating(kind):
        numbers = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        bits = np.where(np.isnan(numbers), 0.0, numbers + 0.0).view(np.uint64)  # -0.0 -> 0.0
    elif pa.types.is_timestamp(kind):
        bits = values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    else:  # integers, booleans
        bits = values.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    hashes = _splitmix(bits.astype(np.uint64, copy=False))
    nulls = np.asarray(pc.is_null(values, nan_is_null=True))
    hashes[nulls] = _NULL
    return hashes


def _leaves(values: pa.Array, prefix: str = "") -> list[tuple[str, pa.Array]]:
    """Return (dotted name, column) of every non-struct leaf, in schema order."""
    if not pa.types.is_struct(values.type):
        return [(prefix, values)]
    found = []
    for index in range(values.type.num_fields):
        name = values.type.field(index).name
        child = values.field(index)
        if values.null_count:  # a null struct makes its children null too
            child = pc.if_else(pc.is_valid(values), child, pa.nulls(len(child), child.type))
        found += _leaves(child, f"{prefix}.{name}" if prefix else name)
    return found


def row_digests(values: pa.StructArray) -> pa.Array:
    """Return the content digest of every row of a struct array (int64 in [2**61, 2**62)).

    Two rows have the same digest when every leaf field has the same name and value (floats by
    their bits, ``-0.0`` = ``0.0``, NaN = null; lists by their joined elements). Field names
    are part of the digest, so adding or renaming a field changes it.
    """
    length = len(values)
    digest = np.zeros(length, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name, leaf in _leaves(values):
            label = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
            digest = _splitmix(digest * _MIX + (_leaf_hashes(leaf) ^ np.uint64(label)))
    digest = (digest & np.uint64((1 << DIGEST_BITS) - 1)) | np.uint64(1 << DIGEST_BITS)
    return pa.array(digest.astype(np.int64), pa.int64())


def digest_sum(digests: pa.Array | pa.ChunkedArray | np.ndarray) -> int:
    """Return the order-independent sum of ``digest % SUM_MODULUS`` (the station-day summary)."""
    numbers = (
        np.asarray(digests, dtype=np.int64) if not isinstance(digests, np.ndarray) else digests
    )
    return int(np.sum(numbers % SUM_MODULUS, dtype=np.int64))
