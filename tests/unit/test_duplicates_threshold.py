"""Duplicate resolution (identical copies collapse, records that disagree are all quarantined)
and the per station-day rejection threshold."""

from datetime import datetime, timedelta

from forecast.quality.validate import Hold, validate
from tests.unit.rows import T0, observations

NO_THRESHOLD = 1.0


def raw_key(ingest_date: str, name: str) -> str:
    return f"source=wunderground/ingest_date={ingest_date}/0123abcd-{name}"


def kept_and_rejected(result) -> tuple[list[tuple[str, int]], list[tuple[str, int, list[str]]]]:
    valid = [(row["source_file"], row["row"]) for row in result.valid.to_pylist()]
    rejected = [
        (row["source_file"], row["row"], row["reject_rules"]) for row in result.rejected.to_pylist()
    ]
    return valid, rejected


def disagree(
    name: str, row: int, first: tuple[str, int], other: tuple[str, int], differences: str
) -> list[str]:
    """The reason of a record in a disputed (station, time): where it is, then the dispute."""
    where = lambda f, r: f"file '{f}', sheet '011024', row {r}"  # noqa: E731
    return [
        f"{where(name, row)}: the observations of this station and time disagree "
        f"({where(*first)} vs {where(*other)}): {differences}; none of them is loaded"
    ]


# ------------------------------------------------------------------------------ duplicates


def test_identical_copies_from_two_files_collapse_into_one_valid_row():
    result = validate(
        observations({"timestamp": T0, "source_file": "a.xlsx"}, {"timestamp": T0, "source_file": "b.xlsx"})
    )  # fmt: skip
    assert kept_and_rejected(result) == ([("b.xlsx", 4)], [])
    assert result.collapsed == {"ST": 1}
    assert result.valid.column("quality_score").to_pylist() == [100.0]


def test_the_same_time_at_two_stations_is_not_a_duplicate():
    result = validate(observations({"timestamp": T0}, {"timestamp": T0, "station_id": "OT"}))
    assert result.valid.num_rows == 2 and result.rejected.num_rows == 0
    assert result.collapsed == {}


