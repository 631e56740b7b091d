"""The synthetic sample files have exactly the format of the real raw inputs (FORMATS.md)."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import UTC, date, datetime, time
from itertools import pairwise
from pathlib import Path

import pytest
from openpyxl import load_workbook
from python_calamine import CalamineWorkbook

from forecast.samples import (
    ABSENT,
    WU_FILENAMES,
    plus_spelling,
    write_demo_landing,
    write_infoclimat_json,
    write_wunderground_workbook,
)

SYNOP_ONLY = {"visibilite", "neige_au_sol", "nebulosite", "temps_omm"}
HEADER = (
    "Time", "Temperature", "Dew Point", "Humidity", "Wind", "Speed", "Gust", "Pressure",
    "Precip. Rate.", "Precip. Accum.", "UV", "Solar",
)  # fmt: skip
UNIT_COLUMNS = {
    "Temperature": "°F", "Dew Point": "°F", "Humidity": "%", "Speed": "mph", "Gust": "mph",
    "Pressure": "in", "Precip. Rate.": "in", "Precip. Accum.": "in", "Solar": "w/m²",
}  # fmt: skip
COMPASS = {"North", "NNE", "NE", "ENE", "East", "ESE", "SE", "SSE",
           "South", "SSW", "SW", "WSW", "West", "WNW", "NW", "NNW"}  # fmt: skip
START = datetime(2024, 10, 5)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def ic_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ic") / "Data_Source1_test.json"
    write_infoclimat_json(path, start=START, hours=24, seed=3)
    return path


@pytest.fixture(scope="module")
def ic_doc(ic_path: Path) -> dict:
    return json.loads(ic_path.read_text(encoding="ascii"))


@pytest.fixture(scope="module")
def wu_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wu") / WU_FILENAMES["IICHTE19"]
    write_wunderground_workbook(
        path,
        first_day=date(2024, 10, 1),
        days=3,
        seed=5,
        last_day_until=time(14, 59),
        drop_times={"021024": [time(18, 24), time(18, 29), time(18, 34)]},
        extra_times={"021024": [time(18, 20)]},
    )
    return path


@pytest.fixture(scope="module")
def wu_rows(wu_path: Path) -> dict[str, list[tuple]]:
    workbook = load_workbook(wu_path)
    return {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook}


def _data(rows: list[tuple]) -> list[dict[str, object]]:
    return [dict(zip(HEADER, row, strict=True)) for row in rows[2:]]


# ----------------------------------------------------------------------------------- InfoClimat


def test_infoclimat_file_is_php_json_encode_style(ic_path: Path) -> None:
    raw = ic_path.read_bytes()
    assert raw.isascii()
    assert b'"Armenti\\u00e8res"' in raw
    assert b'"mean wind speed,km\\/h"' in raw and b"https:\\/\\/" in raw
    assert re.search(rb"[^\\]/", raw) is None  # every slash is escaped
    assert raw.startswith(b'{\n    "status": "OK",\n    "errors": [],\n    "data": [],\n')
    assert not raw.endswith(b"\n") and raw.endswith(b"}")
    assert b"\r" not in raw


def test_infoclimat_top_level_and_station_orders(ic_doc: dict) -> None:
    assert list(ic_doc) == ["status", "errors", "data", "stations", "metadata", "hourly"]
    assert [s["id"] for s in ic_doc["stations"]] == ["00052", "000R5", "07015", "STATIC0010"]
    assert list(ic_doc["hourly"]) == ["07015", "00052", "000R5", "STATIC0010", "_params"]
    assert ic_doc["hourly"]["_params"] == [
        "temperature", "pression", "humidite", "point_de_rosee", "vent_moyen", "vent_rafales",
        "vent_direction", "pluie_3h", "pluie_1h",
    ]  # fmt: skip
    synop = ic_doc["stations"][2]
    assert synop["type"] == "synop" and synop["elevation"] == 47 and synop["latitude"] == 50.575
    assert synop["license"]["source"] == "Meteo-France via infoclimat.fr"
    assert {s["type"] for s in ic_doc["stations"]} == {"synop", "static"}


def test_infoclimat_metadata_keeps_source_typos(ic_doc: dict) -> None:
    meta = ic_doc["metadata"]
    assert len(meta) == 13
    assert meta["nebulosite"] == "Ncloud cover,octats"
    assert meta["temps_omm"] == "present weather,http://www.infoclimat.fr/stations-meteo/ww.php"
    assert meta["pression"] == "mean sea level pressure,hPa"


def test_infoclimat_record_counts_and_cadence(ic_doc: dict) -> None:
    hourly = ic_doc["hourly"]
    assert len(hourly["07015"]) == 24
    assert [len(hourly[s]) for s in ("00052", "000R5", "STATIC0010")] == [145, 145, 145]
    assert hourly["07015"][-1]["dh_utc"] == "2024-10-05 23:00:00"
    assert hourly["00052"][1]["dh_utc"] == "2024-10-05 00:10:00"
    assert hourly["STATIC0010"][-1]["dh_utc"] == "2024-10-06 00:00:00"


def test_infoclimat_record_keys_in_real_order(ic_doc: dict) -> None:
    synop_keys = list(ic_doc["hourly"]["07015"][0])
    assert synop_keys[:2] == ["id_station", "dh_utc"] and len(synop_keys) == 15
    assert synop_keys[-3:] == ["neige_au_sol", "nebulosite", "temps_omm"]
    for sid in ("00052", "000R5", "STATIC0010"):
        for record in ic_doc["hourly"][sid]:
            assert list(record) == [k for k in synop_keys if k not in SYNOP_ONLY]


def test_infoclimat_values_are_strings_or_null_without_trailing_zero(ic_doc: dict) -> None:
    for sid, records in ic_doc["hourly"].items():
        if sid == "_params":
            continue
        for record in records:
            for value in record.values():
                assert value is None or isinstance(value, str)
                assert not (isinstance(value, str) and value.endswith(".0"))


def test_infoclimat_null_and_empty_conventions(ic_doc: dict) -> None:
    synop = ic_doc["hourly"]["07015"]
    assert "" in {r["nebulosite"] for r in synop}
    assert {r["nebulosite"] for r in synop} <= {"", "6", "7", "8"}
    assert all(r["neige_au_sol"] is None for r in synop)
    assert [r["pluie_3h"] is not None for r in synop] == [h % 3 == 0 for h in range(24)]
    assert all(float(r["vent_moyen"]) / 3.6 == round(float(r["vent_moyen"]) / 3.6) for r in synop)
    for sid in ("00052", "000R5", "STATIC0010"):
        for record in ic_doc["hourly"][sid]:
            assert record["vent_rafales"] is None
            assert (record["pluie_1h"] is not None) == record["dh_utc"].endswith(":00:00")


def test_infoclimat_calm_direction_quirks(ic_doc: dict) -> None:
    calm_0010 = [r for r in ic_doc["hourly"]["STATIC0010"] if r["vent_moyen"] == "0"]
    calm_r5 = [r for r in ic_doc["hourly"]["000R5"] if r["vent_moyen"] == "0"]
    assert calm_0010 and all(r["vent_direction"] == "0" for r in calm_0010)
    assert calm_r5 and all(r["vent_direction"] is None for r in calm_r5)


def test_infoclimat_values_are_plausible(ic_doc: dict) -> None:
    for sid, records in ic_doc["hourly"].items():
        if sid == "_params":
            continue
        for r in records:
            assert 5 <= float(r["temperature"]) <= 21
            assert float(r["point_de_rosee"]) <= float(r["temperature"])
            assert 55 <= int(r["humidite"]) <= 100
            assert 995 <= float(r["pression"]) <= 1022
            assert 0 <= float(r["vent_moyen"]) <= 25.2


def test_infoclimat_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.json" for i in range(3)]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        write_infoclimat_json(path, start=START.replace(tzinfo=UTC), hours=6, seed=seed)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


def test_infoclimat_station_subset_and_returned_rows(tmp_path: Path) -> None:
    sample = write_infoclimat_json(tmp_path / "x.json", start=START, hours=2, stations=["000R5"])
    doc = json.loads(sample.path.read_text())
    assert sample.source == "infoclimat" and sample.rows == {"000R5": 13}
    assert list(doc["hourly"]) == ["000R5", "_params"] and len(doc["stations"]) == 1


def test_infoclimat_record_overrides_set_and_remove_keys(tmp_path: Path) -> None:
    overrides = {
        ("07015", 1): {"humidite": "140", "temperature": "abc"},
        ("00052", 0): {"pression": ABSENT},
    }
    path = tmp_path / "bad.json"
    write_infoclimat_json(path, start=START, hours=3, record_overrides=overrides)
    hourly = json.loads(path.read_text())["hourly"]
    assert hourly["07015"][1]["humidite"] == "140" and hourly["07015"][1]["temperature"] == "abc"
    assert "pression" not in hourly["00052"][0] and "pression" in hourly["00052"][1]
    with pytest.raises(ValueError):
        write_infoclimat_json(path, start=START, hours=3, record_overrides={("07015", 9): {}})


def test_infoclimat_rejects_start_off_the_hour(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_infoclimat_json(tmp_path / "x.json", start=datetime(2024, 10, 5, 0, 30), hours=1)


# -------------------------------------------------------------------------- Weather Underground


def test_wu_sheets_named_ddmmyy_with_exact_header_and_empty_row_2(wu_rows: dict) -> None:
    assert list(wu_rows) == ["011024", "021024", "031024"]
    for rows in wu_rows.values():
        assert rows[0] == HEADER
        assert rows[1] == (None,) * 12
        assert rows[2][0] == time(0, 4)


def test_wu_row_2_has_no_xml_element_and_strings_are_shared_rich_text(wu_path: Path) -> None:
    with zipfile.ZipFile(wu_path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
        shared = archive.read("xl/sharedStrings.xml").decode()
    assert '<row r="1"' in sheet and '<row r="3"' in sheet and '<row r="2"' not in sheet
    assert "inlineStr" not in sheet and 't="s"' in sheet
    assert re.search(
        r"<si><r><t>\d+\.\d</t></r><r><rPr>.*?</rPr><t[^>]*>\xa0°F</t></r></si>", shared
    )


def test_wu_rows_per_sheet_with_truncation_dropped_and_off_grid_times(wu_rows: dict) -> None:
    counts = {name: len(rows) - 2 for name, rows in wu_rows.items()}
    assert counts == {"011024": 288, "021024": 286, "031024": 180}
    times = [r["Time"] for r in _data(wu_rows["021024"])]
    assert time(18, 20) in times and time(18, 24) not in times and times == sorted(times)
    assert _data(wu_rows["031024"])[-1]["Time"] == time(14, 59)
    assert _data(wu_rows["011024"])[-1]["Time"] == time(23, 59)


def test_wu_time_cells_use_excel_format_18(wu_path: Path) -> None:
    ws = load_workbook(wu_path)["011024"]
    assert ws["A3"].number_format == "h:mm AM/PM"
    assert ws["A290"].value == time(23, 59)


def test_wu_unit_separator_is_no_break_space_everywhere(wu_rows: dict) -> None:
    for rows in wu_rows.values():
        for row in _data(rows):
            for column, unit in UNIT_COLUMNS.items():
                value = row[column]
                assert isinstance(value, str) and " " not in value
                number, sep_unit = value.split("\xa0")
                assert sep_unit == unit and re.fullmatch(r"\d+(\.\d+)?", number)
            assert isinstance(row["UV"], int) and 0 <= row["UV"] <= 4


def test_wu_number_formats_and_ranges(wu_rows: dict) -> None:
    for row in _data(wu_rows["011024"]):
        assert re.fullmatch(r"\d+\.\d\xa0°F", str(row["Temperature"]))
        assert re.fullmatch(r"\d+\xa0%", str(row["Humidity"]))
        assert re.fullmatch(r"\d+\.\d\d\xa0in", str(row["Pressure"]))
        temp, dew = (float(str(row[c]).split("\xa0")[0]) for c in ("Temperature", "Dew Point"))
        speed, gust = (float(str(row[c]).split("\xa0")[0]) for c in ("Speed", "Gust"))
        assert temp > dew and gust >= speed
        assert 29.3 <= float(str(row["Pressure"]).split("\xa0")[0]) <= 30.1


def test_wu_wind_is_spelled_compass_or_empty_even_with_wind(wu_rows: dict) -> None:
    rows = [r for rows in wu_rows.values() for r in _data(rows)]
    assert {r["Wind"] for r in rows} - {None} <= COMPASS
    empty = [r for r in rows if r["Wind"] is None]
    assert empty and any(not str(r["Speed"]).startswith("0.0\xa0") for r in empty)


def test_wu_precip_accum_runs_daily_and_never_decreases(wu_rows: dict) -> None:
    for rows in wu_rows.values():
        accum = [float(str(r["Precip. Accum."]).split("\xa0")[0]) for r in _data(rows)]
        assert accum[0] == 0.0
        assert all(b >= a for a, b in pairwise(accum))
    assert any(
        float(str(r["Precip. Accum."]).split("\xa0")[0]) > 0 for r in _data(wu_rows["011024"])
    )


def test_wu_solar_and_uv_are_zero_at_night_positive_by_day(wu_rows: dict) -> None:
    for row in _data(wu_rows["011024"]):
        t = row["Time"]
        assert isinstance(t, time)
        solar = float(str(row["Solar"]).split("\xa0")[0])
        day = time(7, 30) < t < time(19, 45)
        assert (solar > 0) == day and (row["UV"] > 0) == day  # type: ignore[operator]


def test_wu_calamine_reads_times_and_rich_strings(wu_path: Path) -> None:
    sheet = CalamineWorkbook.from_path(str(wu_path)).get_sheet_by_name("011024").to_python()
    assert sheet[0] == list(HEADER) and sheet[1] == [""] * 12
    assert all(isinstance(row[0], time) for row in sheet[2:])
    assert all(re.fullmatch(r"\d+\.\d\xa0°F", row[1]) for row in sheet[2:])
    assert "" in {row[4] for row in sheet[2:]}


def test_wu_cell_overrides_and_sheet_names(tmp_path: Path) -> None:
    overrides = {
        ("bad", 3, "Humidity"): "140\xa0%",
        ("bad", 4, "Temperature"): "12.0\xa0°C",
        ("bad", 5, "Wind"): "N/A",
        ("bad", 6, "Speed"): None,
    }
    path = tmp_path / "bad.xlsx"
    sample = write_wunderground_workbook(
        path, first_day=date(2024, 10, 1), days=1, sheet_names=["bad"], cell_overrides=overrides
    )
    ws = load_workbook(path)["bad"]
    assert sample.rows == {"bad": 288} and sample.source == "wunderground"
    assert ws["D3"].value == "140\xa0%" and ws["B4"].value == "12.0\xa0°C"
    assert ws["E5"].value == "N/A" and ws["F6"].value is None
    with pytest.raises(ValueError):
        write_wunderground_workbook(path, first_day=date(2024, 10, 1), days=2, sheet_names=["x"])


def test_wu_same_seed_same_bytes(tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.xlsx" for i in range(3)]
    for path, seed in zip(paths, (4, 4, 5), strict=True):
        write_wunderground_workbook(path, first_day=date(2024, 10, 1), days=1, seed=seed)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()


# ------------------------------------------------------------------------------ names and demo


def test_plus_spelling_replaces_spaces() -> None:
    assert plus_spelling(WU_FILENAMES["IICHTE19"]) == "Weather+Underground+-+Ichtegem,+BE.xlsx"
    assert plus_spelling(WU_FILENAMES["ILAMAD25"]) == (
        "Weather+Underground+-+La+Madeleine,+FR.xlsx"
    )


def test_demo_landing_writes_three_files_with_expected_counts(tmp_path: Path) -> None:
    samples = write_demo_landing(tmp_path / "landing")
    assert sorted(p.name for p in (tmp_path / "landing").iterdir()) == sorted(
        ["Data_Source1_demo.json", "Weather Underground - La Madeleine, FR.xlsx",
         "Weather+Underground+-+Ichtegem,+BE.xlsx"]
    )  # fmt: skip
    assert [s.source for s in samples] == ["infoclimat", "wunderground", "wunderground"]
    assert samples[0].rows == {"07015": 36, "00052": 217, "000R5": 217, "STATIC0010": 217}
    assert samples[1].rows == {"141024": 288, "151024": 180}
    assert samples[2].rows == {"141024": 286, "151024": 178}
    again = write_demo_landing(tmp_path / "again")
    assert all(
        a.path.read_bytes() == b.path.read_bytes() for a, b in zip(samples, again, strict=True)
    )
