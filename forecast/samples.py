"""Synthetic, deterministic raw input files in the exact formats of the two real sources.

The real files are described in ``shared/data/raw/FORMATS.md``. This module never copies them:
it generates plausible synthetic values and writes them in the same layout, with every quirk
(PHP-style JSON with escaped slashes and no trailing newline, string-typed values, absent keys,
``""`` cloud cover, rich-text workbook cells with a U+00A0 unit separator, an empty row 2...).

Pure module: standard library and openpyxl only.
"""

from __future__ import annotations

import json
import math
import random
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

INFOCLIMAT = "infoclimat"
WUNDERGROUND = "wunderground"


@dataclass(frozen=True)
class SampleFile:
    """A generated sample file.

    Attributes:
        path: Where the file was written.
        source: ``"infoclimat"`` or ``"wunderground"``.
        rows: Observations written per station id (InfoClimat) or per sheet name (WU).
    """

    path: Path
    source: str
    rows: dict[str, int]


class _AbsentType:
    """Sentinel type: a record override with this value removes the key."""

    def __repr__(self) -> str:
        return "ABSENT"


_ABSENT = _AbsentType()
ABSENT = _ABSENT

# ----------------------------------------------------------------------------------- InfoClimat

SYNOP_KEYS = (
    "id_station", "dh_utc", "temperature", "pression", "humidite", "point_de_rosee", "visibilite",
    "vent_moyen", "vent_rafales", "vent_direction", "pluie_3h", "pluie_1h", "neige_au_sol",
    "nebulosite", "temps_omm",
)  # fmt: skip
SYNOP_ONLY_KEYS = frozenset({"visibilite", "neige_au_sol", "nebulosite", "temps_omm"})
STATIC_KEYS = tuple(k for k in SYNOP_KEYS if k not in SYNOP_ONLY_KEYS)
PARAMS = (
    "temperature", "pression", "humidite", "point_de_rosee", "vent_moyen", "vent_rafales",
    "vent_direction", "pluie_3h", "pluie_1h",
)  # fmt: skip
METADATA = {
    "temperature": "temperature,degC",
    "pression": "mean sea level pressure,hPa",
    "humidite": "relative humidity,%",
    "point_de_rosee": "dewpoint,degC",
    "visibilite": "horizontal visibility,m",
    "vent_moyen": "mean wind speed,km/h",
    "vent_rafales": "wind gust,km/h",
    "vent_direction": "wind direction,deg",
    "pluie_3h": "precipitation over 3h,mm",
    "pluie_1h": "precipitation over 1h,mm",
    "neige_au_sol": "snow depth,cm",
    "nebulosite": "Ncloud cover,octats",
    "temps_omm": "present weather,http://www.infoclimat.fr/stations-meteo/ww.php",
}
_CC_BY = "https://creativecommons.org/licenses/by/2.0/fr/"
_IC_META = "https://www.infoclimat.fr/stations/metadonnees.php?id="
_MF_META = "https://donneespubliques.meteofrance.fr/metadonnees_publiques/fiches/fiche_59343001.pdf"


@dataclass(frozen=True)
class _Station:
    id: str
    name: str
    lat: float
    lon: float
    elevation: int
    synop: bool
    temp_offset: float  # synthetic climate of the station
    wind_level: float  # km/h, daily mean of the synthetic wind
    calm_direction: str  # "zero" | "null" | "keep": vent_direction when vent_moyen == "0"
    rain3_every: int  # pluie_3h is set at hh:00 when hour % rain3_every == 0


_STATIONS = {  # in the order of the real "stations" list
    "00052": _Station("00052", "Armentières", 50.689, 2.877, 16, False, 0.3, 6.0, "keep", 12),
    "000R5": _Station("000R5", "Bergues", 50.968, 2.441, 17, False, 0.6, 7.0, "null", 1),
    "07015": _Station("07015", "Lille-Lesquin", 50.575, 3.092, 47, True, 0.0, 11.0, "keep", 3),
    "STATIC0010": _Station("STATIC0010", "Hazebrouck", 50.734, 2.545, 31, False, -0.4, 4.0,
                           "zero", 12),
}  # fmt: skip
_HOURLY_ORDER = ("07015", "00052", "000R5", "STATIC0010")


