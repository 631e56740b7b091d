"""InfoClimat open-data JSON -> canonical observations and stations.

Quirks handled (see ../shared/data/raw/FORMATS.md §1): every value is a string or null; ``""``
means missing (``nebulosite``); synop-only keys are absent at static stations (the measurement is
then not provided by that station); ``hourly["_params"]`` is not a station; ``dh_utc`` is UTC
without an offset; a ``"0"`` wind direction with zero wind is calm, not north.

A record whose ``dh_utc`` is null, absent or not ``YYYY-MM-DD HH:MM:SS`` keeps its values with a
null timestamp and a parse error; records without any ``dh_utc`` at all fail the file. Units are
declared once in the metadata (a file declaring another unit is refused), so there are no
per-row unit errors.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, STATIONS, conform
from forecast.sources.common import (
    Parsed,
    RawFile,
    attach_lineage,
    collect_messages,
    constant,
    flags_where,
    messages_where,
    parse_numbers,
)
from forecast.sources.limits import DEFAULT_LIMITS, Limits, check_file_size

SOURCE = "infoclimat"

FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "pression": "pressure",
    "humidite": "humidity",
    "point_de_rosee": "dew_point",
    "visibilite": "visibility",
    "vent_moyen": "wind_speed",
    "vent_rafales": "wind_gust",
    "vent_direction": "wind_direction",
    "pluie_3h": "precip_3h",
    "pluie_1h": "precip_1h",
    "neige_au_sol": "snow_depth",
    "nebulosite": "cloud_cover",
    "temps_omm": "weather_code",
}
"""Source field -> canonical measurement key."""

EXPECTED_UNITS: dict[str, str] = {
    "temperature": "degC",
    "pression": "hPa",
    "humidite": "%",
    "point_de_rosee": "degC",
    "visibilite": "m",
    "vent_moyen": "km/h",
    "vent_rafales": "km/h",
    "vent_direction": "deg",
    "pluie_3h": "mm",
    "pluie_1h": "mm",
    "neige_au_sol": "cm",
    "nebulosite": "octats",  # sic: the source's spelling of oktas
}
"""Units the canonical conversion assumes; a file declaring another unit is refused."""

FLAG_CALM = "wind_calm"
NOT_STATIONS = frozenset({"_params"})


_BOM = b"\xef\xbb\xbf"
_BOM_NOTE = "UTF-8 byte-order mark removed"


class _Refused(ValueError):
    """JSON that ``json`` would accept but the format does not (raised from its hooks)."""


def _refuse_constant(literal: str) -> float:
    raise _Refused(f"non-standard literal {literal} (JSON has no NaN or Infinity)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Return the object, refusing a repeated key (``json`` would silently keep the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        key = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        # Name the record when the object is one, so the duplicate can be found in the file.
        where = ", ".join(f"{n}={obj[n]!r}" for n in ("id_station", "dh_utc") if n in obj)
        raise _Refused(f"duplicate key {key!r} in an object" + (f" ({where})" if where else ""))
    return obj


def _text(raw: RawFile) -> tuple[str, tuple[str, ...]]:
    """Return the file as text and drift notes; only UTF-8 is accepted, a BOM is dropped."""
    content: bytes = raw.content
    drift: tuple[str, ...] = ()
    if content.startswith(_BOM):
        content, drift = content[len(_BOM) :], (_BOM_NOTE,)
    try:
        return content.decode("utf-8"), drift
    except UnicodeDecodeError as exc:
        offset = exc.start + len(raw.content) - len(content)
        raise SourceFormatError(
            f"not valid JSON: not UTF-8 text, byte 0x{raw.content[offset]:02x} at offset {offset}",
            file=raw.name,
        ) from exc


def _load(raw: RawFile) -> tuple[dict[str, Any], tuple[str, ...]]:
    text, drift = _text(raw)
    try:
        document = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        ended = " (the content ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise SourceFormatError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{ended}",
            file=raw.name,
        ) from exc
    except _Refused as exc:
        raise SourceFormatError(f"not valid JSON: {exc}", file=raw.name) from exc
    if not isinstance(document, dict):
        raise SourceFormatError("top level is not a JSON object", file=raw.name)
    _check_shape(document, raw.name)
    return document, drift


def _check_shape(document: Mapping[str, Any], file: str) -> None:
    """Refuse an API error answer and top-level members of the wrong JSON type."""
    status = document.get("status", "OK")
    if status != "OK":
        raise SourceFormatError(
            f"status is {status!r}, not 'OK' (errors: {document.get('errors')!r})",
            file=file,
            field="status",
        )
    for key, kind in (("stations", list), ("hourly", dict), ("metadata", dict)):
        if not isinstance(document.get(key), kind):
            raise SourceFormatError(f"missing or malformed {key!r} ({kind.__name__})", file=file)
    bad = next((i for i, e in enumerate(document["stations"]) if not isinstance(e, dict)), None)
    if bad is not None:
        raise SourceFormatError(
            "station entries must be JSON objects", file=file, field=f"stations[{bad}]"
        )


def _check_units(metadata: Mapping[str, Any], file: str) -> None:
    for field, unit in EXPECTED_UNITS.items():
        declared = metadata.get(field)
        if declared is None:
            continue
        found = str(declared).rsplit(",", 1)[-1].strip()
        if found != unit:
            raise SourceFormatError(
                f"declares unit {found!r}, expected {unit!r}", file=file, field=f"metadata.{field}"
            )


def _station_rows(
    document: Mapping[str, Any], provided: Mapping[str, list[str]], file: str
) -> pa.Table:
    rows = []
    for entry in document["stations"]:
        station_id = str(entry.get("id", ""))
        if station_id not in provided:
            continue
        license_ = entry.get("license") or {}
        try:
            rows.append(
                {
                    "station_id": station_id,
                    "name": str(entry["name"]),
                    "network": SOURCE,
                    "type": str(entry.get("type") or "unknown"),
                    "latitude": float(entry["latitude"]),
                    "longitude": float(entry["longitude"]),
                    "elevation_m": None
                    if entry.get("elevation") is None
                    else float(entry["elevation"]),
                    "timezone": "UTC",
                    "city": str(entry["name"]),
                    "country": "FR",
                    "license": license_.get("license"),
                    "license_url": license_.get("url"),
                    "attribution": license_.get("source"),
                    "measurements": provided[station_id],
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceFormatError(
                f"station entry is incomplete: {exc}", file=file, field="stations"
            ) from exc
    missing = sorted(set(provided) - {row["station_id"] for row in rows})
    if missing:
        raise SourceFormatError(
            f"hourly data for undescribed stations {missing}", file=file, field="stations"
        )
    return pa.Table.from_pylist(rows, schema=STATIONS)


_DH_UTC_FORMAT = "%Y-%m-%d %H:%M:%S"


def _timestamps(dh_utc: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Return ``dh_utc`` as UTC instants and, per record, why it is null (null where fine)."""
    text = dh_utc.cast(pa.string())
    stamps = pc.strptime(text, format=_DH_UTC_FORMAT, unit="ms", error_is_null=True)
    unreadable = pc.and_(pc.is_valid(text), pc.is_null(stamps))
    missing = pc.if_else(
        pc.is_null(text), pa.scalar("field 'dh_utc' is missing"), pa.scalar(None, pa.string())
    )
    errors = pc.coalesce(
        missing,
        messages_where(unreadable, "field 'dh_utc' is not 'YYYY-MM-DD HH:MM:SS': ", text),
    )
    return pc.assume_timezone(stamps, timezone="UTC"), errors


