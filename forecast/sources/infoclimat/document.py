"""InfoClimat open-data JSON -> canonical observations and stations.

Quirks handled (see ../shared/data/raw/FORMATS.md §1): every value is a string or null; ``""``
means missing (``nebulosite``); synop-only keys are absent at static stations (the measurement is
then not provided by that station); ``hourly["_params"]`` is not a station; ``dh_utc`` is UTC
without an offset; a ``"0"`` wind direction with zero wind is calm, not north.

A record whose ``dh_utc`` is null, absent or not ``YYYY-MM-DD HH:MM:SS`` keeps its values with a
null timestamp and a parse error; records without any ``dh_utc`` at all fail the file. Units are
declared once in the metadata (a file declaring another unit is refused), so there are no
per-row unit errors.

Streaming (``parse_stream``): the file is read in blocks and decoded incrementally; the small
top-level members (``status``, ``errors``, ``stations``, ``metadata``) are decoded whole, the
``hourly`` object station by station and record by record, at most ``chunk_rows`` records at a
time becoming Arrow columns. Members may come in any order: the checks that need several of them
(shape, units, described stations) run once the whole document has been read. Every refusal is
the one ``parse`` of the whole content gave, in the same order of precedence (UTF-8, then JSON
syntax and strictness, then shape, units, records, stations), so an error may come after chunks
were handed to the sink: the caller discards them.

Memory is bounded by ``chunk_rows`` records and one block of text, plus the top-level members
decoded whole. Two departures from the real format cost more: a station whose records hold
JSON values other than strings and nulls is converted from its first such batch to its end in
one piece (its types are known only then), and a file whose records have inconsistent types is
read a second time, that station's records whole, to give the same message as ``pa.array``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc

from forecast.errors import SourceFormatError
from forecast.schema import MEASUREMENT_KEYS, OBSERVATIONS, STATIONS, conform
from forecast.sources import containers
from forecast.sources.common import (
    Chunks,
    ChunkSink,
    Parsed,
    RawFile,
    RawSource,
    StreamSummary,
    attach_lineage,
    collect,
)
from forecast.sources.containers import DATA, PREFIX, RECORD_IDS, Envelope
from forecast.sources.json_stream import JsonReader, JsonSyntaxError
from forecast.sources.limits import DEFAULT_LIMITS, Limits, check_size
from forecast.sources.streams import BLOCK_SIZE, NotUtf8, TextBlocks
from forecast.tables import collect_messages, constant, flags_where, messages_where, parse_numbers

NAME = "infoclimat"

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


_BOM_NOTE = "UTF-8 byte-order mark removed"


class _Refused(ValueError):
    """JSON that ``json`` would accept but the format does not (raised from its hooks)."""


def _refuse_constant(literal: str) -> float:
    raise _Refused(f"non-standard literal {literal} (JSON has no NaN or Infinity)")


def _duplicate(pairs: list[tuple[str, Any]], obj: Mapping[str, Any]) -> str:
    """Return the refusal of an object whose ``pairs`` repeat a key (``obj``: the last values)."""
    key = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    # Name the record when the object is one, so the duplicate can be found in the file.
    where = ", ".join(f"{n}={obj[n]!r}" for n in _NAMING if n in obj)
    return f"duplicate key {key!r} in an object" + (f" ({where})" if where else "")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Return the object, refusing a repeated key (``json`` would silently keep the last)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refused(_duplicate(pairs, obj))
    return obj


_NAMING = ("id_station", "dh_utc")  # the keys that name a record in a duplicate-key refusal


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
                    "network": NAME,
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


def _canonical(table: pa.Table, station_id: str, first_index: int) -> tuple[pa.Table, list[str]]:
    """Return records (one column per JSON key) as canonical columns and the fields present.

    ``first_index`` is the ``record_index`` of the table's first row within its station.
    """
    present = [field for field in FIELDS if field in table.column_names]
    length = table.num_rows
    dh_utc = (
        table.column("dh_utc").combine_chunks()
        if "dh_utc" in table.column_names
        else pa.nulls(length, pa.string())  # a batch of records without it: null, with errors
    )
    columns: dict[str, pa.Array] = {}
    columns["timestamp"], stamp_errors = _timestamps(dh_utc)
    errors: list[pa.Array] = [stamp_errors]
    for field in present:
        text = table.column(field).combine_chunks().cast(pa.string())
        columns[FIELDS[field]], bad = parse_numbers(text)
        errors.append(messages_where(bad, f"field {field!r} is not a number: ", text))
    columns["station_id"] = constant(station_id, length, pa.string())
    columns["record_index"] = pa.array(range(first_index, first_index + length), pa.int32())
    columns["parse_errors"] = collect_messages(errors, length)
    return pa.table(columns), present


def _records_table(records: list[Any], file: str, where: str) -> pa.Table:
    """Return records as a table with one column per key found in any of them.

    Raises:
        SourceFormatError: records that are not objects, or of inconsistent types.
    """
    if not all(isinstance(record, dict) for record in records):
        raise SourceFormatError("records must be JSON objects", file=file, field=where)
    try:
        # pa.array reads every record's keys; Table.from_pylist would keep only the first one's.
        return pa.Table.from_struct_array(pa.array(records))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SourceFormatError(
            f"inconsistent record types: {exc}", file=file, field=where
        ) from exc


def _station_observations(station_id: str, records: list[Any], file: str) -> pa.Table:
    """Return one station's records, read whole, as canonical columns.

    Raises:
        SourceFormatError: records that are not objects, of inconsistent types, or none of
            them with a ``dh_utc`` key.
    """
    where = f"hourly.{station_id}"
    table = _records_table(records, file, where)
    if "dh_utc" not in table.column_names:
        raise SourceFormatError("records have no 'dh_utc'", file=file, field=where)
    return _canonical(table, station_id, 0)[0]


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


def _finish(observations: pa.Table, source: RawSource, envelope: Envelope | None) -> pa.Table:
    """Return canonical columns of records as conformed observations with lineage (with an
    Airbyte record's: its line, id and extraction time)."""
    length = observations.num_rows
    for key in MEASUREMENT_KEYS:
        if key not in observations.column_names:
            observations = observations.append_column(key, pa.nulls(length, pa.float64()))
    if envelope is not None:
        for name, value, kind in (
            ("row", envelope.line, pa.int32()),
            ("record_id", envelope.record_id, pa.string()),
            ("extracted_at", envelope.extracted_at, pa.timestamp("ms", tz="UTC")),
        ):
            observations = observations.append_column(name, constant(value, length, kind))
    return conform(attach_lineage(_calm(observations), source, NAME), OBSERVATIONS)


def _only_text(table: pa.Table) -> bool:
    return all(pa.types.is_string(f.type) or pa.types.is_null(f.type) for f in table.schema)


# Errors of converting records with pa.array or casting their columns: deferred, never dropped
# (the station is converted whole, or read again to raise today's exact error).
_CONVERSION_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)


