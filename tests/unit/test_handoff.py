"""A subflow's input handed over by reference: the same value comes back, a changed file is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.handoff import hand_off
from forecast.quality.partitions import CheckedPartition


def test_a_handoff_returns_the_value_written_and_refuses_a_changed_file(tmp_path):
    value = [
        CheckedPartition(
            0, ("07015",), "/x.parquet", 10, None, 0, (("infoclimat", "2024-10-05"),), ()
        )
    ]
    handoff = hand_off(value, "checked", "1 partition", str(tmp_path), "run-1")
    assert Path(handoff.path).parent == tmp_path / "run=run-1" / "handoff"
    assert handoff.open() == value
    Path(handoff.path).write_bytes(Path(handoff.path).read_bytes() + b"\0")
    with pytest.raises(RuntimeError, match="changed since it was written"):
        handoff.open()
