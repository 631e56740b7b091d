"""Vectorised unit conversions to the canonical SI/metric units."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

MPH_TO_KMH = 1.609344
INHG_TO_HPA = 33.8639
INCH_TO_MM = 25.4

COMPASS_16 = (
    "North", "NNE", "NE", "ENE", "East", "ESE", "SE", "SSE",
    "South", "SSW", "SW", "WSW", "West", "WNW", "NW", "NNW",
)  # fmt: skip
"""Weather Underground's 16 compass points, cardinals spelled out, clockwise from north."""


def fahrenheit_to_celsius(values: pa.Array) -> pa.Array:
    """Return °F values as °C."""
    return pc.divide(pc.multiply(pc.subtract(values, 32.0), 5.0), 9.0)


def scale(values: pa.Array, factor: float) -> pa.Array:
    """Return ``values`` multiplied by a unit ``factor`` (mph→km/h, inHg→hPa, in→mm)."""
    return pc.multiply(values, factor)


def compass_to_degrees(points: pa.Array) -> pa.Array:
    """Return 16-point compass names as degrees (North = 0, NNE = 22.5, ...); unknown -> null."""
    index = pc.index_in(points, value_set=pa.array(COMPASS_16))
    return pc.multiply(index.cast(pa.float64()), 22.5)
