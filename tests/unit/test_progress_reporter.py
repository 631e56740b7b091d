"""The live progress of `forecast run`: one rewritten line on a terminal, plain lines elsewhere."""

import io

from forecast.run import progress
from forecast.run.progress import Reporter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_name_the_stage_and_the_share_done():
    out = io.StringIO()
    reporter = Reporter(out, tty=False, min_interval_s=0)
    reporter.stage_started("load")
    reporter.counted("load", 120_000, 276_480, "documents loaded")
    reporter.counted("load", 276_480, 276_480, "documents loaded")
    reporter.stage_finished("load", 12.34)
    assert out.getvalue().splitlines() == [
        "stage load: started",
        "stage load: 120,000 / 276,480 documents loaded (43%)",
        "stage load: 276,480 / 276,480 documents loaded (100%)",
        "stage load: done in 12.3 s",
    ]
    assert "\r" not in out.getvalue()


def test_plain_counters_are_throttled_but_the_last_always_shows():
    out, clock = io.StringIO(), Clock()
    reporter = Reporter(out, tty=False, min_interval_s=1.0, clock=clock)
    for done in range(1, 10):
        clock.now = done * 0.3
        reporter.counted("transform", done, 10, "files parsed")
    reporter.counted("transform", 10, 10, "files parsed")
    lines = out.getvalue().splitlines()
    assert lines[0] == "stage transform: 1 / 10 files parsed (10%)"
    assert lines[-1] == "stage transform: 10 / 10 files parsed (100%)"
    assert 3 <= len(lines) <= 5  # one per second of the 2.7 s, plus the last


def test_terminal_rewrites_one_line_and_ends_it_with_the_stage():
    out = io.StringIO()
    reporter = Reporter(out, tty=True)
    reporter.stage_started("validate")
    reporter.counted("validate", 1, 3, "partitions validated")
    reporter.counted("validate", 2, 3, "partitions validated")
    reporter.counted("validate", 3, 3, "partitions validated")
    reporter.stage_finished("validate", 0.5)
    reporter.stage_started("load")
    text = out.getvalue()
    assert text == (
        "stage validate: started\n"
        "\r\x1b[Kstage validate: 1 / 3 partitions validated (33%)"
        "\r\x1b[Kstage validate: 2 / 3 partitions validated (66%)"
        "\r\x1b[Kstage validate: 3 / 3 partitions validated (100%)"
        "\r\x1b[Kstage validate: done in 0.5 s, 3 / 3 partitions validated (100%)\n"
        "stage load: started\n"
    )


def test_a_failed_stage_says_so():
    out = io.StringIO()
    reporter = Reporter(out, tty=False)
    reporter.stage_finished("ingest", 0.04, failed=True)
    assert out.getvalue() == "stage ingest: failed in 0.0 s\n"


def test_notes_go_nowhere_without_a_reporter_and_to_it_while_installed():
    progress.counted("load", 1, 2, "documents loaded")  # no reporter installed: a no-op
    out = io.StringIO()
    with progress.reporting(Reporter(out, tty=False, min_interval_s=0)):
        progress.stage_started("ingest")
        progress.counted("load", 1, 2, "documents loaded")
        progress.stage_finished("ingest", 1.0)
    progress.stage_started("after")
    assert out.getvalue().splitlines() == [
        "stage ingest: started",
        "stage load: 1 / 2 documents loaded (50%)",
        "stage ingest: done in 1.0 s",
    ]


def test_an_empty_total_has_no_percentage():
    assert progress.progress_text("load", 0, 0, "documents loaded") == (
        "stage load: 0 / 0 documents loaded"
    )
