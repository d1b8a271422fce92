"""What a person sees in a terminal: `syncd sync`'s one live display then one summary, and a quiet
`syncd intent`. Each command runs on a pseudo-terminal; a terminal emulator (pyte) reads the screen."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from syncd.resources import SYNCED
from tests.helpers import (
    CANARY_KEY,
    clean_env,
    run_syncd_in_terminal,
    sandbox_process,
    terminal_screen,
    url_for_env,
)

pytestmark = pytest.mark.acceptance

COLUMNS, LINES = 120, 50
NAMES = [r.name for r in SYNCED]
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
SUMMARY_HEADER = re.compile(r"resource\s+mode\s+status\s+pages\s+inserted")
# A row of the live display: name, bar, pages, objects, then a rate and an ETA or how it ended.
DISPLAY_ROW = re.compile(
    rf"^(?P<name>{'|'.join(NAMES)})\s+[━╸╺]+\s+\d+(/\d+)? pages?\s+[\d,]+ objects"
    r"(\s+[\d,]+/s)?(\s+(eta \d+:\d\d(:\d\d)?|done|FAILED))?$"
)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    with sandbox_process(events=2000, seed=14) as (_, base_url):
        yield base_url


@pytest.fixture
def env(sandbox_url: str, database_url: URL, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        {
            "SYNCD_API_URL": sandbox_url,
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
            "SYNCD_API_RATE_LIMIT_PER_S": "0",  # the sandbox is local: no need to be polite
        },
        home=tmp_path,
    )


def _frames(written: bytes) -> list[list[str]]:
    """The screen just before each redraw of the live display begins (it starts by erasing a line)."""
    import pyte

    screen = pyte.Screen(COLUMNS, LINES)
    stream = pyte.ByteStream(screen)
    frames, fed = [], 0
    for redraw in re.finditer(rb"\r\x1b\[2K", written):
        stream.feed(written[fed : redraw.start()])
        fed = redraw.start()
        frames.append([line.rstrip() for line in screen.display if line.strip()])
    return frames


def test_sync_shows_one_live_display_then_one_summary(env: dict[str, str]) -> None:
    code, written = run_syncd_in_terminal("sync", env=env, columns=COLUMNS, lines=LINES)
    text = ANSI.sub(b"", written).decode()
    assert code == 0, text
    assert CANARY_KEY not in text

    # While it runs: every line on the screen is a row of the one display, one row per resource at
    # most, in sync order; no log line, no summary, nothing glued to a row.
    frames = [frame for frame in _frames(written) if frame]
    assert frames, text
    for frame in frames:
        rows = [DISPLAY_ROW.match(line) for line in frame]
        assert all(rows), frame
        assert [m["name"] for m in rows if m] == NAMES[: len(frame)], frame
    assert any(len(frame) == len(NAMES) for frame in frames)  # in the end a row for each resource
    assert any(re.search(r"^events\s.*\d+/20 pages .* eta ", line) for f in frames for line in f)

    # When it ends: the display is gone and the summary stands alone, a row per resource, once.
    assert TIMESTAMP.search(text) is None, "a log line below warning reached the terminal"
    assert len(SUMMARY_HEADER.findall(text)) == 1
    screen = terminal_screen(written, COLUMNS, LINES)
    assert SUMMARY_HEADER.match(screen[0]), screen
    assert [line.split()[:3] for line in screen[1:]] == [[name, "full", "succeeded"] for name in NAMES]
    events = next(line for line in screen if line.startswith("events "))
    assert events.split()[3:5] == ["20", "2000"]  # pages, inserted


def test_sync_verbose_prints_log_lines_above_the_display(env: dict[str, str]) -> None:
    code, written = run_syncd_in_terminal("-v", "sync", "polls", "events", env=env, columns=COLUMNS)
    text = ANSI.sub(b"", written).decode()
    assert code == 0, text
    assert len(SUMMARY_HEADER.findall(text)) == 1
    for frame in _frames(written):
        for line in frame:
            # A log line (starting with its time, maybe wrapped onto the next lines) or a display row.
            assert not (TIMESTAMP.search(line) and " pages" in line), line
    screen = terminal_screen(written, COLUMNS, LINES)
    done = [line for line in screen if "sync.resource_done" in line]
    assert len(done) == 2
    assert all(TIMESTAMP.match(line) for line in done), done
    header = next(i for i, line in enumerate(screen) if SUMMARY_HEADER.match(line))
    assert [line.split()[0] for line in screen[header + 1 :]] == ["polls", "events"]
    assert max(i for i, line in enumerate(screen) if TIMESTAMP.match(line)) < header


def test_intent_prints_its_id_alone_or_its_row(env: dict[str, str]) -> None:
    code, written = run_syncd_in_terminal("intent", "cancel", "101", "--reason", "asked", env=env)
    assert code == 0, written
    screen = terminal_screen(written)
    assert len(screen) == 1, screen  # no log line before it
    intent_id = int(screen[0])

    code, written = run_syncd_in_terminal("intent", "notes", "102", "--text", "hi", "--json", env=env)
    assert code == 0, written
    row = json.loads(written.decode())
    assert (row["id"], row["kind"], row["event_id"]) == (intent_id + 1, "notes", 102)
    assert (row["payload"], row["status"], row["attempts"]) == ({"notes": "hi"}, "pending", 0)
