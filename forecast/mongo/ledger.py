"""The load ledger (collection ``load_ledger``): which contents an earlier run already loaded and
reconciled.

An entry says "run R loaded content S, parsed and validated by code F, for window W, into this
database, and reconciled it". S is a content key (``forecast.lake.ingest.content_key``): what a
landing input's parse comes from, its bytes or, for an Airbyte object, its records without their
envelopes, so a re-sync of unchanged data (new record ids and times) is skipped like a rerun. A later run with the same (S, F, W) skips that content whole:
no parse, no validation, no load. F covers the domain code and data (every parser and rule,
the station registry) and the run parameters that change validation, so a changed rule, a new
code version or another threshold reprocesses; ``--force`` and ``forecast requeue`` always do.

The entries live in the target MongoDB database (``load_ledger``), beside what they describe:
a new or emptied database has no ledger and nothing is skipped.

A content is recorded only when every one of its rows ended where it should: loaded and
reconciled, or quarantined by a validation rule. Not when one of its documents was refused by
MongoDB, one of its station-days was held over the rejection threshold, or the run's
reconciliation found a difference: the next run tries again.

What a skipped content does not do: lend its rows as context to the other contents of the run
(duplicates across files, neighbouring stations). Within one run every content is processed
together, as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient, ReplaceOne

from forecast.mongo.client import MongoTarget, server_errors


@dataclass(frozen=True)
class LedgerEntry:
    """One content loaded by one run."""

    key: str
    sha256: str
    name: str
    raw_key: str
    fingerprint: str
    window: dict[str, str | None]
    run_id: str
    loaded_at: str
    documents: int

    def to_document(self) -> dict[str, object]:
        """Return the MongoDB document of the entry (``_id`` = key)."""
        return {
            "_id": self.key, "sha256": self.sha256, "name": self.name, "raw_key": self.raw_key,
            "fingerprint": self.fingerprint, "window": self.window, "run_id": self.run_id,
            "loaded_at": self.loaded_at, "documents": self.documents,
        }  # fmt: skip


def fingerprint(
    code: str, *, max_rejection_rate: float, neighbour_km: float | None, collection: str
) -> str:
    """Return the fingerprint of how a run turns raw contents into documents."""
    text = f"{code}|rate={max_rejection_rate!r}|km={neighbour_km!r}|into={collection}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def key(content: str, fingerprint: str, window: Mapping[str, str | None]) -> str:
    """Return the ledger key of a content for a fingerprint and a window (``Window.to_dict()``:
    ISO start and end dates, None for an open end)."""
    return f"{content}:{fingerprint}:{window.get('start') or '-'}:{window.get('end') or '-'}"


def settled_contents(
    parsed: Iterable[str],
    documents: Mapping[str, int],
    refused: Iterable[str],
    held: Iterable[str],
    reconciled: bool,
) -> dict[str, int]:
    """Return {content key: documents loaded} for the parsed contents that may be recorded.

    ``documents`` counts the validated documents of each content; ``refused`` names the contents
    with a document MongoDB refused, ``held`` those with rows held back by the rejection
    threshold (the next run must hold them again, or load them once the threshold or the source
    changed). Nothing is settled when the reconciliation found a difference.
    """
    if not reconciled:
        return {}
    contents = set(parsed) - set(refused) - set(held)
    return {key: int(documents.get(key, 0)) for key in sorted(contents)}


LEDGER_COLLECTION = "load_ledger"


def lookup(
    client: MongoClient[Any], target: MongoTarget, keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Return the ledger entries stored under ``keys``, by key."""
    if not keys:
        return {}
    with server_errors("reading the load ledger", target.uri):
        found = client[target.database][LEDGER_COLLECTION].find({"_id": {"$in": list(keys)}})
        return {entry["_id"]: entry for entry in found}


def record(client: MongoClient[Any], target: MongoTarget, entries: Sequence[LedgerEntry]) -> int:
    """Store ``entries`` (a later run of the same key replaces it); return how many."""
    if not entries:
        return 0
    operations = [ReplaceOne({"_id": e.key}, e.to_document(), upsert=True) for e in entries]
    with server_errors("writing the load ledger", target.uri):
        client[target.database][LEDGER_COLLECTION].with_options(
            write_concern=target.write_concern()
        ).bulk_write(operations, ordered=False)
    return len(entries)