class _Station:
    """One ``hourly`` member's records, converted to observations batch by batch.

    In the real format every value is a string or null: each batch is converted on its own and
    queued at once, and the result is the same as converting the station whole. From the first
    batch holding other JSON values (numbers, booleans, objects), the station's records are kept
    and converted whole at its end, since Arrow infers a column's type from all its values.
    """

    def __init__(self, station_id: str, ordinal: int, parse: _StreamParse) -> None:
        self.id, self.ordinal, self._parse = station_id, ordinal, parse
        self.records = 0  # records read
        self._batch: list[Any] = []
        self._converted = 0  # records converted and queued
        self._present: set[str] = set()
        self._dated = False  # some record has a dh_utc key
        self._text_fields: set[str] = set()  # fields holding strings in the converted batches
        self._not_objects = False
        self._whole: list[Any] | None = None  # records kept for one conversion at the end

    def add(self, records: list[Any]) -> None:
        """Take the next records (at most ``chunk_rows``), converting full batches."""
        self.records += len(records)
        self._batch.extend(records)
        if len(self._batch) >= self._parse.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if self._not_objects or self._parse.failing:
            return
        if not all(isinstance(record, dict) for record in batch):
            self._not_objects = True
            return
        if self._whole is not None:
            self._whole.extend(batch)
            return
        try:
            table = pa.Table.from_struct_array(pa.array(batch))
        except _CONVERSION_ERRORS:
            self._whole = batch
            return
        if not _only_text(table):
            self._whole = batch
            return
        self._text_fields.update(f.name for f in table.schema if pa.types.is_string(f.type))
        self._queue(table)

    def _queue(self, table: pa.Table) -> None:
        canonical, present = _canonical(table, self.id, self._converted)
        finished = _finish(canonical, self._parse.source, self._parse.envelope())
        self._converted += table.num_rows
        self._present.update(present)
        self._dated = self._dated or "dh_utc" in table.column_names
        self._parse.chunks.add(finished)

    def _convert_whole(self, records: list[Any]) -> bool:
        """Convert and queue the kept records; False when that fails (or the whole would)."""
        try:
            table = pa.Table.from_struct_array(pa.array(records))
            for f in table.schema:  # strings before, something else now: pa.array fails
                kept_text = pa.types.is_null(f.type) or pa.types.is_string(f.type)
                if f.name in self._text_fields and not kept_text:
                    return False
            self._queue(table)
        except _CONVERSION_ERRORS:
            return False
        return True

    def finish(self) -> None:
        """Convert what is left and record the station's measurements, or its error."""
        if self._batch:
            self._flush()
        if not self.records or self._parse.failing:
            return
        where = f"hourly.{self.id}"
        file = self._parse.source.name
        if self._not_objects:
            self._parse.station_failed(
                SourceFormatError("records must be JSON objects", file=file, field=where)
            )
        elif self._whole is not None and not self._convert_whole(self._whole):
            self._parse.station_failed(self)  # read the station again for the exact error
        elif not self._dated:
            self._parse.station_failed(
                SourceFormatError("records have no 'dh_utc'", file=file, field=where)
            )
        else:
            self._parse.provided[self.id] = [FIELDS[f] for f in FIELDS if f in self._present]
        self._whole = None