def _num(value: float, decimals: int = 1) -> str:
    """Format like the sources: fixed decimals, then trailing zeros and '.' dropped."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _diurnal(hour_of_day: float, peak_hour: float) -> float:
    """A 24 h sine in [-1, 1] that peaks at ``peak_hour``."""
    return math.sin(2 * math.pi * (hour_of_day - peak_hour + 6) / 24)


def _dew_point(temp_c: float, humidity: float) -> float:
    """Magnus dew point (degC), never above the temperature."""
    gamma = math.log(humidity / 100) + 17.62 * temp_c / (243.12 + temp_c)
    return min(temp_c, 243.12 * gamma / (17.62 - gamma))


def _station_descriptor(st: _Station) -> dict[str, object]:
    if st.synop:
        lic = {"license": "Etalab Open License",
               "url": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
               "source": "Meteo-France via infoclimat.fr", "metadonnees": _MF_META}  # fmt: skip
    else:
        lic = {"license": "CC BY", "url": _CC_BY, "source": "infoclimat.fr",
               "metadonnees": _IC_META + st.id}  # fmt: skip
    return {"id": st.id, "name": st.name, "latitude": st.lat, "longitude": st.lon,
            "elevation": st.elevation, "type": "synop" if st.synop else "static",
            "license": lic}  # fmt: skip


def _hourly_rain(rng: random.Random, hours: int) -> list[float]:
    """Rain (mm) over the hour ending at ``start + k h``, for k in 0..hours."""
    phase = rng.uniform(0, 2 * math.pi)
    return [round(rng.uniform(0.1, 1.4), 1) if math.sin(2 * math.pi * k / 30 + phase) > 0.75
            else 0.0 for k in range(hours + 1)]  # fmt: skip


def _air(rng: random.Random, st: _Station, when: datetime, elapsed_h: float) -> dict[str, float]:
    """Continuous synthetic weather at one station and instant (UTC)."""
    hod = when.hour + when.minute / 60
    temp = 13 + st.temp_offset + 4.6 * _diurnal(hod, 13) + rng.gauss(0, 0.25)
    humidity = min(100, max(55, round(80 - 3 * (temp - 13) + rng.gauss(0, 2.5))))
    return {
        "temp": temp,
        "hum": humidity,
        "dew": _dew_point(temp, humidity),
        "pres": 1008.5 + 9 * math.cos(2 * math.pi * elapsed_h / 72) + rng.gauss(0, 0.15),
        "wind": min(25.0, st.wind_level + 8 * _diurnal(hod, 14) + rng.gauss(0, 1.2)),
        "dir": (200 + 90 * math.sin(2 * math.pi * elapsed_h / 40) + rng.gauss(0, 10)) % 360,
    }


def _common(st: _Station, when: datetime, air: Mapping[str, float]) -> dict[str, object]:
    return {"id_station": st.id, "dh_utc": when.strftime("%Y-%m-%d %H:%M:%S"),
            "temperature": _num(air["temp"]), "pression": _num(air["pres"]),
            "humidite": _num(air["hum"], 0), "point_de_rosee": _num(air["dew"])}  # fmt: skip


def _synop_record(
    rng: random.Random,
    st: _Station,
    when: datetime,
    air: Mapping[str, float],
    rain: list[float],
    k: int,
) -> dict[str, object]:
    mean_ms = max(0, round(air["wind"] / 3.6))
    rain1 = rain[k]
    hum = air["hum"]
    weather = "61" if rain1 > 0 else ("10" if hum >= 96 else None)
    vis = rng.choice((100, 200, 500, 1000)) if hum >= 98 else rng.randrange(5000, 45001, 1000)
    return _common(st, when, air) | {
        "visibilite": str(vis),
        "vent_moyen": _num(mean_ms * 3.6),
        "vent_rafales": _num((mean_ms + rng.randint(1, 3)) * 3.6),
        "vent_direction": _num(air["dir"], 0) if air["dir"] < 359.5 else "0",
        "pluie_3h": _num(sum(rain[max(0, k - 2) : k + 1])) if when.hour % 3 == 0 else None,
        "pluie_1h": _num(rain1),
        "neige_au_sol": None,
        "nebulosite": "" if k == 0 or rng.random() < 0.5 else rng.choice("678"),
        "temps_omm": weather,
    }


def _static_record(
    st: _Station, when: datetime, air: Mapping[str, float], rain: list[float], k: int
) -> dict[str, object]:
    speed = round(air["wind"], 1) if air["wind"] >= 1.5 else 0.0
    direction: str | None = _num(air["dir"], 0) if air["dir"] < 359.5 else "0"
    if speed == 0 and st.calm_direction != "keep":
        direction = "0" if st.calm_direction == "zero" else None
    on_hour = when.minute == 0
    rain3 = on_hour and when.hour % st.rain3_every == 0
    return _common(st, when, air) | {
        "vent_moyen": _num(speed),
        "vent_rafales": None,
        "vent_direction": direction,
        "pluie_3h": _num(sum(rain[max(0, k - 2) : k + 1])) if rain3 else None,
        "pluie_1h": _num(rain[k]) if on_hour else None,
    }


def _station_records(
    st: _Station, start: datetime, hours: int, seed: int, include_end: bool = True
) -> list[dict[str, object]]:
    rng = random.Random(f"{seed}-{st.id}")
    rain = _hourly_rain(rng, hours)
    step, count = (60, hours) if st.synop else (10, hours * 6 + int(include_end))
    records = []
    for i in range(count):
        when = start + timedelta(minutes=step * i)
        elapsed = step * i / 60
        air = _air(rng, st, when, elapsed)
        if st.synop:
            records.append(_synop_record(rng, st, when, air, rain, i))
        else:
            records.append(_static_record(st, when, air, rain, int(elapsed)))
    return records


def _apply_record_overrides(
    hourly: dict[str, list[dict[str, object]]],
    overrides: Mapping[tuple[str, int], Mapping[str, object]],
) -> None:
    for (station_id, index), changes in overrides.items():
        records = hourly.get(station_id, [])
        if not 0 <= index < len(records):
            raise ValueError(f"record_overrides: no record {index} at station {station_id!r}")
        for key, value in changes.items():
            if value is _ABSENT:
                records[index].pop(key, None)
            else:
                records[index][key] = value


def _php_json(document: object) -> bytes:
    """Serialise like PHP json_encode(JSON_PRETTY_PRINT): ASCII, escaped '/', no final newline."""
    text = json.dumps(document, indent=4, ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")  # '/' only ever occurs inside strings


def _utc_naive(start: datetime) -> datetime:
    if start.tzinfo is not None:
        start = start.astimezone(UTC).replace(tzinfo=None)
    if (start.minute, start.second, start.microsecond) != (0, 0, 0):
        raise ValueError(f"start must be on the hour, got {start}")
    return start


def synthetic_stations(count: int, *, seed: int = 0, prefix: str = "B") -> list[_Station]:
    """Return ``count`` synthetic static (10-minute) InfoClimat stations in northern France.

    Ids are ``<prefix>0001``...; positions are spread over 49.5-51.0 N, 1.6-4.2 E, so that a
    few pairs fall within the cross-station distance, as real networks do.
    """
    rng = random.Random(f"{seed}-stations-{prefix}")
    return [
        _Station(f"{prefix}{n:04d}", f"Synthetic {prefix}{n:04d}", round(rng.uniform(49.5, 51.0), 3),
                 round(rng.uniform(1.6, 4.2), 3), rng.randrange(5, 200), False,
                 round(rng.uniform(-1.0, 1.0), 2), round(rng.uniform(3.0, 12.0), 1),
                 rng.choice(("zero", "null", "keep")), rng.choice((1, 3, 6, 12)))
        for n in range(1, count + 1)
    ]  # fmt: skip


def write_infoclimat_json(
    path: Path,
    *,
    start: datetime,
    hours: int,
    stations: Sequence[str | _Station] = ("07015", "00052", "000R5", "STATIC0010"),
    seed: int = 0,
    record_overrides: Mapping[tuple[str, int], Mapping[str, object]] | None = None,
    include_end: bool = True,
) -> SampleFile:
    """Write a synthetic InfoClimat export in the exact format of the real one.

    Args:
        path: Output file (parent directories are created).
        start: First timestamp, naive UTC or timezone-aware, on the hour.
        hours: Covered span. The synop station gets ``hours`` hourly records, each static
            station ``hours * 6 + 1`` ten-minute records (both ends included).
        stations: Station ids to include, among 07015, 00052, 000R5 and STATIC0010, and/or
            stations made by ``synthetic_stations`` (written after the known ones).
        seed: Seed of the generator; the same arguments give a byte-identical file.
        record_overrides: ``{(station_id, index): {key: value}}`` applied to the records before
            writing; the value ``ABSENT`` removes the key.
        include_end: Whether a static station's last record is at ``start + hours`` (the real
            exports include both ends) or ten minutes before (a whole number of days).

    Returns:
        The written file with the number of records per station id.

    Raises:
        ValueError: On an unknown station, a negative ``hours``, a ``start`` not on the hour or
            an override pointing at no record.
    """
    synthetic = [st for st in stations if isinstance(st, _Station)]
    named = [sid for sid in stations if isinstance(sid, str)]
    unknown = sorted(set(named) - set(_STATIONS))
    if unknown or hours < 0:
        raise ValueError(f"unknown stations {unknown} or negative hours {hours}")
    begin = _utc_naive(start)
    chosen = [_STATIONS[sid] for sid in _HOURLY_ORDER if sid in named] + synthetic
    hourly: dict[str, list[dict[str, object]]] = {
        st.id: _station_records(st, begin, hours, seed, include_end) for st in chosen
    }
    _apply_record_overrides(hourly, record_overrides or {})
    described = [st for sid, st in _STATIONS.items() if sid in named] + synthetic
    document = {
        "status": "OK",
        "errors": [],
        "data": [],
        "stations": [_station_descriptor(st) for st in described],
        "metadata": METADATA,
        "hourly": {**hourly, "_params": list(PARAMS)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_php_json(document))
    return SampleFile(path, INFOCLIMAT, {sid: len(recs) for sid, recs in hourly.items()})


# -------------------------------------------------------------------------- Weather Underground

WU_HEADERS = (
    "Time", "Temperature", "Dew Point", "Humidity", "Wind", "Speed", "Gust", "Pressure",
    "Precip. Rate.", "Precip. Accum.", "UV", "Solar",
)  # fmt: skip
WU_FILENAMES: dict[str, str] = {
    "ILAMAD25": "Weather Underground - La Madeleine, FR.xlsx",
    "IICHTE19": "Weather Underground - Ichtegem, BE.xlsx",
}
COMPASS = ("North", "NNE", "NE", "ENE", "East", "ESE", "SE", "SSE",
           "South", "SSW", "SW", "WSW", "West", "WNW", "NW", "NNW")  # fmt: skip
TIME_FORMAT = "h:mm AM/PM"  # Excel built-in number format 18
SUNRISE_H, SUNSET_H = 7.5, 19.75  # local solar day used for Solar/UV
_FONT = Font(name="Arial", size=12, color="FF4C4C4C")
_HEADER_FONT = Font(name="Arial", size=12, color="FF4C4C4C", bold=True)
_UNIT_FONT = InlineFont(rFont="Arial", sz=12, color="FF4C4C4C", family=2)
_FIXED_STAMP = "2024-10-07T12:00:00Z"  # docProps dates, for byte-identical workbooks


def plus_spelling(filename: str) -> str:
    """Spell a WU file name as the repositories do (spaces replaced by '+').

    Args:
        filename: e.g. ``"Weather Underground - Ichtegem, BE.xlsx"``.

    Returns:
        e.g. ``"Weather+Underground+-+Ichtegem,+BE.xlsx"``.
    """
    return filename.replace(" ", "+")


def _grid(until: time | None) -> list[time]:
    """The regular 5-minute grid hh:04, hh:09 ... 23:59, cut after ``until``."""
    times = [time(m // 60, m % 60) for m in range(4, 24 * 60, 5)]
    return [t for t in times if until is None or t <= until]


class _WuWeather:
    """Synthetic, slowly varying weather for one personal station."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"{seed}-wu")
        self.direction = self.rng.uniform(0, 360)
        self.pressure_phase = self.rng.uniform(0, 2 * math.pi)
        self.anomaly = 0.0
        self.rain: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.accum = 0.0
        self.forced_empty = False

    def new_day(self, day_index: int) -> None:
        start = self.rng.uniform(1, 20)
        rate = self.rng.uniform(0.02, 0.2) if day_index == 0 or self.rng.random() < 0.6 else 0.0
        self.rain = (start, start + self.rng.uniform(0.5, 3), rate)
        self.accum = 0.0

    def _wind(self, hod: float) -> tuple[float, float, str | None]:
        rng = self.rng
        speed = max(0.0, round(4.5 + 4 * _diurnal(hod, 15) + rng.gauss(0, 1.2), 1))
        gust = round(speed + abs(rng.gauss(0, 1.5)) + 0.4 * speed * rng.random(), 1)
        self.direction = (self.direction + rng.gauss(0, 12)) % 360
        name: str | None = COMPASS[round(self.direction / 22.5) % 16]
        if rng.random() < 0.015 or (not self.forced_empty and speed > 0):
            name, self.forced_empty = None, True
        return speed, gust, name

    def row(self, day_index: int, t: time, first: bool) -> dict[str, object]:
        rng, hod = self.rng, t.hour + t.minute / 60
        self.anomaly = 0.9 * self.anomaly + rng.gauss(0, 0.15)
        temp_c = 13 + 4.8 * _diurnal(hod, 15) + 0.8 * math.sin(day_index) + self.anomaly
        hum = min(97, max(55, round(80 - 3 * (temp_c - 13) + rng.gauss(0, 2))))
        temp_f = round(temp_c * 9 / 5 + 32, 1)
        dew_f = min(round(_dew_point(temp_c, hum) * 9 / 5 + 32, 1), round(temp_f - 0.1, 1))
        speed, gust, wind = self._wind(hod)
        pres = 29.7 + 0.35 * math.sin(
            2 * math.pi * (day_index * 24 + hod) / 80 + self.pressure_phase
        )
        start, end, rate_max = self.rain
        rate = round(rate_max * rng.uniform(0.5, 1), 2) if start <= hod <= end else 0.0
        self.accum = 0.0 if first else self.accum + rate * 5 / 60
        solar = 0.0
        if SUNRISE_H < hod < SUNSET_H:
            day_arc = math.sin(math.pi * (hod - SUNRISE_H) / (SUNSET_H - SUNRISE_H))
            solar = max(0.5, round(480 * day_arc * rng.uniform(0.55, 1), 1))
        uv = 0 if solar == 0 else min(4, max(1, round(solar / 110)))
        return {
            "Time": t, "Temperature": (f"{temp_f:.1f}", "°F"), "Dew Point": (f"{dew_f:.1f}", "°F"),
            "Humidity": (str(hum), "%"), "Wind": wind, "Speed": (f"{speed:.1f}", "mph"),
            "Gust": (f"{gust:.1f}", "mph"), "Pressure": (f"{pres:.2f}", "in"),
            "Precip. Rate.": (f"{rate:.2f}", "in"), "Precip. Accum.": (f"{self.accum:.2f}", "in"),
            "UV": uv, "Solar": (_num(solar), "w/m²"),
        }  # fmt: skip