def _station_observations(
    station_id: str, records: list[Any], raw: RawFile
) -> tuple[pa.Table, list[str]]:
    """Return one station's records as canonical columns and the measurements it provides.

    Raises:
        SourceFormatError: records that are not objects, of inconsistent types, or none of
            them with a ``dh_utc`` key.
    """
    where = f"hourly.{station_id}"
    if not all(isinstance(record, dict) for record in records):
        raise SourceFormatError("records must be JSON objects", file=raw.name, field=where)
    try:
        # pa.array reads every record's keys; Table.from_pylist would keep only the first one's.
        table = pa.Table.from_struct_array(pa.array(records))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SourceFormatError(
            f"inconsistent record types: {exc}", file=raw.name, field=where
        ) from exc
    if "dh_utc" not in table.column_names:
        raise SourceFormatError("records have no 'dh_utc'", file=raw.name, field=where)
    present = [field for field in FIELDS if field in table.column_names]
    columns: dict[str, pa.Array] = {}
    columns["timestamp"], stamp_errors = _timestamps(table.column("dh_utc").combine_chunks())
    errors: list[pa.Array] = [stamp_errors]
    for field in present:
        text = table.column(field).combine_chunks().cast(pa.string())
        columns[FIELDS[field]], bad = parse_numbers(text)
        errors.append(messages_where(bad, f"field {field!r} is not a number: ", text))
    length = table.num_rows
    columns["station_id"] = constant(station_id, length, pa.string())
    columns["record_index"] = pa.array(range(length), pa.int32())
    columns["parse_errors"] = collect_messages(errors, length)
    return pa.table(columns), [FIELDS[field] for field in present]


