"""Benchmark of the MongoDB load against plain ``insert_many`` on the same server, same run.

Starts a throw-away SecantusDB (on-disk, a free port), prepares two databases identically
(indexes, ``$jsonSchema`` validators) and writes the real files' 4,950 documents:

- ``loader``: the pipeline's load (bulk BSON encoding, batches by count and bytes, unordered
  upserts with ``w="majority", j=True``, per-batch retry), then its reconciliation;
- ``insert_many``: the same documents, ready-made (``_id``, ``$set`` and ``$setOnInsert`` bodies
  nested), in one unordered ``insert_many`` with the same write concern.

Prints documents per second for each. SecantusDB maintains indexes far more slowly than mongod,
so the absolute figures are not production figures; the ratio is the point.

Usage: make bench-mongo  (or .venv/bin/python benchmarks/bench_mongo.py [RAW_DIR])
"""

from __future__ import annotations

import hashlib
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from forecast import mongo
from forecast.documents import RunContext, nested, write_plan
from forecast.ingest import discover
from forecast.localstack import LocalMongo
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.validate import validate

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw"
PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}


def plans(directory: Path) -> tuple[list, pa.Table]:
    files, _ = discover(directory)
    parsed = []
    for landing in files:
        content = Path(landing.location).read_bytes()
        raw = RawFile(landing.name, content, landing.name, hashlib.sha256(content).hexdigest())
        parsed.append(PARSERS[landing.source](raw))
    observations = pa.concat_tables([p.observations for p in parsed])
    stations = pa.concat_tables([p.stations for p in parsed])
    valid = validate(observations, stations=stations).valid
    return write_plan(valid, stations, RunContext("bench", datetime.now(UTC))), stations


def ready_documents(all_plans: list) -> list[dict]:
    documents = []
    for plan in all_plans:
        for _id, body, first in zip(plan.ids.to_pylist(), plan.set_fields.to_pylist(),
                                    plan.insert_fields.to_pylist(), strict=True):  # fmt: skip
            documents.append({"_id": _id, **nested({**body, **first})})
    return documents


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else RAW
    all_plans, _ = plans(directory)
    documents = ready_documents(all_plans)
    out = sys.stdout
    with tempfile.TemporaryDirectory() as home:
        server = LocalMongo(Path(home), port=free_port())
        uri = server.start()
        try:
            loader = mongo.MongoTarget(uri=uri, database="bench_loader")
            plain = mongo.MongoTarget(uri=uri, database="bench_insert_many")
            with mongo.connect(loader) as client:
                mongo.prepare(client, loader)
                mongo.prepare(client, plain)
                started = time.perf_counter()
                counts = mongo.load(client, loader, all_plans)
                load_s = time.perf_counter() - started
                started = time.perf_counter()
                check = mongo.reconcile(client, loader, all_plans)
                reconcile_s = time.perf_counter() - started
                collection = client[plain.database][plain.collection].with_options(
                    write_concern=plain.write_concern()
                )
                started = time.perf_counter()
                collection.insert_many(documents, ordered=False)
                insert_s = time.perf_counter() - started
        finally:
            server.stop()
    n = counts.input
    out.write(f"loader       {n} docs in {load_s:6.2f} s = {n / load_s:8.0f} docs/s "
              f"({counts.batches} batches, {counts.inserted} inserted, {counts.failed} failed)\n")  # fmt: skip
    out.write(f"reconcile    {check.checked} docs in {reconcile_s:6.2f} s = "
              f"{check.checked / reconcile_s:8.0f} docs/s (ok: {check.ok})\n")  # fmt: skip
    out.write(f"insert_many  {len(documents)} docs in {insert_s:6.2f} s = "
              f"{len(documents) / insert_s:8.0f} docs/s (ready documents, same server, same setup)\n")  # fmt: skip
    out.write(f"ratio        loader / insert_many = {insert_s / load_s:.2f}\n")
    return 0 if check.ok and counts.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
