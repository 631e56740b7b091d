"""Latency arithmetic without a server: statistics, plan summaries, command-monitoring sums."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from forecast.mongo.latency import CommandTimer, QueryTiming, _plan_summary, uses_index


def timing(*ms: float) -> QueryTiming:
    return QueryTiming("q", "a query", ms, 1, "IXSCAN i")


def test_p95_of_twenty_values_is_the_nineteenth_by_nearest_rank():
    stats = timing(*(float(v) for v in range(20, 0, -1))).stats
    assert stats["p95_ms"] == 19.0 and stats["max_ms"] == 20.0 and stats["min_ms"] == 1.0


def test_p95_of_twenty_one_values_is_the_twentieth():
    assert timing(*(float(v) for v in range(1, 22))).stats["p95_ms"] == 20.0


def test_p50_of_an_even_count_is_the_mean_of_the_two_middle_values():
    stats = timing(4.0, 1.0, 3.0, 2.0).stats
    assert (stats["p50_ms"], stats["avg_ms"]) == (2.5, 2.5)


def test_p50_of_an_odd_count_is_the_middle_value():
    assert timing(9.0, 1.0, 2.0).stats["p50_ms"] == 2.0


def test_a_single_timing_is_every_statistic():
    assert set(timing(3.25).stats.values()) == {3.25}


# -- plan summaries on hand-written explain documents -----------------------------------------


def ixscan(index: str) -> dict[str, Any]:
    return {"stage": "IXSCAN", "indexName": index, "keyPattern": {"a": 1}}


FIND = {
    "queryPlanner": {
        "winningPlan": {"stage": "FETCH", "inputStage": ixscan("station_id_timestamp")}
    }
}
AGGREGATE = {
    "stages": [
        {"$cursor": {"queryPlanner": {"winningPlan": {
            "stage": "PROJECTION_SIMPLE", "inputStage": {"stage": "FETCH", "inputStage": ixscan("network_timestamp")}}}}},
        {"$group": {"_id": "$x"}},
    ]
}  # fmt: skip
COLLSCAN = {"queryPlanner": {"winningPlan": {"stage": "COLLSCAN", "direction": "forward"}}}
GEO_NEAR = {"queryPlanner": {"winningPlan": {"stage": "LIMIT", "inputStage": {
    "stage": "FETCH", "inputStage": {"stage": "GEO_NEAR_2DSPHERE", "indexName": "location_geo_2dsphere"}}}}}  # fmt: skip
COUNT = {"queryPlanner": {"winningPlan": {"stage": "COUNT", "inputStage": {
    "stage": "COUNT_SCAN", "indexName": "station_id_timestamp"}}}}  # fmt: skip
SBE = {
    "queryPlanner": {"winningPlan": {"queryPlan": {"stage": "FETCH", "inputStage": ixscan("i")}}}
}
OR = {"queryPlanner": {"winningPlan": {"stage": "FETCH", "inputStage": {
    "stage": "OR", "inputStages": [ixscan("a_1"), ixscan("b_1")]}}}}  # fmt: skip
SHARDED = {"queryPlanner": {"winningPlan": {"stage": "SHARD_MERGE", "shards": [
    {"shardName": "s0", "winningPlan": {"stage": "FETCH", "inputStage": ixscan("i")}}]}}}  # fmt: skip


@pytest.mark.parametrize(
    ("explain", "summary", "indexed"),
    [
        (FIND, "IXSCAN station_id_timestamp", True),
        (AGGREGATE, "IXSCAN network_timestamp", True),
        (COLLSCAN, "COLLSCAN", False),
        (GEO_NEAR, "GEO_NEAR_2DSPHERE location_geo_2dsphere", True),
        (COUNT, "COUNT_SCAN station_id_timestamp", True),
        (SBE, "IXSCAN i", True),
        (OR, "IXSCAN a_1, IXSCAN b_1", True),
        (SHARDED, "IXSCAN i", True),
        ({"ok": 1}, "unknown", False),
    ],
    ids=["find", "aggregate", "collscan", "geo-near", "count-scan", "sbe", "or", "sharded", "none"],
)
def test_plan_summary_names_the_access_stages_and_indexes(explain, summary, indexed):
    assert _plan_summary(explain) == summary
    assert uses_index(summary) is indexed


def test_a_plan_mixing_an_index_and_a_collection_scan_does_not_use_an_index_throughout():
    assert not uses_index("IXSCAN a_1, COLLSCAN")


def test_aggregate_explain_with_a_top_level_planner_is_read_there_first():
    explain = {**AGGREGATE, "queryPlanner": FIND["queryPlanner"]}  # SecantusDB gives both
    assert _plan_summary(explain) == "IXSCAN station_id_timestamp"


# -- the command listener's accounting ---------------------------------------------------------


@dataclass
class Started:
    command_name: str
    request_id: int
    operation_id: int | None
    command: dict[str, Any] = field(default_factory=dict)


@dataclass
class Succeeded:
    command_name: str
    request_id: int
    operation_id: int | None
    duration_micros: int
    reply: dict[str, Any] = field(default_factory=dict)


def send(timer: CommandTimer, name: str, request: int, operation: int, micros: int, **extra: Any):
    """Feed one command's started and succeeded events."""
    command = {name: extra.get("cursor_in", 1)}
    timer.started(Started(name, request, operation, command))  # type: ignore[arg-type]
    reply = {"cursor": {"id": extra.get("cursor_out", 0)}, "ok": 1}
    timer.succeeded(Succeeded(name, request, operation, micros, reply))  # type: ignore[arg-type]


def test_a_find_and_its_getmores_are_one_operation_whose_durations_add_up():
    timer = CommandTimer()
    timer.start()
    send(timer, "find", request=1, operation=1, micros=1500, cursor_out=77)
    send(timer, "getMore", request=2, operation=2, micros=400, cursor_in=77, cursor_out=77)
    send(timer, "getMore", request=3, operation=3, micros=100, cursor_in=77, cursor_out=0)
    assert timer.stop() == 2.0
    assert list(timer.operations) == [1]
    assert timer.operations[1].commands == ["find", "getMore", "getMore"]
    assert timer.operations[1].micros == 2000


def test_commands_outside_recording_and_untimed_commands_are_ignored():
    timer = CommandTimer()
    send(timer, "find", request=1, operation=1, micros=900)  # before start()
    timer.start()
    send(timer, "explain", request=2, operation=2, micros=5000)
    send(timer, "aggregate", request=3, operation=3, micros=250)
    send(timer, "killCursors", request=4, operation=4, micros=5000)
    assert timer.stop() == 0.25
    send(timer, "find", request=5, operation=5, micros=900)  # after stop()
    assert list(timer.operations) == [3]


def test_a_failed_command_is_not_timed():
    timer = CommandTimer()
    timer.start()
    timer.started(Started("find", 1, 1, {"find": "c"}))  # type: ignore[arg-type]
    timer.failed(Succeeded("find", 1, 1, 700))  # type: ignore[arg-type]
    assert timer.stop() == 0.0


def test_time_returns_the_result_and_the_server_time_of_what_it_ran():
    timer = CommandTimer()

    def query() -> int:
        send(timer, "find", request=10, operation=10, micros=1234)
        return 42

    assert timer.time(query) == (42, 1.234)


def test_time_refuses_a_run_that_sent_no_query_command():
    with pytest.raises(RuntimeError, match="no query command"):
        CommandTimer().time(lambda: 0)
