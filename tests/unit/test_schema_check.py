"""The $jsonSchema evaluator on Arrow columns: each keyword, nulls, absent fields, reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from forecast.mongo.schema_check import (
    UnsupportedSchema,
    check_documents,
    json_schema_of,
    require_supported,
)


def rows(*documents: dict) -> pa.StructArray:
    return pa.array(list(documents))


def failed(schema: dict, *documents: dict) -> list[str | None]:
    return check_documents(schema, rows(*documents)).reasons


def test_bson_types_of_arrow_values_with_null_allowed_or_not():
    schema = {"properties": {"v": {"bsonType": ["double", "null"]}, "s": {"bsonType": "string"}}}
    assert failed(schema, {"v": 1.5, "s": "a"}, {"v": None, "s": "b"}, {"v": 2.0, "s": None}) == [
        None, None, "s: type is not ['string']",
    ]  # fmt: skip


def test_a_64_bit_integer_is_an_int_when_it_fits_and_a_long_otherwise():
    schema = {"properties": {"n": {"bsonType": "int"}}}
    assert failed(schema, {"n": 5}, {"n": 2**40}) == [None, "n: type is not ['int']"]
    assert failed({"properties": {"n": {"bsonType": "number"}}}, {"n": 2**40}) == [None]


def test_dates_booleans_arrays_and_objects():
    schema = {"properties": {"t": {"bsonType": "date"}, "b": {"bsonType": "bool"},
                             "a": {"bsonType": "array"}, "o": {"bsonType": "object"}}}  # fmt: skip
    good = {"t": datetime(2024, 10, 5, tzinfo=UTC), "b": True, "a": [1], "o": {"x": 1}}
    assert failed(schema, good) == [None]
    assert failed({"properties": {"t": {"bsonType": "string"}}}, good) == [
        "t: type is not ['string']"
    ]


def test_enum_with_and_without_null():
    schema = {"properties": {"u": {"enum": ["degC"]}, "w": {"enum": ["a", None]}}}
    assert failed(schema, {"u": "degC", "w": None}, {"u": "degF", "w": "a"}, {"u": "degC", "w": "b"}) == [
        None, "u: value is not one of ['degC']", "w: value is not one of ['a', None]",
    ]  # fmt: skip


def test_required_is_about_the_key_not_its_value():
    schema = {"required": ["a", "b"]}
    assert failed(schema, {"a": 1, "b": None}) == [None]
    assert failed(schema, {"a": 1}) == ["b: required but absent"]


def test_additional_properties_false_and_as_a_schema():
    closed = {"properties": {"a": {}}, "additionalProperties": False}
    assert failed(closed, {"a": 1, "b": 2}) == ["b: field not allowed"]
    typed = {"properties": {"a": {}}, "additionalProperties": {"bsonType": "string"}}
    assert failed(typed, {"a": 1, "b": 2}) == ["b: type is not ['string']"]


def test_pattern_minimum_maximum_and_their_exclusive_forms():
    schema = {"properties": {
        "id": {"pattern": r"^[^:]+:\d{4}$"},
        "score": {"minimum": 0, "maximum": 100},
        "p": {"minimum": 0, "exclusiveMinimum": True},
    }}  # fmt: skip
    assert failed(schema, {"id": "x:2024", "score": 100.0, "p": 0.1}) == [None]
    assert failed(schema, {"id": "x2024", "score": 50.0, "p": 1.0}) == [
        r"id: does not match /^[^:]+:\d{4}$/"
    ]
    assert failed(schema, {"id": "x:2024", "score": 101.0, "p": 1.0}) == [
        "score: above the maximum 100"
    ]
    assert failed(schema, {"id": "x:2024", "score": 1.0, "p": 0.0}) == ["p: below the minimum 0"]


def test_items_and_array_lengths_report_the_document_of_the_bad_element():
    schema = {"properties": {"c": {"minItems": 2, "maxItems": 2, "items": {"bsonType": "double"}}}}
    result = failed(schema, {"c": [1.0, 2.0]}, {"c": [1.0]}, {"c": [1.0, 2.0, 3.0]})
    assert result == [None, "c: fewer than 2 items", "c: more than 2 items"]
    strings = {"properties": {"r": {"items": {"bsonType": "string"}}}}
    assert failed(strings, {"r": ["a"]}, {"r": []}) == [None, None]
    assert failed(strings, {"r": [1]}, {"r": [2, 3]}, {"r": []}) == [
        "r[]: type is not ['string']", "r[]: type is not ['string']", None,
    ]  # fmt: skip


def test_nested_documents_and_a_null_parent():
    schema = {
        "properties": {"m": {"bsonType": "object", "properties": {"t": {"bsonType": "double"}}}}
    }
    assert failed(schema, {"m": {"t": 1.0}}, {"m": None}) == [None, "m: type is not ['object']"]
    assert failed(schema, {"m": {"t": "x"}}, {"m": None}) == [
        "m.t: type is not ['double']", "m: type is not ['object']",
    ]  # fmt: skip


def test_the_first_broken_rule_is_the_reason_and_counts_are_per_document():
    schema = {"required": ["a"], "properties": {"b": {"bsonType": "string"}}}
    verdict = check_documents(schema, rows({"a": 1, "b": "y"}, {"a": None, "b": "x"}))
    assert verdict.count == 0  # a null value is present (Arrow rows share one struct type)
    both = check_documents(schema, rows({"b": 1}, {"b": 2}))
    assert both.count == 2 and both.reasons == ["a: required but absent"] * 2


@pytest.mark.parametrize("schema", [
    {"oneOf": [{}]}, {"properties": {"a": {"$ref": "#"}}}, {"items": [{}]}, "not an object",
])  # fmt: skip
def test_keywords_that_are_not_evaluated_are_refused_up_front(schema):
    with pytest.raises(UnsupportedSchema):
        require_supported(schema)


def test_a_validator_with_query_operators_besides_json_schema_is_not_evaluated():
    assert json_schema_of(None) is None
    assert json_schema_of({"$jsonSchema": {"required": ["a"]}}) == {"required": ["a"]}
    with pytest.raises(UnsupportedSchema):
        json_schema_of({"$jsonSchema": {}, "temperature": {"$gt": 0}})
