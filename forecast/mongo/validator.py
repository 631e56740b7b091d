"""Server-side document validation: ``$jsonSchema`` validators generated from the canonical schema.

Nothing here is retyped: measurement keys and units come from ``forecast.schema.MEASUREMENTS``,
BSON types from the Arrow types of ``VALIDATED`` and ``STATIONS`` (a nullable field also
accepts ``null``), the metadata lineage fields from ``forecast.mongo.plan.LINEAGE``.
Adding a measurement or a station field to the canonical schema changes the validators.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import CollectionInvalid, OperationFailure

from forecast import schema as canonical
from forecast.errors import ConfigurationError, TransientError
from forecast.mongo.client import TRANSIENT, MongoTarget, scrub
from forecast.mongo.plan import LINEAGE
from forecast.sources.registry import NETWORKS

ID_PATTERN = r"^[^:]+:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
"""``<station id>:<UTC timestamp, milliseconds>Z``, as ``documents.document_ids`` writes it."""

_STATION_LOCATION = ("latitude", "longitude")  # stored as the GeoJSON point ``location_geo``
_METADATA_FIELDS = ("source", "raw_key", "raw_sha256")
_SMALL_INTEGERS = (pa.int8(), pa.int16(), pa.int32(), pa.uint8(), pa.uint16())


def _bson_type(arrow_type: pa.DataType) -> list[str]:
    """Return the BSON type names a value of ``arrow_type`` is stored as by pymongo.

    Python ints are encoded as int32 when they fit, so a 64-bit Arrow integer may be stored as
    either ``int`` or ``long``.

    Raises:
        TypeError: the Arrow type has no BSON counterpart declared here.
    """
    if pa.types.is_floating(arrow_type):
        return ["double"]
    if arrow_type in _SMALL_INTEGERS:
        return ["int"]
    if pa.types.is_integer(arrow_type):
        return ["int", "long"]
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return ["string"]
    if pa.types.is_boolean(arrow_type):
        return ["bool"]
    if pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type):
        return ["date"]
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return ["array"]
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return ["object"]
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return ["binData"]
    raise TypeError(f"no BSON type is declared for the Arrow type {arrow_type}")


def _field_schema(field: pa.Field) -> dict[str, Any]:
    """Return the ``$jsonSchema`` of one Arrow field (types, list items; null if nullable)."""
    types = _bson_type(field.type) + (["null"] if field.nullable else [])
    spec: dict[str, Any] = {"bsonType": types[0] if len(types) == 1 else types}
    if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
        spec["items"] = {"bsonType": _bson_type(field.type.value_type)[0]}
    return spec


def _object(
    properties: dict[str, dict[str, Any]], required: list[str], **extra: Any
) -> dict[str, Any]:
    """Return an object schema with ``properties`` and ``required`` (omitted when empty)."""
    spec: dict[str, Any] = {"bsonType": "object"}
    if required:
        spec["required"] = required
    spec["properties"] = properties
    spec.update(extra)
    return spec


def _point() -> dict[str, Any]:
    """Return the schema of a GeoJSON point ``{type: "Point", coordinates: [lon, lat]}``."""
    return _object(
        {
            "type": {"enum": ["Point"]},
            "coordinates": {
                "bsonType": "array",
                "minItems": 2,
                "maxItems": 2,
                "items": {"bsonType": _bson_type(canonical.STATIONS.field("longitude").type)[0]},
            },
        },
        ["type", "coordinates"],
    )


def _station_fields(*, id_name: str, with_measurements: bool) -> dict[str, Any]:
    """Return the schema of a station as stored, generated from ``STATIONS``.

    ``station_id`` is named ``id_name``; latitude/longitude become ``location_geo``; the
    ``measurements`` list (stations collection only) is restricted to the canonical keys.
    """
    properties: dict[str, dict[str, Any]] = {}
    required: list[str] = []
    for field in canonical.STATIONS:
        if field.name in _STATION_LOCATION or (
            field.name == "measurements" and not with_measurements
        ):
            continue
        name = id_name if field.name == "station_id" else field.name
        properties[name] = _field_schema(field)
        if not field.nullable:
            required.append(name)
    properties["network"]["enum"] = list(NETWORKS)
    if with_measurements:
        properties["measurements"]["items"]["enum"] = [m.key for m in canonical.MEASUREMENTS]
    properties["location_geo"] = _point()
    required.append("location_geo")
    return _object(properties, required)


def _measurements() -> dict[str, Any]:
    """Return the ``measurements`` sub-document schema: one entry per canonical measurement."""
    properties = {}
    for measurement in canonical.MEASUREMENTS:
        value = _field_schema(canonical.VALIDATED.field(measurement.key))
        properties[measurement.key] = _object(
            {"value": value, "unit": {"bsonType": "string", "enum": [measurement.unit]}},
            ["value", "unit"],
            additionalProperties=False,
        )
    return _object(properties, [], additionalProperties=False)


def _data_quality() -> dict[str, Any]:
    """Return the ``data_quality`` schema (score 0-100, parser flags, warn rules)."""
    score = _field_schema(canonical.VALIDATED.field("quality_score")) | {
        "minimum": 0,
        "maximum": 100,
    }
    return _object(
        {
            "score": score,
            "flags": _field_schema(canonical.VALIDATED.field("flags")),
            "rules": _field_schema(canonical.VALIDATED.field("quality_rules")),
        },
        ["score", "flags", "rules"],
    )


def _metadata() -> dict[str, Any]:
    """Return the ``metadata`` schema: lineage fields, schema version and the loading run."""
    lineage = dict.fromkeys(_METADATA_FIELDS)
    lineage.update(dict.fromkeys(LINEAGE))
    properties = {name: _field_schema(canonical.VALIDATED.field(name)) for name in lineage}
    # Lineage fields are written only for the sources whose descriptors list them: never required.
    required = [name for name in _METADATA_FIELDS if not canonical.VALIDATED.field(name).nullable]
    properties["schema_version"] = {"bsonType": "int", "minimum": 1}
    properties["digest"] = {"bsonType": "long", "minimum": 0}
    properties["run_id"] = {"bsonType": "string"}
    properties["ingested_at"] = {"bsonType": "date"}
    return _object(properties, [*required, "schema_version", "run_id", "ingested_at"])


def measurement_schema() -> dict[str, Any]:
    """Return the ``$jsonSchema`` of a ``weather_measurements`` document.

    An unknown measurement key, a unit other than the canonical one, a non-numeric value, a
    station without id/network/location or a missing top-level part is refused.
    """
    timestamp = _field_schema(canonical.VALIDATED.field("timestamp"))
    return _object(
        {
            "_id": {"bsonType": "string", "pattern": ID_PATTERN},
            "station": _station_fields(id_name="id", with_measurements=False),
            "timestamp": timestamp,
            "measurements": _measurements(),
            "data_quality": _data_quality(),
            "metadata": _metadata(),
        },
        ["_id", "station", "timestamp", "measurements", "data_quality", "metadata"],
        title="weather_measurements",
        description=f"generated from forecast.schema, schema version {canonical.SCHEMA_VERSION}",
    )


def station_schema() -> dict[str, Any]:
    """Return the ``$jsonSchema`` of a ``stations`` document (``_id`` = station id)."""
    spec = _station_fields(id_name="_id", with_measurements=True)
    spec["title"] = "stations"
    spec["description"] = "generated from forecast.schema.STATIONS"
    return spec


def _current_options(database: Database[Any], name: str) -> dict[str, Any] | None:
    """Return the collection's options, or None when it does not exist."""
    for info in database.list_collections(filter={"name": name}):
        return dict(info.get("options") or {})
    return None


