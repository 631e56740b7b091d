"""CRUD probe: create, read, update and delete one document in a scratch collection.

``crud_check`` proves a target accepts writes and reads them back, with the connection's own
write concern, without touching the measurement or station collections. Each step's failure is
reported, not raised; the probe document is always deleted and the scratch collection dropped
when nothing else is left in it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from forecast.errors import ConfigurationError
from forecast.mongo.client import MongoTarget, scrub
from forecast.mongo.latency import DAILY_COLLECTION

PROBE_COLLECTION = "_forecast_crud_probe"
STEPS = ("create", "read", "update", "delete")

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass(frozen=True)
class CrudStep:
    """The outcome of one CRUD step: ``ok``, ``failed`` or ``skipped``, its time and detail."""

    name: str
    result: str
    ms: float
    detail: str

    @property
    def ok(self) -> bool:
        """True when the step succeeded and its effect was read back."""
        return self.result == OK


@dataclass(frozen=True)
class CrudReport:
    """What ``crud_check`` did, step by step."""

    database: str
    collection: str
    probe_id: str
    steps: tuple[CrudStep, ...]
    dropped: bool

    @property
    def ok(self) -> bool:
        """True when all four steps succeeded."""
        return len(self.steps) == len(STEPS) and all(step.ok for step in self.steps)

    def to_rows(self) -> list[dict[str, Any]]:
        """Return one row per step: step, result, ms, detail."""
        return [
            {"step": s.name, "result": s.result, "ms": round(s.ms, 3), "detail": s.detail}
            for s in self.steps
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready report."""
        return {
            "ok": self.ok,
            "database": self.database,
            "collection": self.collection,
            "probe_id": self.probe_id,
            "collection_dropped": self.dropped,
            "steps": self.to_rows(),
        }


class _StepFailed(Exception):
    """A step ran but what it read back is not what it wrote."""


def _utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (clients without tz_aware give naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise _StepFailed(message)


class _Probe:
    """The probe document's life in the scratch collection, one method per step."""

    def __init__(self, collection: Collection[Any]) -> None:
        self.collection = collection
        now = datetime.now(UTC)
        self.created_at = now.replace(microsecond=now.microsecond // 1000 * 1000)  # BSON: ms
        self.id = f"probe-{uuid.uuid4()}"
        self.document = {"_id": self.id, "created_at": self.created_at, "value": 21.5}
        self.timed_ms = 0.0
        self.created = False

    def _timed(self, operation: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return operation()
        finally:
            self.timed_ms = (time.perf_counter() - started) * 1000.0

    def create(self) -> str:
        result = self._timed(lambda: self.collection.insert_one(dict(self.document)))
        _expect(result.inserted_id == self.id, f"inserted {result.inserted_id!r}, not {self.id}")
        return f"inserted {self.id}"

    def read(self) -> str:
        found = self._timed(lambda: self.collection.find_one({"_id": self.id}))
        _expect(found is not None, f"{self.id} not found")
        created, value = found.get("created_at"), found.get("value")
        _expect(
            isinstance(created, datetime) and _utc(created) == self.created_at,
            f"created_at read back as {created!r}, wrote {self.created_at.isoformat()}",
        )
        _expect(
            isinstance(value, float) and value == 21.5, f"value read back as {value!r}, wrote 21.5"
        )
        return "datetime and float read back unchanged"

    def update(self) -> str:
        change = {"$set": {"value": 22.25, "updated_at": datetime.now(UTC)}}
        result = self._timed(lambda: self.collection.update_one({"_id": self.id}, change))
        if result.acknowledged:
            counts = (result.matched_count, result.modified_count)
            _expect(counts == (1, 1), f"matched {counts[0]}, modified {counts[1]} (expected 1, 1)")
        found = self.collection.find_one({"_id": self.id}, {"value": 1})
        value = None if found is None else found.get("value")
        _expect(value == 22.25, f"value read back as {value!r} after the update, wrote 22.25")
        return "matched 1, modified 1, new value read back"

    def delete(self) -> str:
        result = self._timed(lambda: self.collection.delete_one({"_id": self.id}))
        deleted = result.deleted_count if result.acknowledged else None
        _expect(self.collection.find_one({"_id": self.id}) is None, f"{self.id} still found")
        if not self.created and deleted == 0:
            return "nothing to delete (create failed), probe absent"
        _expect(deleted in (1, None), f"deleted {deleted} (expected 1)")
        return f"deleted {deleted if deleted is not None else 'unacknowledged'}, gone"


def _step(name: str, run: Callable[[], str], probe: _Probe, uri: str) -> CrudStep:
    """Run one step; a driver error or a wrong read-back is a failed step, not an exception."""
    probe.timed_ms = 0.0
    try:
        detail = run()
    except _StepFailed as exc:
        return CrudStep(name, FAILED, probe.timed_ms, str(exc))
    except PyMongoError as exc:
        reason = " ".join(scrub(str(exc), uri).split())
        return CrudStep(name, FAILED, probe.timed_ms, f"{type(exc).__name__}: {reason}")
    return CrudStep(name, OK, probe.timed_ms, detail)


def _drop_if_empty(collection: Collection[Any]) -> bool:
    """Drop the scratch collection when no document is left in it; return True if dropped."""
    try:
        if collection.find_one({}, {"_id": 1}) is not None:
            return False
        collection.drop()
    except PyMongoError:
        return False
    return True


def crud_check(
    client: MongoClient[Any], target: MongoTarget, *, collection: str = PROBE_COLLECTION
) -> CrudReport:
    """Create, read, update and delete one probe document in ``collection`` of the target's
    database; report each step's result and time (ms) instead of raising.

    Read and update are skipped when create failed; delete is always attempted, so a write
    that reached the server despite an error is still removed.
    """
    if collection in (target.collection, target.stations_collection, DAILY_COLLECTION):
        raise ConfigurationError(
            f"the CRUD probe needs a scratch collection, not {target.database}.{collection}"
        )
    scratch = client[target.database][collection]
    probe = _Probe(scratch)
    created = _step("create", probe.create, probe, target.uri)
    steps = [created]
    probe.created = created.ok
    for name, run in (("read", probe.read), ("update", probe.update)):
        if created.ok:
            steps.append(_step(name, run, probe, target.uri))
        else:
            steps.append(CrudStep(name, SKIPPED, 0.0, "create failed"))
    steps.append(_step("delete", probe.delete, probe, target.uri))
    return CrudReport(
        target.database, collection, probe.id, tuple(steps), dropped=_drop_if_empty(scratch)
    )
