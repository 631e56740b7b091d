"""Content digests: stable, order-free over rows, sensitive to every field and value."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from forecast.mongo.digest import DIGEST_BITS, digest_sum, row_digests

KIND = pa.struct([
    ("t", pa.timestamp("ms", tz="UTC")), ("v", pa.float64()), ("s", pa.string()),
    ("l", pa.list_(pa.string())), ("m", pa.struct([("x", pa.float64())])),
])  # fmt: skip
T = datetime(2024, 10, 5, tzinfo=UTC)


def rows(*values: dict) -> pa.StructArray:
    return pa.array(list(values), KIND)


BASE = {"t": T, "v": 1.5, "s": "a", "l": ["w"], "m": {"x": 2.0}}


def test_digests_are_in_the_declared_range_and_deterministic():
    digests = row_digests(rows(BASE, BASE | {"v": 2.5})).to_pylist()
    assert all(2**DIGEST_BITS <= d < 2 ** (DIGEST_BITS + 1) for d in digests)
    assert digests == row_digests(rows(BASE, BASE | {"v": 2.5})).to_pylist()
    # golden value: digests stored in MongoDB must stay comparable across versions of this code
    # (a change here rewrites every document once on the next load)
    assert row_digests(rows(BASE)).to_pylist() == [3517206297176536181]


def test_every_field_and_null_changes_the_digest():
    variants = [BASE, BASE | {"t": datetime(2024, 10, 5, 0, 10, tzinfo=UTC)}, BASE | {"v": 1.6},
                BASE | {"v": None}, BASE | {"s": "b"}, BASE | {"s": None}, BASE | {"l": []},
                BASE | {"l": ["w", "x"]}, BASE | {"m": {"x": 2.5}}, BASE | {"m": None}]  # fmt: skip
    digests = row_digests(rows(*variants)).to_pylist()
    assert len(set(digests)) == len(variants)


def test_negative_zero_equals_zero_and_a_renamed_field_differs():
    zero = row_digests(rows(BASE | {"v": 0.0}, BASE | {"v": -0.0})).to_pylist()
    assert zero[0] == zero[1]
    renamed = pa.array([{"w": 1.5}], pa.struct([("w", pa.float64())]))
    original = pa.array([{"v": 1.5}], pa.struct([("v", pa.float64())]))
    assert row_digests(renamed).to_pylist() != row_digests(original).to_pylist()


def test_the_sum_does_not_depend_on_order():
    digests = row_digests(rows(BASE, BASE | {"v": 3.0}, BASE | {"s": "c"}))
    assert digest_sum(digests) == digest_sum(digests.take(pa.array([2, 0, 1])))