def test_records_of_two_files_that_disagree_are_both_quarantined_naming_each_other():
    result = validate(
        observations(
            {"timestamp": T0, "source_file": "a.xlsx", "raw_key": raw_key("2024-10-06", "a.xlsx"),
             "temperature": 12.0, "wind_gust": 9.0},
            {"timestamp": T0, "source_file": "b.xlsx", "raw_key": raw_key("2024-10-07", "b.xlsx"),
             "temperature": 13.0},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )  # fmt: skip
    assert kept_and_rejected(result) == (
        [], [("a.xlsx", 3, ["duplicate_conflict"]), ("b.xlsx", 4, ["duplicate_conflict"])]
    )  # fmt: skip
    differences = "temperature 12 vs 13 degC, wind_gust 9 vs null km/h"
    assert result.rejected.column("reject_reasons").to_pylist() == [
        disagree("a.xlsx", 3, ("a.xlsx", 3), ("b.xlsx", 4), differences),
        disagree("b.xlsx", 4, ("a.xlsx", 3), ("b.xlsx", 4), differences),
    ]
    assert result.collapsed == {}


def test_two_rows_of_one_file_that_disagree_are_both_quarantined():
    result = validate(
        observations({"timestamp": T0, "temperature": 12.0}, {"timestamp": T0, "temperature": 13.0}),
        max_rejection_rate=NO_THRESHOLD,
    )  # fmt: skip
    assert kept_and_rejected(result) == (
        [], [("f.xlsx", 3, ["duplicate_conflict"]), ("f.xlsx", 4, ["duplicate_conflict"])]
    )  # fmt: skip
    assert result.rejected.column("reject_reasons").to_pylist()[0] == disagree(
        "f.xlsx", 3, ("f.xlsx", 4), ("f.xlsx", 3), "temperature 13 vs 12 degC"
    )


def test_identical_copies_of_a_disputed_record_are_quarantined_with_it():
    result = validate(
        observations(
            {"timestamp": T0, "source_file": "a.xlsx", "temperature": 13.0, "humidity": 71.0},
            {"timestamp": T0, "source_file": "b.xlsx"},
            {"timestamp": T0, "source_file": "c.xlsx"},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )
    valid, rejected = kept_and_rejected(result)
    assert valid == [] and sorted(r[0] for r in rejected) == ["a.xlsx", "b.xlsx", "c.xlsx"]
    assert all(rules == ["duplicate_conflict"] for *_, rules in rejected)
    assert result.collapsed == {}  # not copies of a kept record: nothing of that time is kept


def test_identical_copies_without_a_dispute_still_collapse_beside_a_disputed_time():
    later = T0 + timedelta(minutes=5)
    result = validate(
        observations(
            {"timestamp": T0, "source_file": "a.xlsx", "temperature": 13.0},
            {"timestamp": T0, "source_file": "b.xlsx"},
            {"timestamp": later, "source_file": "a.xlsx"},
            {"timestamp": later, "source_file": "b.xlsx"},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert kept_and_rejected(result)[0] == [("b.xlsx", 6)]
    assert result.collapsed == {"ST": 1}
    assert result.rejected.num_rows == 2


def test_a_copy_rejected_for_its_range_is_not_a_duplicate():
    # b.xlsx would win on its name, but its humidity is impossible: a.xlsx survives, valid
    result = validate(
        observations(
            {"timestamp": T0, "source_file": "a.xlsx"},
            {"timestamp": T0, "source_file": "b.xlsx", "humidity": 140.0},
        ),
        max_rejection_rate=NO_THRESHOLD,
    )
    assert kept_and_rejected(result) == ([("a.xlsx", 3)], [("b.xlsx", 4, ["range_humidity"])])
    assert result.collapsed == {}


# ------------------------------------------------------------------------------ threshold


def station_day(station: str, day: datetime, bad: tuple[int, ...] = (), count: int = 20) -> list:
    """Return ``count`` rows of a station-day 5 minutes apart; rows in ``bad`` are rejected."""
    return [
        {"station_id": station, "timestamp": day + timedelta(minutes=5 * i)}
        | ({"humidity": 140.0} if i in bad else {})
        for i in range(count)
    ]


def rules_per_station_day(result) -> dict[tuple[str, str, str], int]:
    counts: dict[tuple[str, str, str], int] = {}
    for row in result.rejected.to_pylist():
        key = (row["station_id"], f"{row['timestamp']:%Y-%m-%d}", *row["reject_rules"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_station_day_rejected_above_the_threshold_is_held_back_whole():
    next_day = T0 + timedelta(days=1)
    rows = observations(
        *station_day("ST", T0, bad=(4, 11)), *station_day("ST", next_day), *station_day("OT", T0)
    )
    result = validate(rows, max_rejection_rate=0.05)
    assert result.held == (Hold("ST", "2024-10-05", rejected=2, held=18),)
    assert result.held[0].rate == 0.1
    assert rules_per_station_day(result) == {
        ("ST", "2024-10-05", "range_humidity"): 2,
        ("ST", "2024-10-05", "rejection_threshold"): 18,
    }
    valid = result.valid.to_pylist()
    assert sorted({(row["station_id"], f"{row['timestamp']:%Y-%m-%d}") for row in valid}) == [
        ("OT", "2024-10-05"),
        ("ST", "2024-10-06"),
    ]
    assert len(valid) == 40
    first_held = next(
        row for row in result.rejected.to_pylist() if row["reject_rules"] == ["rejection_threshold"]
    )
    assert first_held["reject_reasons"] == [
        "file 'f.xlsx', sheet '011024', row 3: partition held: station ST on 2024-10-05: "
        "2 of 20 rows rejected (10.0%) > 5.0%"
    ]
    assert result.threshold_message() == (
        "1 partition(s) over the rejection threshold, 18 valid rows held in rejected/ and not "
        "loaded: station ST on 2024-10-05: 2 of 20 rows rejected (10.0%) > 5.0%. Fix the source "
        "or the rules, then `forecast requeue`"
    )


def test_a_rejection_rate_equal_to_the_threshold_is_not_held():
    result = validate(observations(*station_day("ST", T0, bad=(7,))), max_rejection_rate=0.05)
    assert result.held == ()
    assert result.threshold_message() is None
    assert result.valid.num_rows == 19
    assert rules_per_station_day(result) == {("ST", "2024-10-05", "range_humidity"): 1}


def test_a_rate_of_one_never_holds():
    almost_all = tuple(range(19))
    result = validate(observations(*station_day("ST", T0, bad=almost_all)), max_rejection_rate=1.0)
    assert result.held == ()
    assert result.threshold_message() is None
    assert result.valid.column("row").to_pylist() == [22]


def test_no_rejection_no_threshold_message():
    result = validate(observations(*station_day("ST", T0)))
    assert result.held == () and result.threshold_message() is None
    assert result.valid.num_rows == 20


def test_a_station_day_rejected_entirely_fails_the_run():
    result = validate(observations(*station_day("ST", T0, bad=tuple(range(20)))))
    assert result.held == (Hold("ST", "2024-10-05", rejected=20, held=0),)
    assert result.threshold_message() is not None


def test_conflicting_duplicates_do_not_count_towards_the_threshold():
    day = station_day("ST", T0)
    copies = [row | {"temperature": 16.0, "source_file": "g.xlsx"} for row in day[:3]]
    result = validate(observations(*day, *copies), max_rejection_rate=0.05)
    assert result.held == ()  # the dispute is its own reason to end partial, not a held day
    assert result.rejected.num_rows == 6  # 3 times, both records each
    assert result.valid.num_rows == 17


def test_rows_without_a_timestamp_belong_to_no_day_and_hold_nothing():
    rows = [row | {"timestamp": None} for row in station_day("ST", T0, count=2)]
    result = validate(observations(*station_day("ST", T0), *rows), max_rejection_rate=0.05)
    assert result.held == ()
    assert result.rejected.column("reject_rules").to_pylist() == [["missing_timestamp"]] * 2
    assert result.valid.num_rows == 20
