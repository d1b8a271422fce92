"""The sync engine's pure pieces: key text, error lines, ages and tables."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from syncd.api import ApiTransientError
from syncd.db.state import RunCounts, key_text
from syncd.logs import redactor
from syncd.report import TerminalProgress, age, summary_table
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


def test_terminal_progress_redraws_one_line_and_ends_it() -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, name_width=8)
    bar(ProgressUpdate("events", "full", 1, 4))
    bar(ProgressUpdate("events", "full", 4, 4, finished=True, status="succeeded"))
    text = out.getvalue()
    assert text.startswith("\revents   [######..................] 1/4 pages")
    assert text.endswith("done (4 pages, full)" + " " * (80 - len("events   done (4 pages, full)")) + "\n")
