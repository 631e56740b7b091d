"""Partitions: stations grouped by size, neighbours carried as context, results of the core."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa

from forecast.quality import partitions
from forecast.quality.report import merge_reports, quality_report
from forecast.quality.validate import Window, validate, validate_partition
from tests.unit.rows import T0, series, stations

SITES = stations(
    ("07015", 50.575, 3.092), ("ILAMAD25", 50.659, 3.070),  # 9.5 km apart
    ("FAR1", 43.6, 1.44), ("FAR2", 45.76, 4.83),  # Toulouse, Lyon
)  # fmt: skip


def test_stations_are_cut_into_groups_of_about_the_target_rows_with_neighbours_as_context():
    rows = {"07015": 60, "ILAMAD25": 60, "FAR1": 60, "FAR2": 60}
    found = partitions.plan(SITES, rows, target_rows=100)
    assert [len(p.core) for p in found] == [1, 1, 1, 1]
    by_core = {p.core[0]: p for p in found}
    assert by_core["07015"].context == ("ILAMAD25",) and by_core["ILAMAD25"].context == ("07015",)
    assert by_core["FAR1"].context == () and sum(p.rows for p in found) == 240
    together = partitions.plan(SITES, rows, target_rows=1000)
    assert [(p.core, p.context) for p in together] == [(tuple(sorted(p.core, key=p.core.index)), ())
                                                      for p in together]  # fmt: skip
    assert len(together) == 1 and set(together[0].core) == set(rows)


def test_a_station_without_rows_is_in_no_partition_and_a_big_one_is_alone():
    found = partitions.plan(SITES, {"07015": 500, "ILAMAD25": 0, "FAR1": 10}, target_rows=100)
    assert sorted(p.core for p in found) == [("07015",), ("FAR1",)]


def test_the_neighbour_distance_is_a_parameter():
    rows = {"07015": 60, "ILAMAD25": 60}
    close = partitions.plan(SITES, rows, target_rows=100, neighbour_km=5.0)
    assert all(p.context == () for p in close)


def test_a_partition_reads_at_most_the_target_rows_core_and_context_together():
    dense = stations(
        *[(f"D{i:02d}", 50.0 + (i % 6) * 0.01, 3.0 + (i // 6) * 0.01) for i in range(36)]
    )
    rows = {f"D{i:02d}": 10 for i in range(36)}  # 36 stations about 1 km apart: all neighbours
    found = partitions.plan(dense, rows, target_rows=150)
    assert all(sum(rows[s] for s in p.stations) <= 150 or len(p.core) == 1 for p in found)
    assert len(found) > 1 and max(len(p.core) for p in found) > 1
    assert sorted(s for p in found for s in p.core) == sorted(rows)  # each station once as core
    assert all(p.context for p in found)  # neighbours in other partitions are read as context


def two_neighbours():
    a = series("07015", every=30, temperature=[10.0, 10.2])
    b = series("ILAMAD25", every=30, start=T0 + timedelta(minutes=10), temperature=[16.0, 16.2])
    return pa.concat_tables([a, b])


def test_a_partition_sees_its_neighbours_rows_and_keeps_only_its_own_results():
    rows = two_neighbours()
    alone = validate_partition(rows, ["07015"], stations=SITES, now=T0 + timedelta(days=1))
    assert alone.valid.column("station_id").to_pylist() == ["07015", "07015"]
    assert alone.valid.column("quality_rules").to_pylist() == [["cross_station_temperature"]] * 2
    assert [f.station_id for f in alone.findings] == ["07015"]
    whole = validate(rows, stations=SITES, now=T0 + timedelta(days=1))
    assert whole.valid.filter(pa.compute.equal(whole.valid.column("station_id"), "07015")).equals(
        alone.valid
    )


def test_outside_window_is_counted_for_the_core_only():
    rows = two_neighbours()
    window = Window(T0.date() + timedelta(days=1), None)
    result = validate_partition(rows, ["07015"], window, stations=SITES, now=T0 + timedelta(days=2))
    assert (result.outside_window, result.valid.num_rows) == (2, 0)


def test_merged_partition_reports_equal_the_report_of_the_whole():
    rows = two_neighbours()
    now, window = T0 + timedelta(days=1), Window()
    described = SITES.slice(0, 2)  # the stations with rows, as a run's staged contents describe
    whole = quality_report(
        rows, validate(rows, stations=described, now=now), described, window, now=now
    )
    parts = []
    for core in (["07015"], ["ILAMAD25"]):
        own = rows.filter(pa.compute.is_in(rows.column("station_id"), value_set=pa.array(core)))
        sites = SITES.filter(pa.compute.is_in(SITES.column("station_id"), value_set=pa.array(core)))
        checked = validate_partition(rows, core, stations=SITES, now=now)
        parts.append(quality_report(own, checked, sites, window, now=now))
    merged = merge_reports(parts, whole.max_rejection_rate)
    assert merged.to_dict() == whole.to_dict()
