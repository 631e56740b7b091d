"""The $jsonSchema validators are generated from the canonical schema (pure: no server)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from forecast import schema
from forecast.mongo import gold, validator
from forecast.mongo.plan import document_ids
from forecast.schema import MEASUREMENTS, STATIONS, Measurement
from forecast.sources.registry import NETWORKS


def test_every_measurement_has_its_canonical_unit_and_a_nullable_double_value():
    measurements = validator.measurement_schema()["properties"]["measurements"]
    assert measurements["additionalProperties"] is False
    assert list(measurements["properties"]) == [m.key for m in MEASUREMENTS]
    for m in MEASUREMENTS:
        spec = measurements["properties"][m.key]
        assert spec["properties"]["unit"] == {"bsonType": "string", "enum": [m.unit]}
        assert spec["properties"]["value"] == {"bsonType": ["double", "null"]}
        assert spec["required"] == ["value", "unit"]
        assert spec["additionalProperties"] is False


def test_a_measurement_added_to_the_canonical_schema_appears_in_both_validators(monkeypatch):
    ozone = Measurement("ozone", "ug/m3", "ozone concentration")
    monkeypatch.setattr(schema, "MEASUREMENTS", (*MEASUREMENTS, ozone))
    monkeypatch.setattr(
        schema, "VALIDATED", schema.VALIDATED.append(pa.field("ozone", pa.float64()))
    )
    spec = validator.measurement_schema()["properties"]["measurements"]["properties"]["ozone"]
    assert spec["properties"]["unit"]["enum"] == ["ug/m3"]
    assert spec["properties"]["value"]["bsonType"] == ["double", "null"]
    listed = validator.station_schema()["properties"]["measurements"]["items"]["enum"]
    assert listed[-1] == "ozone"


def test_a_changed_unit_changes_the_validator(monkeypatch):
    before = validator.measurement_schema()
    changed = tuple(
        Measurement(m.key, "degF", m.description) if m.key == "temperature" else m
        for m in MEASUREMENTS
    )
    monkeypatch.setattr(schema, "MEASUREMENTS", changed)
    after = validator.measurement_schema()
    assert after != before
    temperature = after["properties"]["measurements"]["properties"]["temperature"]
    assert temperature["properties"]["unit"]["enum"] == ["degF"]


@pytest.mark.parametrize(
    ("arrow_type", "bson"),
    [
        (pa.float64(), ["double"]),
        (pa.float32(), ["double"]),
        (pa.int32(), ["int"]),
        (pa.int16(), ["int"]),
        (pa.int64(), ["int", "long"]),  # pymongo writes a small Python int as int32
        (pa.string(), ["string"]),
        (pa.large_string(), ["string"]),
        (pa.bool_(), ["bool"]),
        (pa.timestamp("ms", tz="UTC"), ["date"]),
        (pa.date32(), ["date"]),
        (pa.list_(pa.string()), ["array"]),
        (pa.struct([("a", pa.int32())]), ["object"]),
        (pa.binary(), ["binData"]),
    ],
)
def test_bson_type_of_arrow_types(arrow_type, bson):
    assert validator._bson_type(arrow_type) == bson


def test_an_arrow_type_without_bson_counterpart_is_refused():
    with pytest.raises(TypeError, match="decimal"):
        validator._bson_type(pa.decimal128(5, 2))


def test_station_schema_requires_exactly_the_non_nullable_station_fields():
    spec = validator.station_schema()
    renamed = {"station_id": "_id"}
    stored = [f for f in STATIONS if f.name not in ("latitude", "longitude")]
    assert spec["required"] == [
        *(renamed.get(f.name, f.name) for f in stored if not f.nullable),
        "location_geo",
    ]
    for field in stored:
        types = spec["properties"][renamed.get(field.name, field.name)]["bsonType"]
        assert ("null" in types) is field.nullable
    assert "latitude" not in spec["properties"] and "longitude" not in spec["properties"]
    assert spec["properties"]["network"]["enum"] == list(NETWORKS)
    point = spec["properties"]["location_geo"]
    assert point["properties"]["coordinates"] == {
        "bsonType": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": {"bsonType": "double"},
    }


def test_a_nullable_station_field_added_to_the_canonical_schema_is_optional(monkeypatch):
    monkeypatch.setattr(schema, "STATIONS", STATIONS.append(pa.field("operator", pa.string())))
    spec = validator.station_schema()
    assert spec["properties"]["operator"] == {"bsonType": ["string", "null"]}
    assert "operator" not in spec["required"]
    embedded = validator.measurement_schema()["properties"]["station"]
    assert embedded["properties"]["operator"] == {"bsonType": ["string", "null"]}


def test_the_embedded_station_is_the_station_without_its_measurement_list():
    embedded = validator.measurement_schema()["properties"]["station"]
    assert {"id", "network", "location_geo"} <= set(embedded["required"])
    assert "measurements" not in embedded["properties"]
    assert "_id" not in embedded["properties"]
    assert embedded["properties"]["network"]["enum"] == list(NETWORKS)


def test_top_level_fields_and_types():
    spec = validator.measurement_schema()
    assert spec["required"] == [
        "_id",
        "station",
        "timestamp",
        "measurements",
        "data_quality",
        "metadata",
    ]
    assert spec["properties"]["timestamp"] == {"bsonType": "date"}
    quality = spec["properties"]["data_quality"]
    assert quality["properties"]["score"] == {"bsonType": "double", "minimum": 0, "maximum": 100}
    assert quality["properties"]["flags"] == {"bsonType": "array", "items": {"bsonType": "string"}}
    assert quality["properties"]["rules"] == {"bsonType": "array", "items": {"bsonType": "string"}}
    metadata = spec["properties"]["metadata"]
    assert metadata["properties"]["schema_version"]["bsonType"] == "int"
    assert set(metadata["required"]) == {
        "source",
        "raw_key",
        "raw_sha256",
        "schema_version",
        "run_id",
        "ingested_at",
    }
    assert metadata["properties"]["row"] == {"bsonType": ["int", "null"]}


def test_the_id_pattern_matches_the_ids_the_document_builder_writes():
    ids = document_ids(
        pa.array(["07015", "ILAMAD25"]),
        pa.array(
            [datetime(2024, 10, 5, 4, tzinfo=UTC), datetime(2024, 10, 5, 20, 19, 7, tzinfo=UTC)],
            schema.TIMESTAMP_TYPE,
        ),
    ).to_pylist()
    assert ids == ["07015:2024-10-05T04:00:00.000Z", "ILAMAD25:2024-10-05T20:19:07.000Z"]
    pattern = re.compile(validator.ID_PATTERN)
    assert all(pattern.search(i) for i in ids)
    assert not pattern.search("07015:2024-10-05T04:00:00Z")
    assert not pattern.search("2024-10-05T04:00:00.000Z")


def test_validators_use_no_keyword_mongod_refuses():
    refused = {"$ref", "$schema", "default", "definitions", "format", "id", "integer"}

    def keywords(spec: object) -> set[str]:
        if isinstance(spec, dict):
            found = set(spec)
            for key, value in spec.items():
                if key == "properties":
                    found |= set().union(*(keywords(v) for v in value.values()))
                else:
                    found |= keywords(value)
            return found
        if isinstance(spec, list):
            return set().union(set(), *(keywords(v) for v in spec))
        return {spec} if spec == "integer" else set()

    for spec in (validator.measurement_schema(), validator.station_schema()):
        assert not keywords(spec) & refused


# --- gold: the station-days a validated table touches (pure pyarrow) ---


def test_touched_days_are_distinct_sorted_utc_dates():
    table = pa.table(
        {
            "station_id": ["B", "A", "A", "A", "B"],
            "timestamp": pa.array(
                [
                    datetime(2024, 10, 5, 23, 59, tzinfo=UTC),
                    datetime(2024, 10, 6, 0, 0, tzinfo=UTC),
                    datetime(2024, 10, 5, 23, 59, 59, 999000, tzinfo=UTC),
                    datetime(2024, 10, 5, 1, tzinfo=UTC),
                    datetime(2024, 10, 5, 0, 0, tzinfo=UTC),
                ],
                schema.TIMESTAMP_TYPE,
            ),
        }
    )
    assert gold.touched_days(table) == [
        ("A", date(2024, 10, 5)),
        ("A", date(2024, 10, 6)),
        ("B", date(2024, 10, 5)),
    ]


def test_touched_days_use_the_utc_date_whatever_the_column_time_zone():
    paris = pa.array(
        [datetime(2024, 10, 5, 23, 30, tzinfo=UTC)], pa.timestamp("ms", tz="Europe/Paris")
    )
    table = pa.table({"station_id": ["A"], "timestamp": paris})
    assert gold.touched_days(table) == [("A", date(2024, 10, 5))]


def test_touched_days_of_an_empty_table_is_empty():
    assert gold.touched_days(schema.VALIDATED.empty_table()) == []


def test_consecutive_days_become_one_range():
    day = lambda d: datetime(2024, 10, d, tzinfo=UTC)  # noqa: E731
    assert gold._day_runs([day(6), day(5), day(8)]) == [(day(5), day(7)), (day(8), day(9))]
    assert gold._day_runs([]) == []
