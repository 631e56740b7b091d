"""Collection setup in one idempotent call: indexes, validators, gold collections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient

from forecast.mongo.client import MongoTarget
from forecast.mongo.collections import ensure_collections, extra_indexes, measurement_indexes
from forecast.mongo.gold import ensure_gold_collections
from forecast.mongo.validator import apply_validators


@dataclass(frozen=True)
class Setup:
    """What preparing the database did: indexes created, validators applied."""

    indexes: tuple[str, ...]
    validators: dict[str, str]
    extra_indexes: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return a one-line summary for logs."""
        made = ", ".join(self.indexes) or "none"
        applied = ", ".join(f"{name} {outcome}" for name, outcome in self.validators.items())
        extra = (
            f"; indexes kept although not configured (each costs every write): "
            f"{', '.join(self.extra_indexes)}"
            if self.extra_indexes
            else ""
        )
        return f"indexes created: {made}; validators: {applied}{extra}"


def prepare(client: MongoClient[Any], target: MongoTarget) -> Setup:
    """Create missing indexes (measurements, stations, gold) and apply the validators.

    Safe to run before every load: an unchanged database is left unchanged.
    """
    indexes = ensure_collections(client, target) + ensure_gold_collections(client, target)
    validators = apply_validators(client, target)
    extra = extra_indexes(client[target.database][target.collection], measurement_indexes(target))
    return Setup(tuple(indexes), validators, tuple(extra))
