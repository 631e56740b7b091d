"""Parsers on small generated files in the real formats, including injected faults."""

import hashlib
import json
from datetime import date, datetime, time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from forecast.errors import SourceFormatError
from forecast.samples import ABSENT, write_infoclimat_json, write_wunderground_workbook
from forecast.schema import OBSERVATIONS
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile

LA_MADELEINE = "Weather Underground - La Madeleine, FR.xlsx"
COMPARED = [
    name for name in OBSERVATIONS.names if name not in ("raw_sha256", "content_key")
]  # the bytes differ


def _raw(path: Path) -> RawFile:
    content = path.read_bytes()
    return RawFile(path.name, content, f"raw/{path.name}", hashlib.sha256(content).hexdigest())


def _rows(table, **where):
    mask = None
    for column, value in where.items():
        m = pc.equal(table.column(column), value)
        mask = m if mask is None else pc.and_(mask, m)
    return table.filter(mask).to_pylist()


def _only_changed(clean, faulty, changed: dict, **where) -> None:
    """Assert ``faulty`` equals ``clean`` but for ``changed`` columns on the row ``where`` picks."""
    clean, faulty = clean.select(COMPARED), faulty.select(COMPARED)
    assert faulty.num_rows == clean.num_rows
    ((column, value),) = where.items()
    others = pc.not_equal(clean.column(column), value)
    assert faulty.column(column).equals(clean.column(column))
    assert faulty.filter(others).equals(clean.filter(others))
    expected = {**_rows(clean, **where)[0], **changed}
    assert _rows(faulty, **where) == [expected]


def _infoclimat_pair(tmp_path, overrides) -> tuple:
    """Return the observations of station 00052 (7 records) without and with ``overrides``."""
    tables = []
    for name, record_overrides in (("clean", {}), ("faulty", overrides)):
        sample = write_infoclimat_json(
            tmp_path / name / "ic.json",
            start=datetime(2024, 10, 5),
            hours=1,
            stations=("00052",),
            record_overrides=record_overrides,
        )
        tables.append(infoclimat.parse(_raw(sample.path)).observations)
    return tuple(tables)


def _wunderground_pair(tmp_path, overrides) -> tuple:
    """Return the observations of a 12-row day sheet 011024 without and with ``overrides``."""
    tables = []
    for name, cell_overrides in (("clean", {}), ("faulty", overrides)):
        sample = write_wunderground_workbook(
            tmp_path / name / LA_MADELEINE,
            first_day=date(2024, 10, 1),
            days=1,
            last_day_until=time(0, 59),
            cell_overrides=cell_overrides,
        )
        tables.append(wunderground.parse(_raw(sample.path)).observations)
    return tuple(tables)


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


@pytest.mark.parametrize(
    ("dh_utc", "message"),
    [
        ("05/10/2024 00:20", "field 'dh_utc' is not 'YYYY-MM-DD HH:MM:SS': '05/10/2024 00:20'"),
        (
            "2024-10-05T00:20:00Z",
            "field 'dh_utc' is not 'YYYY-MM-DD HH:MM:SS': '2024-10-05T00:20:00Z'",
        ),
        ("", "field 'dh_utc' is not 'YYYY-MM-DD HH:MM:SS': ''"),
        (None, "field 'dh_utc' is missing"),
        (ABSENT, "field 'dh_utc' is missing"),
    ],
    ids=["day-first", "iso-8601", "empty", "null", "absent"],
)
def test_infoclimat_unreadable_dh_utc_is_a_null_timestamp_with_a_parse_error(
    tmp_path, dh_utc, message
):
    clean, faulty = _infoclimat_pair(tmp_path, {("00052", 2): {"dh_utc": dh_utc}})
    _only_changed(clean, faulty, {"timestamp": None, "parse_errors": [message]}, record_index=2)


def test_infoclimat_dh_utc_missing_in_the_first_record_only_is_that_records_error(tmp_path):
    # The first record's keys must not decide the columns: the others' dh_utc is still read.
    clean, faulty = _infoclimat_pair(tmp_path, {("00052", 0): {"dh_utc": ABSENT}})
    _only_changed(
        clean,
        faulty,
        {"timestamp": None, "parse_errors": ["field 'dh_utc' is missing"]},
        record_index=0,
    )


def test_infoclimat_field_missing_in_the_first_record_only_is_read_in_the_others(tmp_path):
    clean, faulty = _infoclimat_pair(tmp_path, {("00052", 0): {"temperature": ABSENT}})
    assert clean.column("temperature").null_count == 0
    _only_changed(clean, faulty, {"temperature": None}, record_index=0)


def test_infoclimat_bad_dh_utc_and_bad_value_in_one_record_give_both_messages(tmp_path):
    clean, faulty = _infoclimat_pair(
        tmp_path, {("00052", 4): {"dh_utc": "soon", "temperature": "abc"}}
    )
    errors = [
        "field 'dh_utc' is not 'YYYY-MM-DD HH:MM:SS': 'soon'",
        "field 'temperature' is not a number: 'abc'",
    ]
    _only_changed(
        clean,
        faulty,
        {"timestamp": None, "temperature": None, "parse_errors": errors},
        record_index=4,
    )


