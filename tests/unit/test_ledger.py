"""The load ledger's pure part: keys, fingerprints and which contents a run may record."""

from __future__ import annotations

from datetime import date

from forecast.mongo import ledger
from forecast.quality.validate import Window


def test_the_key_is_content_fingerprint_and_window():
    assert (
        ledger.key("abc", "f1", Window(date(2024, 10, 1), date(2024, 10, 7)).to_dict())
        == "abc:f1:2024-10-01:2024-10-07"
    )
    assert ledger.key("abc", "f1", Window().to_dict()) == "abc:f1:-:-"


def test_the_fingerprint_changes_with_code_parameters_and_collection():
    base = {"max_rejection_rate": 0.05, "neighbour_km": None, "collection": "weather_measurements"}
    first = ledger.fingerprint("code-1", **base)
    assert first == ledger.fingerprint("code-1", **base)
    assert len({first, ledger.fingerprint("code-2", **base),
                ledger.fingerprint("code-1", **base | {"max_rejection_rate": 0.1}),
                ledger.fingerprint("code-1", **base | {"neighbour_km": 5.0}),
                ledger.fingerprint("code-1", **base | {"collection": "other"})}) == 5  # fmt: skip


def test_contents_with_refused_or_held_rows_are_not_settled():
    documents = {"a": 2, "b": 1, "c": 0, "d": 1}
    settled = ledger.settled_contents(
        ["a", "b", "c", "d", "e"], documents, ["b"], ["c"], reconciled=True
    )
    assert settled == {"a": 2, "d": 1, "e": 0}  # b refused, c held, e: every row quarantined


def test_nothing_is_settled_when_the_reconciliation_found_a_difference():
    assert ledger.settled_contents(["a"], {"a": 1}, [], [], reconciled=False) == {}
