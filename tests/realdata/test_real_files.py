"""The three real files of ../shared/data/raw end to end through the `forecast` CLI."""

from __future__ import annotations

import pytest

from flows.cli import main
from tests.support import REAL_COUNTS

pytestmark = pytest.mark.realdata

EXPECTED = REAL_COUNTS
DATABASE = "forecast_2_0"  # what `--mongo-uri` loads into: the production database name


def f_to_c(value: float) -> float:
    return (value - 32) * 5 / 9


MPH, INHG, INCH = 1.609344, 33.8639, 25.4


@pytest.fixture(scope="module")
def loaded(shared_raw, mongo_server, prefect_harness, tmp_path_factory):
    """Run the CLI twice on the real files; return both summaries and the collection."""
    from blocks.local import save_local_lake

    save_local_lake(tmp_path_factory.mktemp("real") / "lake", name="real-lake")
    mongo_server.client().drop_database(DATABASE)
    argv = [
        "run",
        "--landing",
        str(shared_raw),
        "--mongo-uri",
        mongo_server.uri,
        "--lake-block",
        "real-lake",
        "--latency-iterations",
        "2",
    ]
    return argv, mongo_server.client()[DATABASE]["weather_measurements"]


def test_first_run_loads_exactly_4950_documents_per_station(loaded, capsys):
    argv, collection = loaded
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "extracted 4950, validated 4950, rejected 0" in out
    assert "inserted 4950, updated 0, unchanged 0, failed 0" in out
    counts = {
        r["_id"]: r["n"]
        for r in collection.aggregate([{"$group": {"_id": "$station.id", "n": {"$sum": 1}}}])
    }
    assert counts == EXPECTED
    assert sum(counts.values()) == 4950


def test_second_run_skips_every_content_and_a_forced_one_changes_nothing(loaded, capsys):
    argv, collection = loaded
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "ledger: skipped 3 contents already loaded (3 by run " in out
    assert "inserted 0, updated 0, unchanged 0, failed 0" in out
    assert main([*argv, "--force"]) == 0
    assert "inserted 0, updated 0, unchanged 4950, failed 0" in capsys.readouterr().out
    assert collection.count_documents({}) == 4950


def test_lille_lesquin_first_record_is_loaded_verbatim_in_metric_units(loaded):
    _, collection = loaded
    doc = collection.find_one({"_id": "07015:2024-10-05T00:00:00.000Z"})
    m = {k: v["value"] for k, v in doc["measurements"].items()}
    assert m == {"temperature": 7.6, "pressure": 1020.7, "humidity": 89.0, "dew_point": 5.9, "visibility": 6000.0, "wind_speed": 3.6, "wind_gust": 7.2,
                 "wind_direction": 90.0, "precip_3h": 0.0, "precip_1h": 0.0, "snow_depth": None, "cloud_cover": None, "weather_code": None}  # fmt: skip
    assert doc["measurements"]["cloud_cover"]["unit"] == "okta"
    assert doc["station"]["location_geo"] == {"type": "Point", "coordinates": [3.092, 50.575]}
    assert (doc["station"]["network"], doc["station"]["type"], doc["station"]["license"]) == (
        "infoclimat",
        "synop",
        "Etalab Open License",
    )
    assert doc["metadata"]["record_index"] == 0 and doc["metadata"]["raw_sha256"].startswith(
        "3a3296400f32"
    )


def test_static_station_lacks_synop_only_measurements_and_has_null_gusts(loaded):
    _, collection = loaded
    doc = collection.find_one({"station.id": "00052"})
    assert not {"visibility", "cloud_cover", "snow_depth", "weather_code"} & set(
        doc["measurements"]
    )
    assert doc["measurements"]["wind_gust"] == {"value": None, "unit": "km/h"}


def test_calm_zero_direction_at_hazebrouck_is_flagged_not_taken_as_north(loaded):
    _, collection = loaded
    assert (
        collection.count_documents(
            {"station.id": "STATIC0010", "measurements.wind_direction.value": 0}
        )
        == 0
    )
    calm = collection.count_documents(
        {
            "station.id": "STATIC0010",
            "data_quality.flags": "wind_calm",
            "measurements.wind_direction.value": None,
        }
    )
    assert (
        calm >= 104
    )  # 104 records say "0" with zero wind (FORMATS.md), plus calm ones with null direction


def test_ichtegem_first_row_converted_by_hand(loaded):
    _, collection = loaded
    doc = collection.find_one(
        {"_id": "IICHTE19:2024-09-30T22:04:00.000Z"}
    )  # sheet 011024 00:04 CEST
    m = {k: v["value"] for k, v in doc["measurements"].items()}
    assert m["temperature"] == pytest.approx(f_to_c(56.8)) and m["dew_point"] == pytest.approx(
        f_to_c(53.1)
    )
    assert m["humidity"] == 87 and m["wind_direction"] == 247.5  # WSW
    assert m["wind_speed"] == pytest.approx(8.2 * MPH) and m["wind_gust"] == pytest.approx(
        10.4 * MPH
    )
    assert (
        m["pressure"] == pytest.approx(29.48 * INHG)
        and m["precip_accum"] == 0
        and m["solar_radiation"] == 0
    )
    assert (doc["metadata"]["sheet"], doc["metadata"]["row"], doc["station"]["timezone"]) == (
        "011024",
        3,
        "Europe/Brussels",
    )


def test_ichtegem_off_grid_row_keeps_its_own_minute(loaded):
    _, collection = loaded
    doc = collection.find_one(
        {"_id": "IICHTE19:2024-10-02T16:20:00.000Z"}
    )  # sheet 021024 18:20 local
    m = {k: v["value"] for k, v in doc["measurements"].items()}
    assert m["temperature"] == pytest.approx(f_to_c(56.7)) and m["wind_direction"] == 45.0  # NE
    assert m["precip_accum"] == pytest.approx(0.01 * INCH) and m["solar_radiation"] == 19.9
    assert doc["metadata"]["row"] == 223


def test_la_madeleine_missing_direction_stays_null_and_last_row_is_14_59_local(loaded):
    _, collection = loaded
    first = collection.find_one({"_id": "ILAMAD25:2024-09-30T22:04:00.000Z"})
    assert first["measurements"]["wind_direction"]["value"] is None
    assert first["measurements"]["wind_speed"]["value"] == pytest.approx(4.4 * MPH)
    assert first["measurements"]["precip_accum"]["value"] == pytest.approx(0.19 * INCH)
    last = collection.find_one({"station.id": "ILAMAD25"}, sort=[("timestamp", -1)])
    assert last["_id"] == "ILAMAD25:2024-10-07T12:59:00.000Z" and last["metadata"]["row"] == 182
    assert (
        last["measurements"]["uv_index"]["value"] == 2
        and last["measurements"]["wind_direction"]["value"] == 315.0
    )  # NW
    assert (
        collection.count_documents(
            {"station.id": "ILAMAD25", "measurements.wind_direction.value": None}
        )
        == 58
    )


def test_indexes_and_stations_collection_exist(loaded):
    _, collection = loaded
    names = {index["name"] for index in collection.list_indexes()}
    assert names == {"_id_", "station_id_timestamp"}  # place and network go through stations
    stations = collection.database["stations"]
    assert stations.count_documents({}) == 6
    assert stations.find_one({"_id": "ILAMAD25"})["location_geo"] == {
        "type": "Point",
        "coordinates": [3.070, 50.659],
    }
