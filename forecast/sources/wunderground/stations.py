"""Station registry for sources whose files do not describe their stations (Weather Underground)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from urllib.parse import unquote_plus

import pyarrow as pa

from forecast.errors import SourceFormatError
from forecast.schema import STATIONS


@dataclass(frozen=True)
class RegisteredStation:
    """A station known from the repository's registry (``forecast/data/stations.toml``)."""

    id: str
    name: str
    file_stem: str
    city: str
    country: str
    latitude: float
    longitude: float
    elevation_m: float
    timezone: str
    type: str
    hardware: str = ""


@cache
def wunderground_stations() -> tuple[RegisteredStation, ...]:
    """Return the Weather Underground stations of the registry."""
    text = resources.files("forecast").joinpath("data/stations.toml").read_text(encoding="utf-8")
    return tuple(RegisteredStation(**entry) for entry in tomllib.loads(text)["wunderground"])


def normalise_file_stem(file_name: str) -> str:
    """Return a file name's stem with URL-style '+' and %XX escapes decoded.

    ``Weather+Underground+-+Ichtegem,+BE.xlsx`` and ``Weather Underground - Ichtegem, BE.xlsx``
    both give ``Weather Underground - Ichtegem, BE``.
    """
    name = PurePosixPath(file_name).name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return " ".join(unquote_plus(stem).split())


def station_for_file(file_name: str) -> RegisteredStation:
    """Return the registered Weather Underground station a workbook's file name belongs to.

    Raises:
        SourceFormatError: no registered station matches the file name.
    """
    stem = normalise_file_stem(file_name).casefold()
    for station in wunderground_stations():
        if station.file_stem.casefold() == stem:
            return station
    known = ", ".join(repr(s.file_stem) for s in wunderground_stations())
    raise SourceFormatError(
        f"no Weather Underground station is registered for this file name (known: {known}); "
        "add it to forecast/data/stations.toml",
        file=file_name,
    )


def station_table(station: RegisteredStation, measurements: list[str]) -> pa.Table:
    """Return the one-row STATIONS table describing a registered Weather Underground station."""
    row = {
        "station_id": station.id,
        "name": station.name,
        "network": "wunderground",
        "type": station.type,
        "latitude": station.latitude,
        "longitude": station.longitude,
        "elevation_m": float(station.elevation_m),
        "timezone": station.timezone,
        "city": station.city,
        "country": station.country,
        "license": None,
        "license_url": None,
        "attribution": "Weather Underground personal weather station",
        "measurements": measurements,
    }
    return pa.Table.from_pylist([row], schema=STATIONS)
