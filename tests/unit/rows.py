"""Tiny hand-built observation and station tables for the validation and anomaly tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, STATIONS, conform

T0 = datetime(2024, 10, 5, tzinfo=UTC)
"""Midnight UTC of the day every hand-built series starts on."""

CORE_VALUES = {
    "temperature": 15.0,
    "dew_point": 10.0,
    "humidity": 70.0,
    "pressure": 1010.0,
    "wind_speed": 5.0,
    "wind_direction": 90.0,
}
"""A plausible reading of every core measurement, so a row scores 100 unless a test says not."""

LINEAGE = {
    "source": "wunderground",
    "source_file": "f.xlsx",
    "raw_key": "k",
    "raw_sha256": "s",
    "content_key": "s",
    "flags": [],
    "parse_errors": [],
    "unit_errors": [],
    "sheet": "011024",
}


def observations(*rows: dict) -> pa.Table:
    """Return OBSERVATIONS rows of station "ST", one minute apart from ``T0``, sheet rows 3, 4...

    Each row starts from ``CORE_VALUES`` and ``LINEAGE``; the given dict overrides any field.
    """
    filled = []
    for i, row in enumerate(rows):
        record = {key: None for key in MEASUREMENT_KEYS} | LINEAGE | CORE_VALUES
        record |= {"station_id": "ST", "row": 3 + i, "timestamp": T0 + timedelta(minutes=i)}
        filled.append(record | row)
    return conform(pa.Table.from_pylist(filled), OBSERVATIONS)


def series(
    station: str = "ST",
    *,
    every: float = 5,
    at: Sequence[float] | None = None,
    start: datetime = T0,
    **values: Sequence[float | None],
) -> pa.Table:
    """Return a station's time series: one row per value of the given measurement lists.

    Rows are ``every`` minutes apart from ``start``, or at the minute offsets ``at``; the
    measurements not given are null, so only the series under test can fire a detector.
    """
    (length,) = {len(column) for column in values.values()}
    offsets = list(at) if at is not None else [every * i for i in range(length)]
    assert len(offsets) == length
    rows = [
        {key: None for key in MEASUREMENT_KEYS}
        | LINEAGE
        | {"station_id": station, "row": 3 + i, "timestamp": start + timedelta(minutes=offset)}
        | {key: column[i] for key, column in values.items()}
        for i, offset in enumerate(offsets)
    ]
    return conform(pa.Table.from_pylist(rows), OBSERVATIONS)


def stations(*sites: tuple[str, float, float]) -> pa.Table:
    """Return a STATIONS table of (station_id, latitude, longitude) sites."""
    ids = [station_id for station_id, _, _ in sites]
    return conform(
        pa.table(
            {
                "station_id": pa.array(ids, pa.string()),
                "name": pa.array(ids, pa.string()),
                "network": pa.array(["wunderground"] * len(ids), pa.string()),
                "type": pa.array(["personal"] * len(ids), pa.string()),
                "latitude": pa.array([site[1] for site in sites], pa.float64()),
                "longitude": pa.array([site[2] for site in sites], pa.float64()),
                "timezone": pa.array(["Europe/Paris"] * len(ids), pa.string()),
                "measurements": pa.array([["temperature"]] * len(ids), pa.list_(pa.string())),
            }
        ),
        STATIONS,
    )
