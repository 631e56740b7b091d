"""Arrow rows to BSON, column by column: byte for byte what bson.encode writes for the same row."""

from __future__ import annotations

from datetime import UTC, datetime

import bson
import pyarrow as pa
import pytest
from bson.codec_options import CodecOptions

from forecast.mongo.arrow_bson import encode_rows

T = datetime(2024, 10, 5, 12, 34, 56, 789000, tzinfo=UTC)


def same_as_pymongo(values: pa.StructArray) -> None:
    assert encode_rows(values) == [bson.encode(row) for row in values.to_pylist()]


def test_scalars_of_every_type_with_nulls():
    same_as_pymongo(pa.array([
        {"d": 1.5, "s": "Armentières ©", "b": True, "t": T, "i": 7, "n": None},
        {"d": None, "s": None, "b": False, "t": None, "i": None, "n": None},
        {"d": -0.0, "s": "", "b": None, "t": T, "i": -(2**31), "n": None},
    ], pa.struct([("d", pa.float64()), ("s", pa.string()), ("b", pa.bool_()),
                  ("t", pa.timestamp("ms", tz="UTC")), ("i", pa.int32()), ("n", pa.null())])))  # fmt: skip


def test_sixty_four_bit_integers_are_int64_even_when_small():
    values = pa.array([{"n": 2**61 + 5}, {"n": 3}], pa.struct([("n", pa.int64())]))
    encoded = encode_rows(values)
    assert encoded[0] == bson.encode({"n": bson.Int64(2**61 + 5)})
    assert encoded[1] == bson.encode({"n": bson.Int64(3)})
    assert bson.decode(encoded[1]) == {"n": 3}


def test_nested_documents_lists_and_dotted_keys():
    kind = pa.struct([
        ("_id", pa.string()),
        ("station", pa.struct([("id", pa.string()), ("location_geo", pa.struct([
            ("type", pa.string()), ("coordinates", pa.list_(pa.float64()))]))])),
        ("flags", pa.list_(pa.string())),
        ("metadata.run_id", pa.string()),
    ])  # fmt: skip
    same_as_pymongo(pa.array([
        {"_id": "a:1", "station": {"id": "a", "location_geo": {"type": "Point", "coordinates": [3.1, 50.6]}},
         "flags": ["wind_calm", "dst_ambiguous"], "metadata.run_id": "r"},
        {"_id": "a:2", "station": None, "flags": [], "metadata.run_id": None},
        {"_id": "a:3", "station": {"id": None, "location_geo": None}, "flags": None, "metadata.run_id": "r"},
    ], kind))  # fmt: skip


def test_a_sliced_array_encodes_only_its_rows():
    values = pa.array(
        [{"x": [1.0]}, {"x": [2.0, 3.0]}, {"x": []}], pa.struct([("x", pa.list_(pa.float64()))])
    )
    same_as_pymongo(values.slice(1, 2))


def test_ten_elements_lists_use_decimal_keys():
    values = pa.array(
        [{"r": [str(i) for i in range(12)]}], pa.struct([("r", pa.list_(pa.string()))])
    )
    same_as_pymongo(values)
    assert bson.decode(encode_rows(values)[0], CodecOptions())["r"][11] == "11"


def test_a_key_with_a_nul_byte_is_refused():
    with pytest.raises(ValueError, match="NUL"):
        encode_rows(pa.array([{"a\x00b": 1.0}]))
