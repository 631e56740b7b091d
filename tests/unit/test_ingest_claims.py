"""Raw-zone guarantees: one object per content under concurrency, repair, refusal, spans."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path

from forecast.lake.ingest import Span, index_key, ingest_bytes, ingest_file, read_span, write_span
from forecast.lake.landing import LandingFile, LocalLanding
from forecast.lake.store import ZONES, Lake
from tests.support import DirectoryFS

NOW = datetime(2024, 10, 8, 6, 30, tzinfo=UTC)
NEXT_DAY = datetime(2024, 10, 9, 6, 30, tzinfo=UTC)


def lake_at(root: Path) -> Lake:
    return Lake({zone: DirectoryFS(root / zone) for zone in ZONES})


def raw_objects(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root / "raw").as_posix() for p in (root / "raw").glob("source=*/*/*")
    )


def test_racing_ingests_of_one_content_on_different_days_store_it_once(tmp_path):
    lake = lake_at(tmp_path)
    barrier = threading.Barrier(8)
    records = []

    def ingest(i: int) -> None:
        barrier.wait()
        records.append(
            ingest_bytes(
                lake,
                b"same bytes",
                source="infoclimat",
                name=f"copy{i}.json",
                origin="x",
                run_id=f"r{i}",
                now=NOW if i % 2 else NEXT_DAY,
            )
        )

    threads = [threading.Thread(target=ingest, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(raw_objects(tmp_path)) == 1
    assert sorted(r.status for r in records) == ["already_ingested"] * 7 + ["ingested"]
    assert len({r.raw_key for r in records}) == 1


def test_a_claim_whose_object_never_landed_is_repaired_by_the_next_ingest(tmp_path):
    lake = lake_at(tmp_path)
    first = ingest_bytes(
        lake, b"payload", source="infoclimat", name="a.json", origin="x", run_id="r1", now=NOW
    )
    (tmp_path / "raw" / first.raw_key).unlink()  # as if the run died between claim and copy
    again = ingest_bytes(
        lake, b"payload", source="infoclimat", name="a.json", origin="x", run_id="r2", now=NEXT_DAY
    )
    assert again.status == "already_ingested" and again.raw_key == first.raw_key
    assert (tmp_path / "raw" / first.raw_key).read_bytes() == b"payload"


def test_an_existing_object_is_never_overwritten(tmp_path):
    lake = lake_at(tmp_path)
    assert lake.write_new("raw", "k", b"first") is True
    assert lake.write_new("raw", "k", b"second") is False
    assert lake.read("raw", "k") == b"first"


def test_an_oversized_landing_file_is_refused_unread_and_uncopied(tmp_path):
    landing_dir = tmp_path / "landing"
    landing_dir.mkdir()
    (landing_dir / "big.json").write_bytes(b"x" * 100)
    [file] = LocalLanding(landing_dir).list()[0]
    record = ingest_file(
        lake_at(tmp_path / "lake"),
        LocalLanding(landing_dir),
        file,
        run_id="r",
        now=NOW,
        max_bytes=99,
    )
    assert (
        record.status == "refused"
        and record.error
        == "file is 100 bytes, over the limit max_file_bytes = 99 (run parameter max_file_bytes, forecast run --max-file-bytes)"
    )
    assert not (tmp_path / "lake" / "raw").exists() or raw_objects(tmp_path / "lake") == []
    assert (landing_dir / "big.json").read_bytes() == b"x" * 100


def test_landing_files_report_name_and_size():
    file = LandingFile(
        "s3://bucket/airbyte-sync/wunderground/Weather+Underground+-+Ichtegem,+BE.xlsx",
        "wunderground",
        10,
    )
    assert file.name == "Weather+Underground+-+Ichtegem,+BE.xlsx"


def test_spans_round_trip_and_decide_whether_a_window_needs_the_content(tmp_path):
    lake = lake_at(tmp_path)
    span = Span(
        ("07015",), datetime(2024, 10, 5, tzinfo=UTC), datetime(2024, 10, 7, 11, tzinfo=UTC)
    )
    write_span(lake, "abc", span)
    assert read_span(lake, "abc") == span and read_span(lake, "unknown") is None
    assert span.overlaps(date(2024, 10, 7), date(2024, 10, 8))
    assert span.overlaps(None, date(2024, 10, 5)) and span.overlaps(date(2024, 10, 1), None)
    assert not span.overlaps(date(2024, 10, 8), date(2024, 10, 14))
    assert not span.overlaps(date(2024, 9, 1), date(2024, 10, 4))
    assert not Span((), None, None).overlaps(None, None)


def test_index_marker_records_where_the_content_lives(tmp_path):
    lake = lake_at(tmp_path)
    record = ingest_bytes(
        lake, b"{}", source="infoclimat", name="a.json", origin="s3://b/k", run_id="r", now=NOW
    )
    marker = lake.read_json("raw", index_key(record.sha256))
    assert marker["raw_key"] == record.raw_key and marker["landing"] == "s3://b/k"


def test_manifest_entry_has_every_field_the_operators_need(tmp_path):
    from dataclasses import asdict

    from forecast.run.reports import file_outcome

    record = ingest_bytes(
        lake_at(tmp_path),
        b"{}",
        source="infoclimat",
        name="a.json",
        origin="x",
        run_id="r9",
        now=NOW,
    )
    entry = asdict(file_outcome(record, error="file 'a.json': not valid JSON"))
    required = {
        "sha256",
        "size",
        "source",
        "stations",
        "first_observation",
        "last_observation",
        "ingested_at",
        "run_id",
        "status",
        "error",
    }
    assert required <= set(entry)
    assert (entry["size"], entry["run_id"], entry["status"], entry["ingested_at"]) == (
        2,
        "r9",
        "failed",
        NOW.isoformat(),
    )


def test_two_landing_files_with_one_content_keep_two_manifest_entries(tmp_path):
    from forecast.run.reports import file_outcome, per_input

    lake = lake_at(tmp_path)
    first = ingest_bytes(
        lake,
        b"{}",
        source="wunderground",
        name="a.xlsx",
        origin="s3://b/x/a.xlsx",
        run_id="r",
        now=NOW,
    )
    second = ingest_bytes(
        lake,
        b"{}",
        source="wunderground",
        name="b.xlsx",
        origin="s3://b/y/b.xlsx",
        run_id="r",
        now=NOW,
    )
    outcomes = per_input([first, second], [file_outcome(first, error="bad")])
    assert [(o.name, o.landing, o.ingest_status, o.status) for o in outcomes] == [
        ("a.xlsx", "s3://b/x/a.xlsx", "ingested", "failed"),
        ("b.xlsx", "s3://b/y/b.xlsx", "already_ingested", "failed"),
    ]
    assert per_input([first], [])[0].error == "no outcome was recorded for this input"
