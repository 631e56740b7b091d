import pyarrow as pa
import pytest

from forecast.sources import units


def test_fahrenheit_to_celsius_matches_the_formula():
    assert units.fahrenheit_to_celsius(pa.array([32.0, 212.0, 56.8])).to_pylist() == pytest.approx(
        [0.0, 100.0, (56.8 - 32) * 5 / 9]
    )


def test_compass_points_with_spelled_out_cardinals_map_to_degrees_and_unknowns_to_null():
    points = pa.array(["North", "NNE", "East", "South", "WSW", "West", "NNW", "N", None])
    assert units.compass_to_degrees(points).to_pylist() == [
        0.0,
        22.5,
        90.0,
        180.0,
        247.5,
        270.0,
        337.5,
        None,
        None,
    ]
