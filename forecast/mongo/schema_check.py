"""A collection's ``$jsonSchema`` validator evaluated on the client, on whole Arrow columns.

The loader checks the documents it is about to write against the validator the collection holds
*now* (read from the server before each load), then writes with ``bypassDocumentValidation`` so
that the server does not check them one by one a second time: on SecantusDB that re-check parses
the whole schema again for every document and costs more than the write itself (measured: an
``insert_many`` of weather documents 1.3k docs/s validated by the server, 2.9k bypassed). The
validator stays on the collection, so every other writer is still checked by the server.

The keywords the generated validators use are evaluated here (``bsonType``, ``enum``,
``required``, ``properties``, ``additionalProperties``, ``pattern``, ``minimum``/``maximum`` and
their exclusive forms, ``minItems``/``maxItems``, ``items``, ``title``, ``description``) with
MongoDB's semantics for the documents pymongo encodes from Arrow rows (an Arrow null is a BSON
null, a field missing from the struct type is an absent key, an int64 is an ``int`` when it fits
in 32 bits). Any other keyword raises ``UnsupportedSchema``, and the loader lets the server
validate instead. No driver import: this module is pure pyarrow/numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SUPPORTED = frozenset(
    {
        "bsonType", "enum", "required", "properties", "additionalProperties", "pattern",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
        "items", "title", "description",
    }
)  # fmt: skip
_NUMBER = frozenset({"double", "int", "long", "decimal"})
_INT32 = (-(2**31), 2**31 - 1)


class UnsupportedSchema(ValueError):
    """The validator uses a keyword or construct this module does not evaluate."""


@dataclass(frozen=True)
class Violations:
    """Which rows break the schema, and the first broken rule of each (None where valid)."""

    failed: np.ndarray
    reasons: list[str | None]

    @property
    def count(self) -> int:
        """Number of rows that break the schema."""
        return int(self.failed.sum())


def _bson_types(values: pa.Array) -> list[tuple[str, np.ndarray]]:
    """Return (BSON type name, row mask) for the non-null values of a column."""
    kind = values.type
    valid = np.asarray(pc.is_valid(values))
    if pa.types.is_null(kind):
        return []
    if pa.types.is_floating(kind):
        return [("double", valid)]
    if pa.types.is_integer(kind):
        if kind.bit_width < 64:
            return [("int", valid)]
        small = np.asarray(
            pc.fill_null(pc.and_(pc.greater_equal(values, _INT32[0]), pc.less_equal(values, _INT32[1])), False)
        )  # fmt: skip
        return [("int", valid & small), ("long", valid & ~small)]
    names = {
        pa.types.is_string: "string", pa.types.is_large_string: "string",
        pa.types.is_boolean: "bool", pa.types.is_timestamp: "date", pa.types.is_date: "date",
        pa.types.is_list: "array", pa.types.is_large_list: "array", pa.types.is_struct: "object",
        pa.types.is_binary: "binData",
    }  # fmt: skip
    for test, name in names.items():
        if test(kind):
            return [(name, valid)]
    raise UnsupportedSchema(f"no BSON type is known for the Arrow type {kind}")


def _allowed(spec: Any) -> set[str]:
    names = spec if isinstance(spec, list) else [spec]
    allowed = set(names)
    if "number" in allowed:
        allowed |= _NUMBER
    return allowed


class _Checker:
    """Collects (rows, message) for every rule a column breaks, in schema order."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.found: list[tuple[np.ndarray, str]] = []

    def fail(self, mask: np.ndarray, message: str) -> None:
        if mask.any():
            self.found.append((mask, message))

    def check(self, spec: Mapping[str, Any], values: pa.Array, rows: np.ndarray, path: str) -> None:
        """Check ``values`` (one per row of ``rows``, the positions in the document array)."""
        unknown = set(spec) - SUPPORTED
        if unknown:
            raise UnsupportedSchema(f"{path or 'document'}: keywords {sorted(unknown)}")
        here = path or "document"
        nulls = np.asarray(pc.is_null(values))
        if "bsonType" in spec:
            self._types(spec["bsonType"], values, rows, nulls, here)
        if "enum" in spec:
            self._enum(spec["enum"], values, rows, nulls, here)
        kind = values.type
        if pa.types.is_struct(kind):
            self._object(spec, values, rows, nulls, path)
        elif pa.types.is_string(kind) and "pattern" in spec:
            self._pattern(spec["pattern"], values, rows, here)
        elif pa.types.is_floating(kind) or pa.types.is_integer(kind):
            self._bounds(spec, values, rows, here)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            self._array(spec, values, rows, path)

    def _types(
        self, names: Any, values: pa.Array, rows: np.ndarray, nulls: np.ndarray, here: str
    ) -> None:
        allowed = _allowed(names)
        wrong = nulls.copy() if "null" not in allowed else np.zeros(len(values), bool)
        for name, mask in _bson_types(values):
            if name not in allowed:
                wrong |= mask
        self._add(rows, wrong, f"{here}: type is not {sorted(allowed)}")

    def _pattern(self, pattern: str, values: pa.Array, rows: np.ndarray, here: str) -> None:
        try:
            matched = pc.match_substring_regex(values, pattern)
        except pa.ArrowInvalid as exc:
            raise UnsupportedSchema(f"{here}: pattern {pattern!r}: {exc}") from exc
        self._add(
            rows, ~np.asarray(pc.fill_null(matched, True)), f"{here}: does not match /{pattern}/"
        )

    def _add(self, rows: np.ndarray, mask: np.ndarray, message: str) -> None:
        if mask.any():
            full = np.zeros(self.length, bool)
            full[rows[mask]] = True
            self.fail(full, message)

    def _enum(
        self, options: list[Any], values: pa.Array, rows: np.ndarray, nulls: np.ndarray, here: str
    ) -> None:
        listed = [o for o in options if o is not None]
        inside = np.zeros(len(values), bool)
        if listed and not (pa.types.is_struct(values.type) or pa.types.is_list(values.type)):
            try:
                inside = np.asarray(
                    pc.fill_null(pc.is_in(values, value_set=pa.array(listed)), False)
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                inside = np.zeros(len(values), bool)  # no value of this type is listed
        allowed = inside | (nulls if None in options else np.zeros(len(values), bool))
        self._add(rows, ~allowed, f"{here}: value is not one of {options}")

    def _bounds(
        self, spec: Mapping[str, Any], values: pa.Array, rows: np.ndarray, here: str
    ) -> None:
        for key, strict, test in (
            ("minimum", "exclusiveMinimum", pc.less),
            ("maximum", "exclusiveMaximum", pc.greater),
        ):
            if key not in spec:
                continue
            bound = spec[key]
            outside = test(values, bound)
            if spec.get(strict) is True:
                outside = pc.or_(outside, pc.equal(values, bound))
            word = "below" if key == "minimum" else "above"
            self._add(
                rows, np.asarray(pc.fill_null(outside, False)), f"{here}: {word} the {key} {bound}"
            )

    def _object(
        self,
        spec: Mapping[str, Any],
        values: pa.Array,
        rows: np.ndarray,
        nulls: np.ndarray,
        path: str,
    ) -> None:
        present = {values.type.field(i).name: i for i in range(values.type.num_fields)}
        valid = ~nulls
        for name in spec.get("required", []):
            if name not in present:
                self._add(rows, valid, f"{path + '.' if path else ''}{name}: required but absent")
        properties = spec.get("properties", {})
        extra_spec = spec.get("additionalProperties", True)
        for name, index in present.items():
            child_path = f"{path}.{name}" if path else name
            child = (
                values.field(index).filter(pa.array(valid)) if nulls.any() else values.field(index)
            )
            child_rows = rows[valid] if nulls.any() else rows
            if name in properties:
                self.check(properties[name], child, child_rows, child_path)
            elif extra_spec is False:
                self._add(child_rows, np.ones(len(child), bool), f"{child_path}: field not allowed")
            elif isinstance(extra_spec, Mapping):
                self.check(extra_spec, child, child_rows, child_path)

    def _array(
        self, spec: Mapping[str, Any], values: pa.Array, rows: np.ndarray, path: str
    ) -> None:
        lengths = np.asarray(pc.fill_null(pc.list_value_length(values), 0))
        here = path or "document"
        if "minItems" in spec:
            self._add(
                rows,
                (lengths < spec["minItems"]) & np.asarray(pc.is_valid(values)),
                f"{here}: fewer than {spec['minItems']} items",
            )
        if "maxItems" in spec:
            self._add(
                rows, lengths > spec["maxItems"], f"{here}: more than {spec['maxItems']} items"
            )
        items = spec.get("items")
        if isinstance(items, list):
            raise UnsupportedSchema(f"{here}: tuple-form items")
        if isinstance(items, Mapping):
            flat = pc.list_flatten(values)
            parents = np.asarray(pc.list_parent_indices(values)).astype(np.int64)
            self.check(items, flat, rows[parents], f"{here}[]")

    def violations(self) -> Violations:
        failed = np.zeros(self.length, bool)
        reasons: list[str | None] = [None] * self.length
        for mask, message in self.found:
            for row in np.flatnonzero(mask & ~failed):
                reasons[row] = message
            failed |= mask
        return Violations(failed, reasons)


def check_documents(schema: Mapping[str, Any], documents: pa.StructArray) -> Violations:
    """Return which documents (one per struct row) break ``schema``, with the first broken rule.

    Raises:
        UnsupportedSchema: the schema uses a keyword or construct not evaluated here.
    """
    checker = _Checker(len(documents))
    checker.check(schema, documents, np.arange(len(documents)), "")
    return checker.violations()


def require_supported(schema: Any, path: str = "") -> None:
    """Raise ``UnsupportedSchema`` unless every (sub-)schema uses only ``SUPPORTED`` keywords."""
    if not isinstance(schema, Mapping):
        raise UnsupportedSchema(f"{path or 'document'}: a schema must be an object")
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise UnsupportedSchema(f"{path or 'document'}: keywords {sorted(unknown)}")
    for name, sub in (schema.get("properties") or {}).items():
        require_supported(sub, f"{path}.{name}" if path else name)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        require_supported(extra, f"{path}.*")
    items = schema.get("items")
    if isinstance(items, list):
        raise UnsupportedSchema(f"{path or 'document'}: tuple-form items")
    if isinstance(items, Mapping):
        require_supported(items, f"{path}[]")


def json_schema_of(validator: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Return the ``$jsonSchema`` of a collection's validator, None when it has none.

    Raises:
        UnsupportedSchema: the validator holds query operators besides ``$jsonSchema``.
    """
    if not validator:
        return None
    if set(validator) != {"$jsonSchema"}:
        raise UnsupportedSchema(f"validator operators {sorted(validator)} besides $jsonSchema")
    schema = validator["$jsonSchema"]
    require_supported(schema)
    return schema
