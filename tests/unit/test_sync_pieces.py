"""The sync engine's pure pieces: key text, error lines, ages and tables."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import structlog

from syncd.api import ApiTransientError
from syncd.db.state import RunCounts, key_text
from syncd.logs import redactor
from syncd.report import LiveProgress, age, duration, summary_table
from syncd.sync import ProgressUpdate, ResourceOutcome, SyncSummary, describe_error

pytestmark = pytest.mark.unit


def test_key_text_matches_what_postgres_prints() -> None:
    assert key_text((5,)) == "5"
    assert key_text((201, dt.date(2026, 11, 23))) == "201\x1f2026-11-23"
    assert key_text(("user", "abc")) == "user\x1fabc"


def test_describe_error_is_one_redacted_bounded_line() -> None:
    redactor.add("secret-key-0123456789")  # the process-wide redactor, as the CLI feeds it
    error = ApiTransientError(503, "down\nsecret-key-0123456789", "acl.list", "GET", "/panel/api/acl")
    line = describe_error(error)
    assert "\n" not in line
    assert "secret-key-0123456789" not in line
    assert "HTTP 503" in line
    assert len(describe_error(ValueError("x" * 2000))) == 500


@pytest.mark.parametrize(("seconds", "shown"), [(5, "5s"), (61, "1m"), (7200, "2h"), (3 * 86400 + 5, "3d")])
def test_age(seconds: int, shown: str) -> None:
    now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    assert age(now - dt.timedelta(seconds=seconds), now) == shown
    assert age(None, now) == "never"


def test_summary_table_lists_counts_and_errors() -> None:
    summary = SyncSummary(
        [
            ResourceOutcome("events", "incremental", "succeeded", RunCounts(pages=1, unchanged=100)),
            ResourceOutcome("acl_rules", "full", "failed", error="GET /panel/api/acl: HTTP 503"),
        ]
    )
    lines = summary_table(summary).splitlines()
    assert lines[0].split()[:4] == ["resource", "mode", "status", "pages"]
    assert lines[1].split()[:7] == ["events", "incremental", "succeeded", "1", "0", "0", "100"]
    assert lines[-1] == "acl_rules: GET /panel/api/acl: HTTP 503"
    assert not summary.ok


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _screen(display: LiveProgress) -> list[str]:
    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(display._render())
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_live_progress_shows_a_row_per_resource_with_pages_objects_rate_and_eta() -> None:
    clock = _Clock()
    display = LiveProgress(io.StringIO(), clock=clock)  # not entered: rows are rendered by hand
    display(ProgressUpdate("users", "full", 1, 1, objects=6))
    clock.now += 0.5
    display(ProgressUpdate("users", "full", 1, None, finished=True, status="succeeded", objects=6))
    display(ProgressUpdate("events", "full", 5, 20, objects=500))
    clock.now += 2.0  # 5 pages in 2 s: 15 more take 6 s
    display(ProgressUpdate("polls", "incremental", 3, None, objects=300))
    users, events, polls = _screen(display)
    assert users.split()[0] == "users"
    assert users.split()[-6:] == ["1/1", "page", "6", "objects", "12/s", "done"]
    assert events.split()[-7:] == ["5/20", "pages", "500", "objects", "250/s", "eta", "0:06"]
    assert polls.split()[-4:] == ["3", "pages", "300", "objects"]  # no total: no ETA, no rate yet
    display(ProgressUpdate("events", "full", 20, None, finished=True, status="failed", objects=1800))
    # Where it stopped, out of the known total; the rate over its whole run.
    assert _screen(display)[1].split()[-6:] == ["5/20", "pages", "1,800", "objects", "900/s", "FAILED"]


def test_live_progress_keeps_the_last_count_of_calls_out_of_a_known_total() -> None:
    display = LiveProgress(io.StringIO(), clock=_Clock())
    display(ProgressUpdate("event_type_availability", "full", 8, 8, objects=112))
    # The closing update counts stored pages (a call may store several), not calls.
    display(ProgressUpdate("event_type_availability", "full", 11, None, finished=True, status="succeeded"))
    assert "8/8 pages" in _screen(display)[0]


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.4, "0:00"), (7, "0:07"), (750, "12:30"), (3723, "1:02:03")]
)
def test_duration(seconds: float, shown: str) -> None:
    assert duration(seconds) == shown


def test_live_progress_puts_log_lines_above_itself_and_gives_them_back() -> None:
    """While the display shows, a log line goes through its console (above it), not through it."""
    from syncd.logs import configure_logging

    usual = io.StringIO()
    configure_logging("info", "json", stream=usual)
    shown = io.StringIO()
    with LiveProgress(shown) as display:
        display(ProgressUpdate("events", "full", 1, 2, objects=100))
        structlog.get_logger("syncd.test").warning("during.display")
    structlog.get_logger("syncd.test").warning("after.display")
    assert "during.display" in shown.getvalue()
    assert "during.display" not in usual.getvalue()
    assert "after.display" in usual.getvalue()