def _set_validator(database: Database[Any], name: str, options: dict[str, Any]) -> str:
    current = _current_options(database, name)
    if current is None:
        try:
            database.create_collection(name, **options)
            return "created"
        except CollectionInvalid:  # created concurrently: compare with what is there now
            current = _current_options(database, name) or {}
    in_force = {
        "validator": current.get("validator"),
        "validationLevel": current.get("validationLevel", "strict"),
        "validationAction": current.get("validationAction", "error"),
    }
    if in_force == options:
        return "unchanged"
    database.command("collMod", name, **options)
    return "updated"


def apply_validator(
    database: Database[Any],
    name: str,
    schema: dict[str, Any],
    *,
    level: str = "strict",
    action: str = "error",
    uri: str = "",
) -> str:
    """Create collection ``name`` with the ``$jsonSchema`` validator, or bring it up to date.

    Idempotent: returns ``"created"``, ``"updated"`` (``collMod``) or ``"unchanged"`` when the
    stored validator, level and action already equal the wanted ones. ``uri`` is only used to
    remove credentials from error messages.

    Raises:
        TransientError: the server could not be reached; rerunning is safe.
        ConfigurationError: the server refused the validator or the command.
    """
    options = {
        "validator": {"$jsonSchema": schema},
        "validationLevel": level,
        "validationAction": action,
    }
    try:
        return _set_validator(database, name, options)
    except TRANSIENT as exc:
        raise TransientError(
            f"setting the validator of {database.name}.{name} failed: {scrub(str(exc), uri)}"
        ) from exc
    except OperationFailure as exc:
        raise ConfigurationError(
            f"the server refused the validator of {database.name}.{name}: {scrub(str(exc), uri)}"
        ) from exc


def apply_validators(
    client: MongoClient[Any], target: MongoTarget, *, level: str = "strict", action: str = "error"
) -> dict[str, str]:
    """Apply the measurement and station validators to ``target``'s collections.

    Returns what happened to each collection, keyed by collection name.
    """
    database: Database[Any] = client[target.database]
    wanted = {
        target.collection: measurement_schema(),
        target.stations_collection: station_schema(),
    }
    return {
        name: apply_validator(database, name, spec, level=level, action=action, uri=target.uri)
        for name, spec in wanted.items()
    }
