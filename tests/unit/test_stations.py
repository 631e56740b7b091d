import re

import pytest

from forecast.errors import SourceFormatError
from forecast.sources.wunderground.stations import normalise_file_stem, station_for_file


@pytest.mark.parametrize(
    "name",
    [
        "Weather Underground - La Madeleine, FR.xlsx",
        "Weather+Underground+-+La+Madeleine,+FR.xlsx",
        "weather%20underground%20-%20la%20madeleine,%20fr.xlsx",
    ],
)
def test_both_file_name_spellings_resolve_to_the_registered_station(name):
    station = station_for_file(name)
    assert (
        station.id,
        station.timezone,
        station.latitude,
        station.longitude,
        station.elevation_m,
    ) == ("ILAMAD25", "Europe/Paris", 50.659, 3.070, 23)


def test_ichtegem_is_weerstationbs_in_brussels_time():
    station = station_for_file("Weather+Underground+-+Ichtegem,+BE.xlsx")
    assert (station.id, station.name, station.country, station.timezone) == (
        "IICHTE19",
        "WeerstationBS",
        "BE",
        "Europe/Brussels",
    )


def test_unknown_workbook_name_is_refused_with_the_file_named():
    with pytest.raises(SourceFormatError, match=re.escape("Weather Underground - Lille, FR.xlsx")):
        station_for_file("Weather Underground - Lille, FR.xlsx")


def test_normalise_file_stem_decodes_plus_and_percent():
    assert (
        normalise_file_stem("a/b/Weather+Underground+-+Ichtegem,+BE.xlsx")
        == "Weather Underground - Ichtegem, BE"
    )
