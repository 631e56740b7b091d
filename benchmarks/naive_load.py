"""The naive baseline of ``make bench``: what a first script would do, in plain idiomatic Python.

``json.load`` and ``openpyxl`` row loops build one dict per observation, shaped like the
pipeline's documents (same ``_id``, station, measurements with units, data_quality and metadata
fields), then ``insert_many`` in batches of 5,000 documents. No validation, no quarantine, no
idempotency (a rerun fails on duplicate keys), no reconciliation, no gold, no reports.

``--indexes seed`` first creates the three indexes the seed's loader made (unique station.id +
timestamp, station.network + timestamp, 2dsphere on every measurement's
``station.location_geo``); ``--indexes none`` leaves only ``_id``.

Usage: python benchmarks/naive_load.py LANDING_DIR MONGO_URI DATABASE --indexes seed|none
Prints one JSON line: documents, parse seconds, insert seconds, total seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pymongo

BATCH = 5_000
REGISTRY = Path(__file__).resolve().parents[1] / "forecast" / "data" / "stations.toml"
IC_FIELDS = {  # InfoClimat key -> (measurement, unit)
    "temperature": ("temperature", "degC"), "pression": ("pressure", "hPa"),
    "humidite": ("humidity", "%"), "point_de_rosee": ("dew_point", "degC"),
    "visibilite": ("visibility", "m"), "vent_moyen": ("wind_speed", "km/h"),
    "vent_rafales": ("wind_gust", "km/h"), "vent_direction": ("wind_direction", "deg"),
    "pluie_3h": ("precip_3h", "mm"), "pluie_1h": ("precip_1h", "mm"),
    "neige_au_sol": ("snow_depth", "cm"), "nebulosite": ("cloud_cover", "okta"),
    "temps_omm": ("weather_code", "WMO ww"),
}  # fmt: skip
COMPASS = ["North", "NNE", "NE", "ENE", "East", "ESE", "SE", "SSE",
           "South", "SSW", "SW", "WSW", "West", "WNW", "NW", "NNW"]  # fmt: skip
CORE = ("temperature", "humidity", "pressure", "wind_speed")


def number(text):
    if text is None or text == "":
        return None
    return float(str(text).split("\xa0")[0])


def score(measurements):
    missing = sum(1 for key in CORE if key in measurements and measurements[key]["value"] is None)
    return 100.0 - 5 * missing


def infoclimat_documents(path, run_id, now):
    content = path.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    document = json.loads(content)
    stations = {s["id"]: s for s in document["stations"]}
    for station_id, records in document["hourly"].items():
        if station_id == "_params":
            continue
        meta = stations[station_id]
        station = {
            "id": station_id, "name": meta["name"], "network": "infoclimat", "type": meta["type"],
            "location_geo": {"type": "Point", "coordinates": [meta["longitude"], meta["latitude"]]},
            "elevation_m": float(meta["elevation"]), "timezone": "UTC", "city": meta["name"],
            "country": "FR", "license": meta["license"]["license"],
            "license_url": meta["license"]["url"], "attribution": meta["license"]["source"],
        }  # fmt: skip
        for index, record in enumerate(records):
            when = datetime.strptime(record["dh_utc"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            measurements = {}
            for key, (name, unit) in IC_FIELDS.items():
                if key in record:
                    measurements[name] = {"value": number(record[key]), "unit": unit}
            yield {
                "_id": f"{station_id}:{when:%Y-%m-%dT%H:%M:%S}.000Z", "station": station,
                "timestamp": when, "measurements": measurements,
                "data_quality": {"score": score(measurements), "flags": [], "rules": []},
                "metadata": {"source": "infoclimat", "raw_key": path.name, "raw_sha256": sha,
                             "source_file": path.name, "record_index": index,
                             "schema_version": 1, "run_id": run_id, "ingested_at": now},
            }  # fmt: skip


def wunderground_documents(path, run_id, now):
    registry = tomllib.loads(REGISTRY.read_text())["wunderground"]
    meta = next(s for s in registry if s["file_stem"] == path.stem.replace("+", " "))
    zone = ZoneInfo(meta["timezone"])
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    station = {
        "id": meta["id"], "name": meta["name"], "network": "wunderground", "type": meta["type"],
        "location_geo": {"type": "Point", "coordinates": [meta["longitude"], meta["latitude"]]},
        "elevation_m": float(meta["elevation_m"]), "timezone": meta["timezone"],
        "city": meta["city"], "country": meta["country"],
    }  # fmt: skip
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    for sheet in workbook.worksheets:
        day = datetime.strptime(sheet.title, "%d%m%y")
        for row_number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if row_number == 1 or row[0] is None:
                continue
            local = datetime.combine(day.date(), row[0]).replace(tzinfo=zone)
            when = local.astimezone(UTC)
            f_temp, f_dew = number(row[1]), number(row[2])
            direction = COMPASS.index(row[4]) * 22.5 if row[4] else None
            values = {
                "temperature": (None if f_temp is None else (f_temp - 32) * 5 / 9, "degC"),
                "dew_point": (None if f_dew is None else (f_dew - 32) * 5 / 9, "degC"),
                "humidity": (number(row[3]), "%"), "wind_direction": (direction, "deg"),
                "wind_speed": (number(row[5]) * 1.609344, "km/h"),
                "wind_gust": (number(row[6]) * 1.609344, "km/h"),
                "pressure": (number(row[7]) * 33.8639, "hPa"),
                "precip_rate": (number(row[8]) * 25.4, "mm/h"),
                "precip_accum": (number(row[9]) * 25.4, "mm"),
                "uv_index": (number(row[10]), "index"), "solar_radiation": (number(row[11]), "W/m2"),
            }  # fmt: skip
            measurements = {k: {"value": v, "unit": u} for k, (v, u) in values.items()}
            yield {
                "_id": f"{meta['id']}:{when:%Y-%m-%dT%H:%M:%S}.000Z", "station": station,
                "timestamp": when, "measurements": measurements,
                "data_quality": {"score": score(measurements), "flags": [], "rules": []},
                "metadata": {"source": "wunderground", "raw_key": path.name, "raw_sha256": sha,
                             "source_file": path.name, "sheet": sheet.title, "row": row_number,
                             "schema_version": 1, "run_id": run_id, "ingested_at": now},
            }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("landing", type=Path)
    parser.add_argument("uri")
    parser.add_argument("database")
    parser.add_argument("--indexes", choices=("seed", "none"), required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    documents = []
    for path in sorted(args.landing.rglob("*")):
        if path.suffix == ".json":
            documents.extend(infoclimat_documents(path, "naive", now))
        elif path.suffix == ".xlsx":
            documents.extend(wunderground_documents(path, "naive", now))
    parsed = time.perf_counter()
    collection = pymongo.MongoClient(args.uri)[args.database]["weather_measurements"]
    if args.indexes == "seed":
        collection.create_index([("station.id", 1), ("timestamp", 1)], unique=True)
        collection.create_index([("station.network", 1), ("timestamp", 1)])
        collection.create_index([("station.location_geo", "2dsphere")])
    for start in range(0, len(documents), BATCH):
        collection.insert_many(documents[start : start + BATCH], ordered=False)
    done = time.perf_counter()
    result = {
        "documents": len(documents),
        "parse_s": round(parsed - started, 2),
        "insert_s": round(done - parsed, 2),
        "total_s": round(done - started, 2),
        "stored": collection.estimated_document_count(),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
