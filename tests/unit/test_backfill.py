"""Backfill partitions: one per source and week, covering [start, end] exactly."""

from datetime import date

import pytest

from forecast.run.backfill import Partition, partitions

LANDINGS = {
    "wunderground": "s3://b/airbyte-sync/wunderground/",
    "infoclimat": "s3://b/airbyte-sync/infoclimat/",
}


def test_weeks_per_source_cover_the_range_without_overlap_or_gap():
    plan = partitions(date(2024, 9, 30), date(2024, 10, 20), LANDINGS)
    assert [(p.source, p.start.isoformat(), p.end.isoformat()) for p in plan] == [
        ("infoclimat", "2024-09-30", "2024-10-06"),
        ("infoclimat", "2024-10-07", "2024-10-13"),
        ("infoclimat", "2024-10-14", "2024-10-20"),
        ("wunderground", "2024-09-30", "2024-10-06"),
        ("wunderground", "2024-10-07", "2024-10-13"),
        ("wunderground", "2024-10-14", "2024-10-20"),
    ]
    assert plan[0] == Partition(
        "infoclimat", LANDINGS["infoclimat"], date(2024, 9, 30), date(2024, 10, 6)
    )
    assert plan[0].name == "backfill-infoclimat-2024-09-30"


def test_the_last_slice_is_cut_at_the_end_date():
    plan = partitions(date(2024, 10, 1), date(2024, 10, 9), {"x": "/x"}, days=7)
    assert [(p.start.day, p.end.day) for p in plan] == [(1, 7), (8, 9)]


@pytest.mark.parametrize(
    ("start", "end", "landings", "days"),
    [(date(2024, 10, 2), date(2024, 10, 1), {"x": "/x"}, 7), (date(2024, 10, 1), date(2024, 10, 2), {}, 7),
     (date(2024, 10, 1), date(2024, 10, 2), {"x": "/x"}, 0)],
)  # fmt: skip
def test_impossible_backfills_are_refused(start, end, landings, days):
    with pytest.raises(ValueError):
        partitions(start, end, landings, days=days)
