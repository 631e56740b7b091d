"""The canonical observation schema, declared once.

Parsers end with ``conform(table, OBSERVATIONS)``; validation, the Parquet zones, the Mongo
document builder and the docs all read the declarations below instead of retyping them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from forecast.errors import DataContractError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Measurement:
    """One canonical measurement: its document key, SI/metric unit and meaning."""

    key: str
    unit: str
    description: str


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("temperature", "degC", "air temperature"),
    Measurement("dew_point", "degC", "dew point temperature"),
    Measurement("humidity", "%", "relative humidity"),
    Measurement("pressure", "hPa", "air pressure (InfoClimat: mean sea level)"),
    Measurement("wind_speed", "km/h", "mean wind speed"),
    Measurement("wind_gust", "km/h", "wind gust"),
    Measurement("wind_direction", "deg", "direction the wind blows from, 0 = north"),
    Measurement("precip_rate", "mm/h", "instantaneous precipitation rate"),
    Measurement("precip_accum", "mm", "running precipitation total since the station's reset"),
    Measurement("precip_1h", "mm", "precipitation over the last hour"),
    Measurement("precip_3h", "mm", "precipitation over the last 3 hours"),
    Measurement("visibility", "m", "horizontal visibility"),
    Measurement("cloud_cover", "okta", "cloud cover"),
    Measurement("snow_depth", "cm", "snow depth"),
    Measurement("weather_code", "WMO ww", "present weather, WMO code table 4677"),
    Measurement("uv_index", "index", "UV index"),
    Measurement("solar_radiation", "W/m2", "global solar radiation"),
)
MEASUREMENT_KEYS: tuple[str, ...] = tuple(m.key for m in MEASUREMENTS)
UNITS: dict[str, str] = {m.key: m.unit for m in MEASUREMENTS}

NATURAL_KEY = ("station_id", "timestamp")
TIMESTAMP_TYPE = pa.timestamp("ms", tz="UTC")

_LINEAGE = [
    pa.field("flags", pa.list_(pa.string()), nullable=False),
    pa.field("parse_errors", pa.list_(pa.string()), nullable=False),
    pa.field("unit_errors", pa.list_(pa.string()), nullable=False),
    pa.field("source", pa.string(), nullable=False),
    pa.field("source_file", pa.string(), nullable=False),
    pa.field("raw_key", pa.string(), nullable=False),
    pa.field("raw_sha256", pa.string(), nullable=False),
    pa.field("content_key", pa.string(), nullable=False),
    pa.field("sheet", pa.string()),
    pa.field("row", pa.int32()),
    pa.field("record_index", pa.int32()),
    pa.field("record_id", pa.string()),
    pa.field("extracted_at", TIMESTAMP_TYPE),
]

OBSERVATIONS = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("timestamp", TIMESTAMP_TYPE),
        *(pa.field(key, pa.float64()) for key in MEASUREMENT_KEYS),
        *_LINEAGE,
    ]
)
"""One row per observation, measurements already in SI/metric units (see ``UNITS``).

``timestamp`` is null only when the source's time could not be read; validation rejects such
rows (rule ``missing_timestamp``) with the parse error, so the rest of the file still loads.
``parse_errors`` and ``unit_errors`` hold located messages for values that could not be read
as a number, or carried another unit than the source's documented one.

Lineage: ``source_file``, ``raw_key`` and ``raw_sha256`` name the landing object and its copy
in the raw zone; ``content_key`` identifies what the row's parse came from (the object's
content and what its name says, ``forecast.lake.ingest``); ``sheet``, ``row`` and
``record_index`` place the row in its object, as its source does (``Source.lineage``); an
Airbyte record's ``record_id`` (``_airbyte_raw_id``) and ``extracted_at`` come from its envelope.
"""

VALIDATED = (
    OBSERVATIONS.set(
        OBSERVATIONS.get_field_index("timestamp"),
        pa.field("timestamp", TIMESTAMP_TYPE, nullable=False),
    )
    .append(pa.field("quality_score", pa.float64(), nullable=False))
    .append(pa.field("quality_rules", pa.list_(pa.string()), nullable=False))
)
"""Observations that passed validation: their 0-100 quality score and the warn rules that fired
(``quality_rules``); ``flags`` keeps what the parser noted (calm wind, DST resolution)."""

REJECTED = OBSERVATIONS.append(
    pa.field("reject_rules", pa.list_(pa.string()), nullable=False)
).append(pa.field("reject_reasons", pa.list_(pa.string()), nullable=False))
"""Quarantined observations with every rule that rejected them and a readable reason for each."""

STATIONS = pa.schema(
    [
        pa.field("station_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("network", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("latitude", pa.float64(), nullable=False),
        pa.field("longitude", pa.float64(), nullable=False),
        pa.field("elevation_m", pa.float64()),
        pa.field("timezone", pa.string(), nullable=False),
        pa.field("city", pa.string()),
        pa.field("country", pa.string()),
        pa.field("license", pa.string()),
        pa.field("license_url", pa.string()),
        pa.field("attribution", pa.string()),
        pa.field("measurements", pa.list_(pa.string()), nullable=False),
    ]
)
"""Station metadata; ``measurements`` lists the canonical keys the station's source provides."""


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns, order and types.

    Missing nullable columns are added as nulls; extra columns are dropped.

    Raises:
        DataContractError: a non-nullable column is missing or holds nulls, or a column cannot
            be cast to its declared type.
    """
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise DataContractError(f"required column {field.name!r} is missing")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            raise DataContractError(f"column {field.name!r} has {column.null_count} null values")
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataContractError(
                f"column {field.name!r} ({column.type}) cannot be cast to {field.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)
