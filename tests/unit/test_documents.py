"""The MongoDB write plan built from tiny validated tables (pure: no driver, no I/O)."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from forecast.errors import DataContractError
from forecast.mongo.plan import RunContext, document_ids, nested, write_plan
from forecast.schema import MEASUREMENT_KEYS, STATIONS, UNITS, VALIDATED, conform

RUN = RunContext("run-1", datetime(2024, 10, 8, 6, 30, tzinfo=UTC))
T0 = datetime(2024, 10, 5, 0, 0, tzinfo=UTC)

WU = {
    "station_id": "ILAMAD25",
    "name": "La Madeleine",
    "network": "wunderground",
    "type": "personal",
    "latitude": 50.659,
    "longitude": 3.07,
    "elevation_m": 23.0,
    "timezone": "Europe/Paris",
    "city": "La Madeleine",
    "country": "FR",
    "measurements": ["temperature", "humidity", "precip_rate"],
}
IC = {
    "station_id": "07015",
    "name": "Lille-Lesquin",
    "network": "infoclimat",
    "type": "synop",
    "latitude": 50.57,
    "longitude": 3.0975,
    "elevation_m": 47.0,
    "timezone": "Europe/Paris",
    "license": "CC BY 4.0",
    "measurements": ["temperature", "pressure"],
}


def stations(*rows: dict) -> pa.Table:
    filled = [{field.name: None for field in STATIONS} | row for row in rows]
    return conform(pa.Table.from_pylist(filled, schema=STATIONS), STATIONS)


def wu_row(minute: int, **values) -> dict:
    return {
        "station_id": "ILAMAD25",
        "timestamp": datetime(2024, 10, 5, 0, minute, tzinfo=UTC),
        "source": "wunderground",
        "source_file": "Weather Underground - La Madeleine, FR.xlsx",
        "raw_key": "source=wunderground/ingest_date=2024-10-08/abc-wu.xlsx",
        "raw_sha256": "abc",
        "content_key": "abc",
        "sheet": "051024",
        "row": 3 + minute,
        "temperature": 12.5,
        "humidity": 80.0,
        "precip_rate": 0.0,
        "pressure": 1015.0,  # not in the station's measurements list
    } | values


def ic_row(hour: int, **values) -> dict:
    return {
        "station_id": "07015",
        "timestamp": datetime(2024, 10, 5, hour, tzinfo=UTC),
        "source": "infoclimat",
        "source_file": "infoclimat.json",
        "raw_key": "source=infoclimat/ingest_date=2024-10-08/def-infoclimat.json",
        "raw_sha256": "def",
        "content_key": "def",
        "record_index": hour,
        "temperature": 11.0,
        "pressure": 1016.2,
    } | values


def validated(*rows: dict) -> pa.Table:
    base = {key: None for key in MEASUREMENT_KEYS} | {
        "flags": [],
        "parse_errors": [],
        "unit_errors": [],
        "sheet": None,
        "row": None,
        "record_index": None,
        "quality_score": 100.0,
        "quality_rules": [],
    }
    return conform(pa.Table.from_pylist([base | row for row in rows]), VALIDATED)


def documents(plan) -> list[tuple[str, dict, dict]]:
    return list(
        zip(
            plan.ids.to_pylist(),
            plan.set_fields.to_pylist(),
            plan.insert_fields.to_pylist(),
            strict=True,
        )
    )


def test_document_ids_are_station_and_utc_iso_timestamp_with_milliseconds():
    stamps = pa.array(
        [datetime(2024, 10, 5, 1, 2, 3, 456000, tzinfo=UTC), T0], pa.timestamp("ms", tz="UTC")
    )
    ids = document_ids(pa.array(["ILAMAD25", "07015"]), stamps)
    assert ids.to_pylist() == [
        "ILAMAD25:2024-10-05T01:02:03.456Z",
        "07015:2024-10-05T00:00:00.000Z",
    ]


def test_document_ids_are_the_same_on_every_call():
    stamps = pa.array([T0, T0], pa.timestamp("ms", tz="UTC"))
    first = document_ids(pa.array(["A", "B"]), stamps)
    assert first.equals(document_ids(pa.array(["A", "B"]), stamps))


def test_ids_are_utc_when_the_input_timestamps_carry_another_zone():
    table = validated(wu_row(0)).cast(
        VALIDATED.set(
            VALIDATED.get_field_index("timestamp"),
            pa.field("timestamp", pa.timestamp("ms", tz="Europe/Paris"), nullable=False),
        )
    )
    (plan,) = write_plan(table, stations(WU), RUN)
    assert plan.ids.to_pylist() == ["ILAMAD25:2024-10-05T00:00:00.000Z"]


def test_one_plan_per_station_in_station_order():
    plans = write_plan(validated(wu_row(0), ic_row(1), wu_row(5), ic_row(2)), stations(WU, IC), RUN)
    assert [plan.ids.to_pylist() for plan in plans] == [
        ["07015:2024-10-05T01:00:00.000Z", "07015:2024-10-05T02:00:00.000Z"],
        ["ILAMAD25:2024-10-05T00:00:00.000Z", "ILAMAD25:2024-10-05T00:05:00.000Z"],
    ]
    assert [len(plan) for plan in plans] == [2, 2]


def test_a_long_series_is_cut_into_plans_of_whole_utc_days():
    hours = [ic_row(h) for h in range(24)] + [ic_row(h) | {"timestamp": datetime(2024, 10, 6, h, tzinfo=UTC)}
                                              for h in range(0, 24, 2)]  # fmt: skip
    hours += [ic_row(h) | {"timestamp": datetime(2024, 10, 7, h, tzinfo=UTC)} for h in range(10)]
    plans = write_plan(validated(*reversed(hours)), stations(IC), RUN, max_rows=25)
    days = [sorted({i.split(":", 1)[1][:10] for i in plan.ids.to_pylist()}) for plan in plans]
    assert days == [["2024-10-05"], ["2024-10-06", "2024-10-07"]]  # 24 alone; 12 + 10 fit in 25
    assert [len(plan) for plan in plans] == [24, 22]
    (whole,) = write_plan(validated(*hours), stations(IC), RUN)
    assert sorted(i for plan in plans for i in plan.ids.to_pylist()) == sorted(
        whole.ids.to_pylist()
    )
    rows = [r for plan in plans for r in plan.rows.to_pylist()]
    assert sorted(rows) == list(range(len(hours)))  # every row of the table, once


def test_measurements_are_the_station_list_with_canonical_units():
    (plan,) = write_plan(validated(wu_row(0)), stations(WU), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["measurements"] == {
        "temperature": {"value": 12.5, "unit": UNITS["temperature"]},
        "humidity": {"value": 80.0, "unit": UNITS["humidity"]},
        "precip_rate": {"value": 0.0, "unit": UNITS["precip_rate"]},
    }
    assert (UNITS["temperature"], UNITS["humidity"], UNITS["precip_rate"]) == ("degC", "%", "mm/h")


def test_a_missing_value_of_a_provided_measurement_is_kept_as_none():
    (plan,) = write_plan(validated(wu_row(0, humidity=None)), stations(WU), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["measurements"]["humidity"] == {"value": None, "unit": "%"}


def test_station_location_is_a_geojson_point_longitude_first():
    (plan,) = write_plan(validated(ic_row(0)), stations(IC), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["station"]["location_geo"] == {"type": "Point", "coordinates": [3.0975, 50.57]}
    assert body["station"]["id"] == "07015" and body["station"]["network"] == "infoclimat"


def test_absent_optional_station_fields_are_left_out_of_the_document():
    (plan,) = write_plan(validated(ic_row(0)), stations(IC), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["station"]["license"] == "CC BY 4.0"
    assert {"city", "country", "license_url", "attribution"}.isdisjoint(body["station"])


def test_wunderground_lineage_is_file_sheet_and_row_in_dotted_metadata_keys():
    (plan,) = write_plan(validated(wu_row(4)), stations(WU), RUN)
    (_, body, _), *_ = documents(plan)
    metadata = {k: v for k, v in body.items() if k.startswith("metadata.")}
    assert metadata == {
        "metadata.source": "wunderground",
        "metadata.raw_key": "source=wunderground/ingest_date=2024-10-08/abc-wu.xlsx",
        "metadata.raw_sha256": "abc",
        "metadata.source_file": "Weather Underground - La Madeleine, FR.xlsx",
        "metadata.sheet": "051024",
        "metadata.row": 7,
        "metadata.schema_version": 1,
        "metadata.digest": plan.digests[0].as_py(),
    }


def test_the_digest_covers_the_data_fields_and_not_the_run():
    (first,) = write_plan(validated(wu_row(4)), stations(WU), RUN)
    (again,) = write_plan(validated(wu_row(4)), stations(WU), RunContext("run-2", T0))
    (changed,) = write_plan(validated(wu_row(4, temperature=99.0)), stations(WU), RUN)
    assert first.digests.to_pylist() == again.digests.to_pylist()
    assert first.digests.to_pylist() != changed.digests.to_pylist()
    assert first.set_fields.field("metadata.digest").to_pylist() == first.digests.to_pylist()


def test_infoclimat_lineage_is_file_and_record_index_without_sheet_or_row():
    (plan,) = write_plan(validated(ic_row(3)), stations(IC), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["metadata.source_file"] == "infoclimat.json"
    assert body["metadata.record_index"] == 3
    assert "metadata.sheet" not in body and "metadata.row" not in body


def test_run_id_and_ingestion_time_are_only_written_on_insert():
    (plan,) = write_plan(validated(wu_row(0)), stations(WU), RUN)
    (_, body, first), *_ = documents(plan)
    assert first == {"metadata.run_id": "run-1", "metadata.ingested_at": RUN.ingested_at}
    assert "metadata.run_id" not in body and "metadata.ingested_at" not in body


def test_score_flags_and_fired_rules_are_the_data_quality_field():
    table = validated(
        wu_row(0, quality_score=80.0, flags=["dst_ambiguous"],
               quality_rules=["dew_point_above_temperature"])
    )  # fmt: skip
    (plan,) = write_plan(table, stations(WU), RUN)
    (_, body, _), *_ = documents(plan)
    assert body["data_quality"] == {
        "score": 80.0,
        "flags": ["dst_ambiguous"],
        "rules": ["dew_point_above_temperature"],
    }
    assert body["timestamp"] == T0


def test_a_repeated_id_keeps_only_its_last_entry():
    table = validated(wu_row(0, temperature=1.0), wu_row(5), wu_row(0, temperature=3.0))
    (plan,) = write_plan(table, stations(WU), RUN)
    assert plan.ids.to_pylist() == [
        "ILAMAD25:2024-10-05T00:05:00.000Z",
        "ILAMAD25:2024-10-05T00:00:00.000Z",
    ]
    assert [body["measurements"]["temperature"]["value"] for _, body, _ in documents(plan)] == [
        12.5,
        3.0,
    ]
    assert len(plan.set_fields) == len(plan.insert_fields) == 2


def test_an_observation_of_a_station_without_metadata_is_refused():
    with pytest.raises(DataContractError, match="07015"):
        write_plan(validated(wu_row(0), ic_row(0)), stations(WU), RUN)


def test_slice_keeps_ids_and_bodies_aligned():
    (plan,) = write_plan(validated(ic_row(0), ic_row(1), ic_row(2)), stations(IC), RUN)
    part = plan.slice(1, 5)
    assert part.ids.to_pylist() == [
        "07015:2024-10-05T01:00:00.000Z",
        "07015:2024-10-05T02:00:00.000Z",
    ]
    assert [body["metadata.record_index"] for _, body, _ in documents(part)] == [1, 2]


def test_nested_expands_dotted_keys_into_subdocuments():
    flat = {
        "timestamp": T0,
        "metadata.source": "infoclimat",
        "metadata.record_index": 3,
        "a.b.c": 1,
        "station": {"id": "07015"},
    }
    assert nested(flat) == {
        "timestamp": T0,
        "metadata": {"source": "infoclimat", "record_index": 3},
        "a": {"b": {"c": 1}},
        "station": {"id": "07015"},
    }