def _write_cell(ws: Worksheet, row: int, header: str, value: object) -> None:
    if value is None:
        return  # an empty cell is no cell at all, as in the real files
    if isinstance(value, tuple):
        number, unit = value
        value = CellRichText([number, TextBlock(_UNIT_FONT, "\xa0" + unit)])
    cell = ws.cell(row=row, column=WU_HEADERS.index(header) + 1, value=value)
    cell.font = _HEADER_FONT if row == 1 else _FONT
    if isinstance(value, time):
        cell.number_format = TIME_FORMAT


def _sheet_cells(
    weather: _WuWeather, day_index: int, times: Sequence[time]
) -> dict[int, dict[str, object]]:
    cells: dict[int, dict[str, object]] = {1: dict(zip(WU_HEADERS, WU_HEADERS, strict=True))}
    weather.new_day(day_index)
    for i, t in enumerate(times):
        cells[i + 3] = weather.row(day_index, t, first=i == 0)
    return cells


def _sheet_times(
    name: str,
    until: time | None,
    drop: Mapping[str, Sequence[time]],
    extra: Mapping[str, Sequence[time]],
) -> list[time]:
    times = set(_grid(until)) - set(drop.get(name, ())) | set(extra.get(name, ()))
    return sorted(times)


def _apply_cell_overrides(
    sheets: dict[str, dict[int, dict[str, object]]],
    overrides: Mapping[tuple[str, int, str], object],
) -> None:
    for (sheet, row, header), value in overrides.items():
        if sheet not in sheets or header not in WU_HEADERS or row < 1:
            raise ValueError(f"cell_overrides: no cell {header!r} row {row} in sheet {sheet!r}")
        sheets[sheet].setdefault(row, {})[header] = value