_KEPT = frozenset({"status", "errors", "stations", "metadata", *_NAMING})
"""Top-level members decoded whole and kept (the others are read and dropped)."""


class _StreamParse:
    """One pass over an InfoClimat document: observations queued, the rest kept for checks.

    With ``replay`` set (a station's ordinal in ``hourly``), nothing is converted: that
    station's records are only collected, to convert them whole.
    """

    def __init__(
        self,
        source: RawSource,
        chunks: Chunks,
        chunk_rows: int,
        replay: int | None = None,
        *,
        line: int | None = None,
    ) -> None:
        self.source, self.chunks, self.chunk_rows = source, chunks, chunk_rows
        self.line = line  # an Airbyte record's line: its envelope's fields are kept
        self.max_bytes = DEFAULT_LIMITS.max_uncompressed_bytes  # a gzip object's content
        self.envelope_fields: dict[str, Any] = {}
        self.without_envelope = False  # rows were queued before the envelope was read
        self._data: Any = None  # _airbyte_data when it is not an object
        self.provided: dict[str, list[str]] = {}
        self.failing = False  # a station failed: the rest is only checked for JSON errors
        self._station_error: SourceFormatError | _Station | None = None
        self._top: dict[str, Any] = {}
        self._top_is_object = False
        self._hourly_is_object = False
        self._hourly_named: dict[str, Any] = {}  # hourly members named like record keys
        self._ordinal = 0
        self._replay = replay
        self.replayed: tuple[str, list[Any]] | None = None
        self._decoder = json.JSONDecoder(
            parse_constant=_refuse_constant, object_pairs_hook=_unique_keys
        )
        self._reader = JsonReader((), self._decoder)
        self.bom = False

    def envelope(self) -> Envelope | None:
        """The Airbyte record's envelope as read so far (None for a file)."""
        if self.line is None:
            return None
        fields = self.envelope_fields
        if not any(fields.get(k) for k in RECORD_IDS):
            self.without_envelope = True
            return Envelope(self.line)
        return containers.envelope(fields, self.line, self.source.name)

    def station_failed(self, error: SourceFormatError | _Station) -> None:
        if self._station_error is None:
            self._station_error = error
            self.failing = True
            self.chunks.halt()

    # ------------------------------------------------------------------------------ reading

    def read(self, stream: Any, block_size: int) -> None:
        """Read the whole document, raising its first JSON, UTF-8 or strictness error.

        Raises:
            NotUtf8, JsonSyntaxError, _Refused: as ``json.loads`` of the whole text would.
        """
        blocks = TextBlocks(stream, block_size)
        reader = self._reader = JsonReader(blocks, self._decoder)
        try:
            if reader.char(0) == "\ufeff":  # json.loads refuses a (second) BOM in the text
                raise reader.error("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
            end = self._document(reader.skip_ws(0))
            end = reader.skip_ws(end)
            if reader.char(end) != "":
                raise reader.error("Extra data", end)
        except _Refused:
            reader.finish(0)  # a later byte that is not UTF-8 wins, as when decoding first
            raise
        self.bom = blocks.bom

    def read_record(self, reader: JsonReader, pos: int) -> int:
        """Read the Airbyte record at ``pos`` (its ``{``) of a JSON Lines text: envelope fields
        kept, the document under ``_airbyte_data`` or beside them; return where it ends."""
        self._reader = reader
        keys, end = reader.members(pos, self._record_member)
        _refuse_duplicates(keys, self._top)
        return end

    def _record_member(self, key: str, pos: int) -> int:
        reader = self._reader
        if key == DATA:
            if reader.char(pos) == "{":
                return self._document(pos)
            self._data, end = reader.value(pos)
            return end
        if key.startswith(PREFIX):
            self.envelope_fields[key], end = reader.value(pos)
            return end
        self._top_is_object = True  # root-level flattening: the document's own member
        return self._top_member(key, pos)

    def take_document(self, document: Mapping[str, Any]) -> None:
        """Take a document decoded already (an Airbyte CSV or Parquet record's), member by
        member as a streamed one is read."""
        self._top_is_object = True
        for key, value in document.items():
            if key == "hourly":
                self._hourly_is_object = isinstance(value, dict)
                for member, records in value.items() if self._hourly_is_object else ():
                    self._hourly_records(member, records)
            elif key in _KEPT:
                self._top[key] = value

    def _hourly_records(self, key: str, records: Any) -> None:
        ordinal = self._ordinal
        self._ordinal += 1
        if key in NOT_STATIONS:
            return
        if not isinstance(records, list):
            self.station_failed(
                SourceFormatError(
                    "expected a list of records", file=self.source.name, field=f"hourly.{key}"
                )
            )
            return
        station = _Station(key, ordinal, self)
        for start in range(0, len(records), self.chunk_rows):
            station.add(records[start : start + self.chunk_rows])
        station.finish()

    def _document(self, pos: int) -> int:
        reader = self._reader
        first = reader.char(pos)
        if first == "[":
            return reader.skip_value(pos)
        if first != "{":
            return reader.value(pos)[1]
        self._top_is_object = True
        keys, end = reader.members(pos, self._top_member)
        _refuse_duplicates(keys, self._top)
        return end

    def _top_member(self, key: str, pos: int) -> int:
        reader = self._reader
        if key == "hourly":
            self._hourly_is_object = reader.char(pos) == "{"
            if not self._hourly_is_object:
                return reader.skip_value(pos)
            keys, end = reader.members(pos, self._hourly_member)
            _refuse_duplicates(keys, self._hourly_named)
            return end
        if key in _KEPT and self._replay is None:
            self._top[key], end = reader.value(pos)
            return end
        return reader.skip_value(pos)

    def _hourly_member(self, key: str, pos: int) -> int:
        reader = self._reader
        ordinal = self._ordinal
        self._ordinal += 1
        if key in NOT_STATIONS:
            return reader.skip_value(pos)
        named = key in _NAMING
        if reader.char(pos) != "[":
            value, end = reader.value(pos)
            if named:
                self._hourly_named[key] = value
            self.station_failed(
                SourceFormatError(
                    "expected a list of records", file=self.source.name, field=f"hourly.{key}"
                )
            )
            return end
        if self._replay is not None:
            if ordinal != self._replay:
                return reader.skip_value(pos)
            self.replayed = (key, [])
            return reader.items(pos, self.replayed[1].extend, self.chunk_rows)
        station = _Station(key, ordinal, self)
        take = station.add
        if named:  # kept whole for a duplicate-key refusal that names it (never in practice)
            kept: list[Any] = []
            self._hourly_named[key] = kept

            def take(records: list[Any]) -> None:
                kept.extend(records)
                station.add(records)

        end = reader.items(pos, take, self.chunk_rows)
        station.finish()
        return end

    # ------------------------------------------------------------------------------ checks

    def summary(self, drift: tuple[str, ...]) -> StreamSummary:
        """Run the checks that need the whole document, then hand over the last chunk.

        Raises:
            SourceFormatError: wrong shape, unit, records or stations, in that order.
        """
        stations = self.stations()
        self.chunks.close()
        return StreamSummary(stations, drift, self.chunks.handed, tuple(self.provided))

    def stations(self) -> pa.Table:
        """Run the checks that need the whole document and return its stations.

        Raises:
            SourceFormatError: wrong shape, unit, records or stations, in that order.
        """
        file = self.source.name
        if self._data is not None:
            raise SourceFormatError(
                f"the record must be a JSON object, not {type(self._data).__name__}", file=file,
                field=DATA,
            )  # fmt: skip
        if not self._top_is_object:
            raise SourceFormatError("top level is not a JSON object", file=file)
        document: dict[str, Any] = {key: self._top[key] for key in ("status", "errors", "stations", "metadata")
                    if key in self._top}  # fmt: skip
        if self._hourly_is_object:
            document["hourly"] = {}  # its members were read as they came
        _check_shape(document, file)
        _check_units(document["metadata"], file)
        error = self._station_error
        if isinstance(error, _Station):
            if self.line is None:
                _replay(self.source, error, self.chunk_rows, self.max_bytes)
            error = SourceFormatError(
                "inconsistent record types", file=file, field=f"hourly.{error.id}"
            )
        if error is not None:
            raise error
        return _station_rows(document, self.provided, file)


def _refuse_duplicates(keys: list[str], named: Mapping[str, Any]) -> None:
    """Refuse an object read member by member whose ``keys`` repeat (as ``_unique_keys``)."""
    if len(set(keys)) != len(keys):
        raise _Refused(_duplicate([(key, None) for key in keys], named))


def _replay(source: RawSource, station: _Station, chunk_rows: int, max_bytes: int) -> NoReturn:
    """Read ``station``'s records again, whole, and raise what converting them raises."""
    parse = _StreamParse(source, Chunks(lambda _: None, chunk_rows), chunk_rows, station.ordinal)
    with source.content(max_bytes) as stream:
        parse.read(stream, BLOCK_SIZE)
    station_id, records = parse.replayed or (station.id, [])
    _station_observations(station_id, records, source.name)
    # Not reached when the batches were right that the whole fails; never pass silently.
    raise SourceFormatError(
        "inconsistent record types", file=source.name, field=f"hourly.{station.id}"
    )


def parse_stream(
    source: RawSource,
    sink: ChunkSink,
    *,
    limits: Limits = DEFAULT_LIMITS,
    chunk_rows: int = 20_000,
    block_size: int = BLOCK_SIZE,
    streams: Mapping[str, str] | None = None,
) -> StreamSummary:
    """Parse InfoClimat open-data JSON, handing its observations to ``sink`` in chunks.

    A file holds one document; an Airbyte object one per record (the File source emits a whole
    document as one record), each document's rows with its record's line, id and extraction
    time. The chunks, in order, are ``parse``'s observations row for row; each holds at most
    ``chunk_rows`` rows (one or several stations). A file or JSON Lines object is read
    ``block_size`` bytes at a time and at most ``chunk_rows`` records are held as Python
    objects, whatever the length of a line (see the module notes); an Airbyte CSV or Parquet
    record is decoded whole.

    Args:
        source: The object's identity, container and how to open its bytes.
        sink: Receives each chunk, conformed to ``OBSERVATIONS``, with lineage.
        limits: ``max_file_bytes`` (to ``source.size``) and ``max_uncompressed_bytes`` (a
            gzip object's content).
        chunk_rows: Most rows in one chunk.
        block_size: Most bytes asked of the stream per read.
        streams: Not used: InfoClimat documents name their stations.

    Returns:
        The stations, drift notes (a removed UTF-8 byte-order mark) and rows handed over.

    Raises:
        SourceFormatError: as ``parse`` (an Airbyte record's names its line). It may come
            after chunks were handed to ``sink`` (an error at the end of the file is only found
            there): discard them.
    """
    check_size(source.name, source.size, limits)
    chunks = Chunks(sink, chunk_rows)
    if source.container.kind == containers.JSONL:
        return _json_lines(source, chunks, chunk_rows, block_size, limits)
    if source.container.airbyte:
        return _decoded_records(source, chunks, chunk_rows, limits)
    parse = _StreamParse(source, chunks, chunk_rows)
    parse.max_bytes = limits.max_uncompressed_bytes
    with _json_errors(source.name), source.content(limits.max_uncompressed_bytes) as stream:
        parse.read(stream, block_size)
    return parse.summary((_BOM_NOTE,) if parse.bom else ())


@contextmanager
def _json_errors(file: str) -> Iterator[None]:
    """Turn what the streamed JSON reading raises into a located ``SourceFormatError``."""
    try:
        yield
    except NotUtf8 as exc:
        raise SourceFormatError(f"not valid JSON: not UTF-8 text, {exc}", file=file) from exc
    except JsonSyntaxError as exc:
        ended = " (the content ends early: truncated?)" if exc.at_end else ""
        raise SourceFormatError(
            f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}{ended}",
            file=file,
        ) from exc
    except _Refused as exc:
        raise SourceFormatError(f"not valid JSON: {exc}", file=file) from exc