def _calm(observations: pa.Table) -> pa.Table:
    """Return observations with calm winds flagged and their meaningless direction nulled.

    A ``"0"`` direction with zero mean wind is how some stations write "calm": it is not north.
    """
    speed = observations.column("wind_speed")
    calm = pc.fill_null(pc.equal(speed, 0.0), False)
    direction = observations.column("wind_direction")
    cleared = pc.if_else(
        pc.and_(calm, pc.fill_null(pc.equal(direction, 0.0), False)), None, direction
    )
    flags = flags_where({FLAG_CALM: calm}, observations.num_rows)
    observations = observations.set_column(
        observations.schema.get_field_index("wind_direction"), "wind_direction", cleared
    )
    return observations.append_column("flags", flags)


def parse(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse an InfoClimat open-data JSON file into canonical observations and stations.

    Args:
        raw: The file's bytes and identity.
        limits: Resource limits (only ``max_file_bytes`` applies to JSON).

    Returns:
        Observations, stations, and drift notes (a removed UTF-8 byte-order mark).

    Raises:
        SourceFormatError: the file is over a limit, not strict UTF-8 JSON (NaN/Infinity
            literals, duplicate keys) or not the InfoClimat structure (names file and field).
    """
    check_file_size(raw.name, raw.content, limits)
    document, drift = _load(raw)
    _check_units(document["metadata"], raw.name)
    tables: list[pa.Table] = []
    provided: dict[str, list[str]] = {}
    for station_id, records in document["hourly"].items():
        if station_id in NOT_STATIONS:
            continue
        if not isinstance(records, list):
            raise SourceFormatError(
                "expected a list of records", file=raw.name, field=f"hourly.{station_id}"
            )
        if not records:
            continue
        table, provided[station_id] = _station_observations(str(station_id), records, raw)
        tables.append(table)
    stations = _station_rows(document, provided, raw.name)
    if not tables:
        return Parsed(conform(OBSERVATIONS.empty_table(), OBSERVATIONS), stations, drift)
    observations = pa.concat_tables(tables, promote_options="default")
    for key in MEASUREMENT_KEYS:
        if key not in observations.column_names:
            observations = observations.append_column(
                key, pa.nulls(observations.num_rows, pa.float64())
            )
    observations = attach_lineage(_calm(observations), raw, SOURCE)
    return Parsed(conform(observations, OBSERVATIONS), stations, drift)