def write_wunderground_workbook(
    path: Path,
    *,
    first_day: date,
    days: int,
    seed: int = 0,
    last_day_until: time | None = None,
    drop_times: Mapping[str, Sequence[time]] | None = None,
    cell_overrides: Mapping[tuple[str, int, str], object] | None = None,
    sheet_names: Sequence[str] | None = None,
    extra_times: Mapping[str, Sequence[time]] | None = None,
) -> SampleFile:
    """Write a synthetic Weather Underground workbook in the exact format of the real ones.

    Args:
        path: Output ``.xlsx`` file (parent directories are created).
        first_day: Date of the first sheet.
        days: Number of sheets, one per consecutive day, named DDMMYY.
        seed: Seed of the generator; the same arguments give a byte-identical file.
        last_day_until: Keep the last sheet's rows up to this local time (included).
        drop_times: ``{sheet_name: [time, ...]}`` grid rows to leave out (irregular sheets).
        cell_overrides: ``{(sheet_name, excel_row, header): value}`` raw cell values written
            instead of the generated ones; a ``str`` is a plain string, ``None`` empties it.
        sheet_names: Sheet names to use instead of DDMMYY (length ``days``).
        extra_times: ``{sheet_name: [time, ...]}`` off-grid rows to add (e.g. 12:47).

    Returns:
        The written file with the number of data rows per sheet name.

    Raises:
        ValueError: On ``days < 1``, a wrong number of sheet names or a bad override.
    """
    names = list(
        sheet_names or [(first_day + timedelta(d)).strftime("%d%m%y") for d in range(days)]
    )
    if days < 1 or len(names) != days:
        raise ValueError(f"need days >= 1 and {days} sheet names, got {names}")
    weather = _WuWeather(seed)
    sheets: dict[str, dict[int, dict[str, object]]] = {}
    rows: dict[str, int] = {}
    for d, name in enumerate(names):
        until = last_day_until if d == days - 1 else None
        times = _sheet_times(name, until, drop_times or {}, extra_times or {})
        sheets[name], rows[name] = _sheet_cells(weather, d, times), len(times)
    _apply_cell_overrides(sheets, cell_overrides or {})
    workbook = Workbook()
    for i, (name, cells) in enumerate(sheets.items()):
        ws = workbook.worksheets[0] if i == 0 else workbook.create_sheet()
        ws.title = name
        for row in sorted(cells):
            for header, value in cells[row].items():
                _write_cell(ws, row, header, value)
    workbook.properties.creator = "forecast.samples"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    _to_shared_strings(path)
    return SampleFile(path, WUNDERGROUND, rows)


