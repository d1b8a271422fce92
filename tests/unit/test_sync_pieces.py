"""The sync engine's pure pieces: key text, error lines, ages and tables."""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pytest
import structlog

from syncd.api import ApiTransientError
from syncd.db.leader import Leader
from syncd.db.state import Cursor, LastRun, ResourceStatus, RunCounts, key_text
from syncd.formatting import when
from syncd.logs import redactor
from syncd.report import LiveProgress, age, duration, status_document, status_table, summary_table
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


@pytest.mark.parametrize(
    ("outcome", "label"),
    [
        (ResourceOutcome("events", "incremental", "succeeded", run_id=1, fetched=True), "incremental"),
        (
            ResourceOutcome("events", "full", "succeeded", run_id=1, fetched=True, fell_back_to_full=True),
            "full (fell back)",
        ),
        (ResourceOutcome("events", "full", "failed", run_id=1, fetched=True, resumed=True), "full (resumed)"),
        # A dead API: the resumed full pass it planned never stored a page.
        (ResourceOutcome("events", "full", "failed", run_id=1, resumed=True), "failed before fetching"),
        (ResourceOutcome("events", "full", "failed", error="another sync of events is running"), "not run"),
        # Nothing to fetch is not a failure: the mode ran.
        (ResourceOutcome("event_type_availability", "full", "succeeded", run_id=1), "full"),
    ],
)
def test_the_mode_label_claims_only_what_ran(outcome: ResourceOutcome, label: str) -> None:
    assert outcome.mode_label == label
    assert re.split(r"\s{2,}", summary_table(SyncSummary([outcome])).splitlines()[1])[1] == label


def _status(run: LastRun | None, success: dt.datetime | None) -> ResourceStatus:
    cursor = None if success is None else Cursor("events", None, success, None, None, None, None)
    return ResourceStatus("events", live=3, deleted=1, rejected=0, cursor=cursor, last_run=run)


NOW = dt.datetime(2026, 11, 30, 22, 37, 41, 123456, tzinfo=dt.UTC)


def _run(status: str, pages: int) -> LastRun:
    return LastRun(
        7,
        "full",
        status,
        NOW - dt.timedelta(seconds=9),
        NOW,
        "boom" if status == "failed" else None,
        RunCounts(pages=pages),
        fell_back_to_full=False,
    )


def test_status_table_times_are_iso_utc_to_the_second_and_a_run_that_fetched_nothing_says_so() -> None:
    table = status_table([_status(_run("failed", 0), NOW - dt.timedelta(hours=2))], NOW)
    row = table.splitlines()[1].split()
    assert row[:3] == ["events", "2026-11-30T20:37:41Z", "2h"]
    assert " failed (before fetching, 2026-11-30T22:37:41Z)  boom" in table
    done = status_table([_status(_run("succeeded", 3), None)], NOW)
    assert "succeeded (full, 2026-11-30T22:37:41Z)" in done
    assert done.splitlines()[1].split()[1:3] == ["-", "never"]


def test_when_is_one_form_whatever_the_zone() -> None:
    zoned = dt.datetime(2026, 12, 1, 0, 37, 41, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert when(zoned) == "2026-11-30T22:37:41Z"
    assert when(None) == "-"


def test_the_status_document_keeps_full_precision_and_every_queue_status() -> None:
    leader = Leader(pid=42, application_name="syncd-run", client_addr=None, backend_start=NOW)
    document = status_document(
        leader,
        {"pending": 2, "failed": 1},
        12.3456,
        [_status(_run("failed", 0), NOW), _status(None, None)],
        NOW,
    )
    assert json.loads(json.dumps(document)) == document  # plain JSON types only
    assert document["checked_at"] == "2026-11-30T22:37:41.123456+00:00"
    assert document["leader"] == {
        "application_name": "syncd-run",
        "pid": 42,
        "client_addr": None,
        "since": "2026-11-30T22:37:41.123456+00:00",
    }
    assert document["intents"] == {
        "by_status": {"pending": 2, "in_flight": 0, "succeeded": 0, "failed": 1, "withdrawn": 0},
        "oldest_pending_age_s": 12.346,
    }
    first, never = document["resources"]
    assert (first["age_s"], first["live"], first["deleted"]) == (0.0, 3, 1)
    assert first["last_run"]["fetched"] is False
    assert first["last_run"]["error"] == "boom"
    assert first["last_run"]["counts"]["pages"] == 0
    assert (never["last_success_at"], never["age_s"], never["last_run"]) == (None, None, None)
    assert status_document(None, {}, 0.0, [], NOW)["intents"]["oldest_pending_age_s"] is None
