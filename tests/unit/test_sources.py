"""Parsers on small generated files in the real formats, including injected faults."""

import hashlib
import json
from datetime import date, datetime, time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from forecast.errors import SourceFormatError
from forecast.samples import ABSENT, write_infoclimat_json, write_wunderground_workbook
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile

LA_MADELEINE = "Weather Underground - La Madeleine, FR.xlsx"


def _raw(path: Path) -> RawFile:
    content = path.read_bytes()
    return RawFile(path.name, content, f"raw/{path.name}", hashlib.sha256(content).hexdigest())


def _rows(table, **where):
    mask = None
    for column, value in where.items():
        m = pc.equal(table.column(column), value)
        mask = m if mask is None else pc.and_(mask, m)
    return table.filter(mask).to_pylist()


def test_infoclimat_counts_per_station_and_skips_params(tmp_path):
    sample = write_infoclimat_json(tmp_path / "ic.json", start=datetime(2024, 10, 5), hours=3)
    parsed = infoclimat.parse(_raw(sample.path))
    counts = {
        r["values"]: r["counts"]
        for r in pc.value_counts(parsed.observations.column("station_id")).to_pylist()
    }
    assert counts == sample.rows
    assert "_params" not in counts
    assert sorted(parsed.stations.column("station_id").to_pylist()) == sorted(sample.rows)


def test_infoclimat_absent_keys_mean_not_provided_and_empty_string_means_missing(tmp_path):
    sample = write_infoclimat_json(
        tmp_path / "ic.json",
        start=datetime(2024, 10, 5),
        hours=2,
        record_overrides={("07015", 0): {"nebulosite": ""}},
    )
    parsed = infoclimat.parse(_raw(sample.path))
    provided = {r["station_id"]: r["measurements"] for r in parsed.stations.to_pylist()}
    assert "visibility" in provided["07015"] and "cloud_cover" in provided["07015"]
    assert "visibility" not in provided["00052"] and "cloud_cover" not in provided["00052"]
    first = _rows(parsed.observations, station_id="07015", record_index=0)[0]
    assert first["cloud_cover"] is None and first["parse_errors"] == []


def test_infoclimat_zero_direction_with_zero_wind_is_calm_not_north(tmp_path):
    overrides = {
        ("STATIC0010", 0): {"vent_moyen": "0", "vent_direction": "0"},
        ("STATIC0010", 1): {"vent_moyen": "3.2", "vent_direction": "0"},
    }
    sample = write_infoclimat_json(
        tmp_path / "ic.json",
        start=datetime(2024, 10, 5),
        hours=1,
        stations=("STATIC0010",),
        record_overrides=overrides,
    )
    rows = infoclimat.parse(_raw(sample.path)).observations.slice(0, 2).to_pylist()
    assert rows[0]["wind_direction"] is None and "wind_calm" in rows[0]["flags"]
    assert rows[1]["wind_direction"] == 0.0 and "wind_calm" not in rows[1]["flags"]


def test_infoclimat_unreadable_value_becomes_a_located_parse_error_on_that_row_only(tmp_path):
    sample = write_infoclimat_json(
        tmp_path / "ic.json",
        start=datetime(2024, 10, 5),
        hours=1,
        stations=("00052",),
        record_overrides={("00052", 2): {"temperature": "abc"}},
    )
    table = infoclimat.parse(_raw(sample.path)).observations
    errors = table.column("parse_errors").to_pylist()
    assert errors[2] == ["field 'temperature' is not a number: 'abc'"]
    assert sum(bool(e) for e in errors) == 1


def test_infoclimat_missing_station_id_key_in_records_still_parses(tmp_path):
    sample = write_infoclimat_json(
        tmp_path / "ic.json",
        start=datetime(2024, 10, 5),
        hours=1,
        stations=("00052",),
        record_overrides={("00052", 0): {"id_station": ABSENT}},
    )
    assert infoclimat.parse(_raw(sample.path)).observations.num_rows == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "top level is not a JSON object"),
        (b'{"stations": [], "hourly": [], "metadata": {}}', "'hourly'"),
    ],
)
def test_infoclimat_structural_faults_fail_the_file_with_its_name(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=rf"file 'bad.json'.*{message}"):
        infoclimat.parse(_raw(path))


def test_infoclimat_refuses_a_file_declaring_other_units(tmp_path):
    sample = write_infoclimat_json(tmp_path / "ic.json", start=datetime(2024, 10, 5), hours=1)
    document = json.loads(sample.path.read_bytes())
    document["metadata"]["temperature"] = "temperature,degF"
    sample.path.write_text(json.dumps(document))
    with pytest.raises(SourceFormatError, match=r"metadata\.temperature.*'degF'"):
        infoclimat.parse(_raw(sample.path))