_INLINE = re.compile(r'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is>(.*?)</is></c>')
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _to_shared_strings(path: Path) -> None:
    """Move openpyxl's inline strings to xl/sharedStrings.xml, as Excel stores them.

    Also pins the zip timestamps and docProps dates so that the bytes depend on the inputs only.
    """
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    index: dict[str, int] = {}
    total = 0

    def share(match: re.Match[str]) -> str:
        nonlocal total
        total += 1
        number = index.setdefault(match.group(3), len(index))
        return f'<c r="{match.group(1)}"{match.group(2)} t="s"><v>{number}</v></c>'

    for name in [n for n in parts if n.startswith("xl/worksheets/")]:
        parts[name] = _INLINE.sub(share, parts[name].decode("utf-8")).encode("utf-8")
    items = "".join(f"<si>{inner}</si>" for inner in index)
    parts["xl/sharedStrings.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst xmlns="{_MAIN_NS}" '
        f'count="{total}" uniqueCount="{len(index)}">{items}</sst>'
    ).encode()
    _patch(
        parts,
        "[Content_Types].xml",
        "</Types>",
        f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_SST_TYPE}" /></Types>',
    )
    _patch(parts, "xl/_rels/workbook.xml.rels", "</Relationships>",
           f'<Relationship Type="{_SST_REL}" Target="sharedStrings.xml" Id="rIdSst" />'
           "</Relationships>")  # fmt: skip
    core = parts["docProps/core.xml"].decode("utf-8")
    core = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", _FIXED_STAMP, core)
    parts["docProps/core.xml"] = core.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)