def test_infoclimat_records_without_any_dh_utc_fail_the_file(tmp_path):
    overrides = {("00052", i): {"dh_utc": ABSENT} for i in range(7)}
    sample = write_infoclimat_json(
        tmp_path / "ic.json",
        start=datetime(2024, 10, 5),
        hours=1,
        stations=("00052",),
        record_overrides=overrides,
    )
    with pytest.raises(
        SourceFormatError, match=r"file 'ic.json', field 'hourly.00052': records have no 'dh_utc'"
    ):
        infoclimat.parse(_raw(sample.path))


def test_infoclimat_has_no_unit_errors_column_of_its_own(tmp_path):
    sample = write_infoclimat_json(tmp_path / "ic.json", start=datetime(2024, 10, 5), hours=1)
    table = infoclimat.parse(_raw(sample.path)).observations
    assert table.column("unit_errors").to_pylist() == [[]] * table.num_rows


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
        ("abc\xa0°C", "field 'Temperature' is not a number: 'abc\xa0°C'"),
    ],
    ids=["no-number", "no-number-and-another-unit"],
)
def test_wunderground_bad_number_is_a_parse_error_naming_the_field(tmp_path, cell, message):
    clean, faulty = _wunderground_pair(tmp_path, {("011024", 7, "Temperature"): cell})
    _only_changed(clean, faulty, {"temperature": None, "parse_errors": [message]}, row=7)


@pytest.mark.parametrize(
    ("header", "key", "cell", "message"),
    [
        ("Temperature", "temperature", "56.8\xa0°C",
         "field 'Temperature' has an unexpected unit (expected '°F'): '56.8\xa0°C'"),
        ("Temperature", "temperature", ("56.8", "°C"),  # rich text, as the real cells are
         "field 'Temperature' has an unexpected unit (expected '°F'): '56.8\xa0°C'"),
        ("Gust", "wind_gust", "13.2\xa0km/h",
         "field 'Gust' has an unexpected unit (expected 'mph'): '13.2\xa0km/h'"),
        ("UV", "uv_index", "3\xa0index",
         "field 'UV' has an unexpected unit (expected no unit): '3\xa0index'"),
    ],
    ids=["celsius-text", "celsius-rich-text", "km/h", "unit-on-bare-number"],
)  # fmt: skip
def test_wunderground_value_in_another_unit_is_a_unit_error_not_a_parse_error(
    tmp_path, header, key, cell, message
):
    clean, faulty = _wunderground_pair(tmp_path, {("011024", 7, header): cell})
    _only_changed(clean, faulty, {key: None, "unit_errors": [message]}, row=7)


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


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("soon", "field 'Time': not a time of day: 'soon'"),
        ("25:00", "field 'Time': not a time of day: '25:00'"),
        (None, "field 'Time': time of day is empty"),
    ],
    ids=["text", "out-of-range", "empty"],
)
def test_wunderground_bad_time_cell_is_a_null_timestamp_with_a_parse_error(tmp_path, cell, message):
    clean, faulty = _wunderground_pair(tmp_path, {("011024", 9, "Time"): cell})
    _only_changed(clean, faulty, {"timestamp": None, "parse_errors": [message]}, row=9)


def test_wunderground_bad_time_and_bad_value_in_one_row_give_both_messages_in_column_order(
    tmp_path,
):
    overrides = {
        ("011024", 9, "Time"): "soon",
        ("011024", 9, "Temperature"): "N/A",
        ("011024", 9, "Pressure"): "29.48\xa0hPa",
    }
    clean, faulty = _wunderground_pair(tmp_path, overrides)
    changed = {
        "timestamp": None,
        "temperature": None,
        "pressure": None,
        "parse_errors": [
            "field 'Time': not a time of day: 'soon'",
            "field 'Temperature' is not a number: 'N/A'",
        ],
        "unit_errors": ["field 'Pressure' has an unexpected unit (expected 'in'): '29.48\xa0hPa'"],
    }
    _only_changed(clean, faulty, changed, row=9)


def test_wunderground_not_a_workbook_fails_with_the_file_named(tmp_path):
    path = tmp_path / LA_MADELEINE
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SourceFormatError, match="not a readable Excel workbook"):
        wunderground.parse(_raw(path))


def test_an_airbyte_csv_cell_that_is_not_a_json_object_is_located_alike_by_survey_and_records():
    import io

    from forecast.errors import SourceFormatError
    from forecast.sources import containers

    header = "_airbyte_raw_id,_airbyte_extracted_at,_airbyte_data\n"
    good = '"7f1c","2024-10-08T06:00:00Z","{""Time"": ""00:04:00""}"\n'
    csv = containers.Container(containers.CSV)
    for cell, why in (('"{not json"', "not JSON text"), ('"[1, 2]"', "must be a JSON object")):
        content = (header + good + f'"7f1d","2024-10-08T06:00:00Z",{cell}\n').encode()
        for read in (
            lambda stream: containers.survey(stream, csv, "s.csv", max_record_bytes=1 << 20),
            lambda stream: list(containers.records(stream, csv, "s.csv", max_record_bytes=1 << 20)),
        ):
            with pytest.raises(SourceFormatError, match=why) as raised:
                read(io.BytesIO(content))
            assert "s.csv" in str(raised.value) and "row 3" in str(raised.value)
            assert "_airbyte_data" in str(raised.value)