def test_wunderground_converts_units_and_local_time(tmp_path):
    sample = write_wunderground_workbook(tmp_path / LA_MADELEINE, first_day=date(2024, 10, 1), days=1, cell_overrides={
        ("011024", 3, "Temperature"): "56.8\xa0°F", ("011024", 3, "Speed"): "8.2\xa0mph", ("011024", 3, "Pressure"): "29.48\xa0in",
        ("011024", 3, "Precip. Accum."): "0.19\xa0in", ("011024", 3, "Wind"): "WSW"})  # fmt: skip
    parsed = wunderground.parse(_raw(sample.path))
    row = parsed.observations.slice(0, 1).to_pylist()[0]
    assert row["station_id"] == "ILAMAD25"
    assert row["timestamp"] == datetime.fromisoformat("2024-09-30T22:04:00+00:00")
    assert row["temperature"] == pytest.approx((56.8 - 32) * 5 / 9)
    assert row["wind_speed"] == pytest.approx(8.2 * 1.609344)
    assert row["pressure"] == pytest.approx(29.48 * 33.8639)
    assert row["precip_accum"] == pytest.approx(0.19 * 25.4)
    assert row["wind_direction"] == 247.5
    assert (row["sheet"], row["row"]) == ("011024", 3)
    assert parsed.observations.num_rows == sample.rows["011024"]


def test_wunderground_irregular_and_truncated_sheets_keep_every_row(tmp_path):
    sample = write_wunderground_workbook(tmp_path / LA_MADELEINE, first_day=date(2024, 10, 2), days=2, last_day_until=time(14, 59),
                                         drop_times={"021024": [time(18, 44)]}, extra_times={"021024": [time(18, 20)]})  # fmt: skip
    table = wunderground.parse(_raw(sample.path)).observations
    assert table.num_rows == sum(sample.rows.values()) == 288 + 180
    assert len(_rows(table, sheet="021024")) == 288


def test_wunderground_empty_wind_cell_stays_null(tmp_path):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE,
        first_day=date(2024, 10, 1),
        days=1,
        cell_overrides={("011024", 5, "Wind"): None},
    )
    row = _rows(wunderground.parse(_raw(sample.path)).observations, row=5)[0]
    assert row["wind_direction"] is None and row["parse_errors"] == []


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("N/A", "field 'Temperature' is not a number: 'N/A'"),
        ("12.0\xa0°C", "field 'Temperature' has an unexpected unit (expected '°F'): '12.0\xa0°C'"),
    ],
)
def test_wunderground_bad_cell_is_a_parse_error_naming_the_field(tmp_path, cell, message):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE,
        first_day=date(2024, 10, 1),
        days=1,
        cell_overrides={("011024", 7, "Temperature"): cell},
    )
    table = wunderground.parse(_raw(sample.path)).observations
    assert _rows(table, row=7)[0]["parse_errors"] == [message]
    assert _rows(table, row=7)[0]["temperature"] is None
    assert sum(bool(e) for e in table.column("parse_errors").to_pylist()) == 1


def test_wunderground_unknown_compass_text_is_a_parse_error(tmp_path):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE,
        first_day=date(2024, 10, 1),
        days=1,
        cell_overrides={("011024", 4, "Wind"): "Calm"},
    )
    assert _rows(wunderground.parse(_raw(sample.path)).observations, row=4)[0]["parse_errors"] == [
        "field 'Wind' is not a 16-point compass direction: 'Calm'"
    ]


def test_wunderground_columns_are_found_by_name_not_position(tmp_path):
    sample = write_wunderground_workbook(tmp_path / LA_MADELEINE, first_day=date(2024, 10, 1), days=1,
                                         cell_overrides={("011024", 1, "Temperature"): "Dew Point", ("011024", 1, "Dew Point"): "Temperature"})  # fmt: skip
    swapped = wunderground.parse(_raw(sample.path)).observations.slice(0, 1).to_pylist()[0]
    assert (
        swapped["temperature"] < swapped["dew_point"]
    )  # the generator writes temperature > dew point


def test_wunderground_missing_column_fails_the_file_naming_sheet_and_column(tmp_path):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE,
        first_day=date(2024, 10, 1),
        days=1,
        cell_overrides={("011024", 1, "Pressure"): "Barometer"},
    )
    with pytest.raises(
        SourceFormatError,
        match=r"file 'Weather Underground - La Madeleine, FR.xlsx', sheet '011024', row 1, field 'pressure'",
    ):
        wunderground.parse(_raw(sample.path))


def test_wunderground_sheet_name_must_be_a_ddmmyy_date(tmp_path):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE, first_day=date(2024, 10, 1), days=1, sheet_names=["Summary"]
    )
    with pytest.raises(SourceFormatError, match="sheet 'Summary': sheet name is not a DDMMYY date"):
        wunderground.parse(_raw(sample.path))


def test_wunderground_bad_time_cell_names_file_sheet_row_and_field(tmp_path):
    sample = write_wunderground_workbook(
        tmp_path / LA_MADELEINE,
        first_day=date(2024, 10, 1),
        days=1,
        cell_overrides={("011024", 9, "Time"): "soon"},
    )
    with pytest.raises(SourceFormatError, match="sheet '011024', row 9, field 'Time'"):
        wunderground.parse(_raw(sample.path))


def test_wunderground_not_a_workbook_fails_with_the_file_named(tmp_path):
    path = tmp_path / LA_MADELEINE
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SourceFormatError, match="not a readable Excel workbook"):
        wunderground.parse(_raw(path))