def _patch(parts: dict[str, bytes], name: str, old: str, new: str) -> None:
    parts[name] = parts[name].decode("utf-8").replace(old, new).encode("utf-8")


# -------------------------------------------------------------------------------------- demo set


def write_demo_landing(directory: Path, *, seed: int = 7) -> list[SampleFile]:
    """Write the demo landing set: one InfoClimat file and the two WU workbooks.

    The sources overlap as in the real data: InfoClimat from 2024-10-14 00:00 UTC for 36 h, WU
    for the local days 14/10 and 15/10 with truncated last sheets; the Ichtegem file uses the
    '+' spelling of its name and has two irregular gaps on its first sheet. The dates are a
    week after the real course files (2024-09-30 to 2024-10-07 UTC), so loading the demo
    into the same database never overwrites real observations with synthetic ones.

    Args:
        directory: Landing directory (created if needed).
        seed: Base seed; the same seed gives byte-identical files.

    Returns:
        The three written files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    first_day = date(2024, 10, 14)
    return [
        write_infoclimat_json(
            directory / "Data_Source1_demo.json",
            start=datetime(2024, 10, 14, tzinfo=UTC),
            hours=36,
            seed=seed,
        ),
        write_wunderground_workbook(
            directory / WU_FILENAMES["ILAMAD25"],
            first_day=first_day,
            days=2,
            seed=seed + 1,
            last_day_until=time(14, 59),
        ),
        write_wunderground_workbook(
            directory / plus_spelling(WU_FILENAMES["IICHTE19"]),
            first_day=first_day,
            days=2,
            seed=seed + 2,
            last_day_until=time(14, 49),
            drop_times={"141024": [time(10, 9), time(17, 34)]},
        ),
    ]


def write_month_landing(
    directory: Path,
    *,
    stations: int = 60,
    days: int = 30,
    infoclimat_files: int = 2,
    first_day: date = date(2024, 11, 1),
    seed: int = 11,
    wu_days: int | None = None,
) -> list[SampleFile]:
    """Write a benchmark landing set: ``stations`` 10-minute InfoClimat stations over ``days``
    UTC days, split into ``infoclimat_files`` exports, and the two WU workbooks with one sheet
    per local day (``wu_days`` sheets of 288 rows, default ``days``).

    With the defaults: 60 x 4,320 + 2 x 8,640 = 276,480 observations, two ~32 MiB JSON files
    and two 30-sheet workbooks, from 2024-11-01 (no DST change inside). The same arguments
    give byte-identical files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    generated = synthetic_stations(stations, seed=seed)
    per_file = -(-stations // infoclimat_files)
    start = datetime.combine(first_day, time(), UTC)
    files = []
    for part in range(infoclimat_files):
        chosen = generated[part * per_file : (part + 1) * per_file]
        name = f"Data_Source1_month_{part + 1}.json"
        files.append(
            write_infoclimat_json(
                directory / name,
                start=start,
                hours=days * 24,
                stations=chosen,
                seed=seed,
                include_end=False,
            )
        )
    for offset, station in enumerate(("ILAMAD25", "IICHTE19")):
        path = directory / WU_FILENAMES[station]
        files.append(
            write_wunderground_workbook(
                path, first_day=first_day, days=days, seed=seed + 1 + offset
            )
        )
    return files