def _merged(parsed: list[tuple[pa.Table, list[str]]], chunks: Chunks) -> StreamSummary:
    """The summary of an object's documents: their stations (a station described twice: its
    last description), every station provided, the rows handed over."""
    chunks.close()
    tables = [table for table, _ in parsed]
    stations = pa.concat_tables(tables) if tables else STATIONS.empty_table()
    ids = stations.column("station_id").to_pylist()
    last = sorted({station: index for index, station in enumerate(ids)}.values())
    provided = tuple(dict.fromkeys(s for _, found in parsed for s in found))
    return StreamSummary(stations.take(last), (), chunks.handed, provided)


def _json_lines(
    source: RawSource, chunks: Chunks, chunk_rows: int, block_size: int, limits: Limits
) -> StreamSummary:
    """Parse an Airbyte JSON Lines object: one document per record, each streamed."""
    decoder = json.JSONDecoder(parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    parsed: list[tuple[pa.Table, list[str]]] = []
    with _json_errors(source.name), source.content(limits.max_uncompressed_bytes) as stream:
        reader = JsonReader(TextBlocks(stream, block_size), decoder)
        pos = reader.skip_ws(0)
        while reader.char(pos) != "":
            line = reader.line_of(pos)
            if reader.char(pos) != "{":
                raise reader.error("Expecting an Airbyte record (a JSON object)", pos)
            document = _StreamParse(source, chunks, chunk_rows, line=line)
            pos = reader.skip_ws(document.read_record(reader, pos))
            parsed.append(_document_stations(document, line))
    return _merged(parsed, chunks)


def _decoded_records(
    source: RawSource, chunks: Chunks, chunk_rows: int, limits: Limits
) -> StreamSummary:
    """Parse an Airbyte CSV or Parquet object: one document per record, decoded whole.

    Raises:
        SourceFormatError: a Parquet object (refused: its schema gives every record every
            field, so a station's absent measurements come back as nulls, and which measurements
            a static station does not report is lost).
    """
    if source.container.kind == containers.PARQUET:
        raise SourceFormatError(
            "an InfoClimat document in Airbyte's Parquet format is not read: Parquet gives "
            "every record every field, so which measurements a station does not report "
            "(absent keys) is lost; choose JSON Lines or CSV as the S3 destination's format",
            file=source.name,
        )
    parsed: list[tuple[pa.Table, list[str]]] = []
    with source.content(limits.max_uncompressed_bytes) as stream:
        found = containers.records(
            stream, source.container, source.name, max_record_bytes=limits.max_file_bytes
        )
        for record in found:
            document = _StreamParse(source, chunks, chunk_rows, line=record.envelope.line)
            document.envelope_fields.update(_envelope_fields(record.envelope))
            document.take_document(record.fields)
            parsed.append(_document_stations(document, record.envelope.line))
    return _merged(parsed, chunks)


def _envelope_fields(envelope: Envelope) -> dict[str, Any]:
    """The envelope fields that give ``envelope`` back (a decoded record's)."""
    at = envelope.extracted_at
    return {
        RECORD_IDS[0]: envelope.record_id,
        containers.EXTRACTED_AT[0]: None if at is None else int(at.timestamp() * 1000),
    }


def _document_stations(document: _StreamParse, line: int) -> tuple[pa.Table, list[str]]:
    """Check one record's document; return its stations and the stations it provided.

    Raises:
        SourceFormatError: the document's, located at the record's line.
    """
    try:
        stations = document.stations()
    except SourceFormatError as exc:
        raise exc.at_row(line) from exc
    if document.without_envelope:
        raise SourceFormatError(
            "the record's data comes before its envelope (_airbyte_raw_id): its rows cannot "
            "name their record",
            file=document.source.name, row=line,
        )  # fmt: skip
    return stations, list(document.provided)


def parse(raw: RawFile, *, limits: Limits = DEFAULT_LIMITS) -> Parsed:
    """Parse an InfoClimat open-data JSON file into canonical observations and stations.

    ``parse_stream`` over the bytes in memory, its chunks concatenated.

    Args:
        raw: The file's bytes and identity.
        limits: Resource limits (only ``max_file_bytes`` applies to JSON).

    Returns:
        Observations, stations, and drift notes (a removed UTF-8 byte-order mark).

    Raises:
        SourceFormatError: the file is over a limit, not strict UTF-8 JSON (NaN/Infinity
            literals, duplicate keys) or not the InfoClimat structure (names file and field).
    """
    return collect(parse_stream, raw, limits=limits)
