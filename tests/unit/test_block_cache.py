"""A pipeline run loads each block once; outside a run every load goes to the API."""

from __future__ import annotations

from typing import ClassVar

import pytest

from forecast.errors import ConfigurationError
from tasks import config


class _Counted:
    loads: ClassVar[list[str]] = []

    @classmethod
    def load(cls, name: str) -> object:
        cls.loads.append(name)
        if name == "missing":
            raise ValueError("Unable to find block document named missing")
        return object()


def test_within_a_run_a_block_is_loaded_once_and_outside_every_time():
    _Counted.loads = []
    with config.blocks_of_this_run():
        first = config._load(_Counted, "forecast-lake")
        assert config._load(_Counted, "forecast-lake") is first
        config._load(_Counted, "forecast-mongo")
    with config.blocks_of_this_run():  # the next run sees the blocks as they are then
        assert config._load(_Counted, "forecast-lake") is not first
    config._load(_Counted, "forecast-lake")
    config._load(_Counted, "forecast-lake")
    assert _Counted.loads == ["forecast-lake", "forecast-mongo"] + ["forecast-lake"] * 3


def test_a_missing_block_is_not_cached_and_says_how_to_create_it():
    _Counted.loads = []
    with config.blocks_of_this_run():
        for _ in range(2):
            with pytest.raises(ConfigurationError, match=r"block 'missing'.*forecast setup"):
                config._load(_Counted, "missing")
    assert _Counted.loads == ["missing", "missing"]
