"""Parsers on the real files, repeatedly: results are stable run after run.

Regression: pyarrow 25's utf8_split_whitespace(max_splits=1) left a trailing space unsplit on
an array's last element on the second pass over these files (UV column), crashing the parser.
"""

import hashlib
from pathlib import Path

import pytest

from forecast.lake.ingest import discover
from forecast.sources import infoclimat, wunderground
from forecast.sources.common import RawFile
from forecast.sources.registry import recognise_file

pytestmark = pytest.mark.realdata
PARSERS = {"infoclimat": infoclimat.parse, "wunderground": wunderground.parse}


def test_parsing_the_real_files_three_times_gives_identical_tables(shared_raw):
    files, ignored = discover(shared_raw)
    assert sorted(f.name for f in files) == [
        "Data_Source1_011024-071024.json",
        "Weather Underground - Ichtegem, BE.xlsx",
        "Weather Underground - La Madeleine, FR.xlsx",
    ]
    assert sorted(name for name, _ in ignored) == ["FORMATS.md", "SOURCES.md"]
    passes = []
    for _ in range(3):
        tables = []
        for landing in files:
            content = Path(landing.location).read_bytes()
            tables.append(
                PARSERS[recognise_file(content, landing.name).name](
                    RawFile(landing.name, content, "k", hashlib.sha256(content).hexdigest())
                ).observations
            )
        passes.append(tables)
    assert [t.num_rows for t in passes[0]] == [1143, 1899, 1908]
    assert all(a.equals(b) for later in passes[1:] for a, b in zip(passes[0], later, strict=True))
    assert all(sum(len(e) for e in t.column("parse_errors").to_pylist()) == 0 for t in passes[0])
    # Every real time reads and every real value carries its documented unit.
    assert [t.column("timestamp").null_count for t in passes[0]] == [0, 0, 0]
    assert all(sum(len(e) for e in t.column("unit_errors").to_pylist()) == 0 for t in passes[0])
