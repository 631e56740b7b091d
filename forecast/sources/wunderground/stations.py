"""Station registry for sources whose files do not describe their stations (Weather Underground):
a workbook's station from its file name, an Airbyte stream's from the stream's name."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
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
    streams: tuple[str, ...] = ()  # Airbyte stream names of this station besides its place


@cache
def wunderground_stations() -> tuple[RegisteredStation, ...]:
    """Return the Weather Underground stations of the registry."""
    text = resources.files("forecast").joinpath("data/stations.toml").read_text(encoding="utf-8")
    entries = tomllib.loads(text)["wunderground"]
    return tuple(
        RegisteredStation(**{**entry, "streams": tuple(entry.get("streams", ()))})
        for entry in entries
    )


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


_SEPARATORS = re.compile(r"[\W_]+")
_STREAM_PREFIXES = ("weather underground ", "wunderground ", "wu ")


def _words(text: str) -> str:
    """Return ``text`` as lower-case words: case, separators and URL escapes do not count."""
    return " ".join(_SEPARATORS.sub(" ", unquote_plus(text)).casefold().split())


def _stream_names(station: RegisteredStation) -> set[str]:
    """The names a stream of this station may have, as ``_words``."""
    place = normalise_file_stem(station.file_stem).split(" - ", 1)[-1]
    names = {station.id, station.name, station.city, f"{station.city} {station.country}",
             station.file_stem, place, *station.streams}  # fmt: skip
    return {_words(name) for name in names if name}


def station_for_stream(stream: str, mapping: Mapping[str, str], *, file: str) -> RegisteredStation:
    """Return the registered station an Airbyte stream's records belong to.

    ``mapping`` (stream name -> station id, the run parameter ``wu_streams``) wins; else the
    stream's name is the station's id, its place (``la_madeleine``, ``Ichtegem_BE``,
    ``La Madeleine, FR``: case, separators and a leading ``wu``/``Weather Underground`` do not
    count) or one of its ``streams`` in ``forecast/data/stations.toml``.

    Raises:
        SourceFormatError: no station has that stream, or the mapping names an unknown station.
    """
    stations = wunderground_stations()
    if stream in mapping:
        wanted = mapping[stream]
        found = next((s for s in stations if s.id == wanted), None)
        if found is None:
            known = ", ".join(s.id for s in stations)
            raise SourceFormatError(
                f"stream {stream!r} is mapped to station {wanted!r}, which is not registered "
                f"(known: {known}); add it to forecast/data/stations.toml",
                file=file,
            )
        return found
    words = _words(stream)
    candidates = {words}
    for prefix in _STREAM_PREFIXES:
        if words.startswith(prefix):
            candidates.add(words.removeprefix(prefix))
    for station in stations:
        if candidates & _stream_names(station):
            return station
    known = ", ".join(f"{s.id} ({s.city}, {s.country})" for s in stations)
    raise SourceFormatError(
        f"stream {stream!r} names no registered Weather Underground station (known: {known}): "
        f"map it with `forecast run --wu-stream '{stream}=STATION_ID'` (run parameter "
        "wu_streams), or add it to the station's `streams` in forecast/data/stations.toml",
        file=file,
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
