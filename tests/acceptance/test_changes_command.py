"""`syncd changes tail|kinds` as a user runs them against a database with a few changes in the feed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.helpers import clean_env, run_syncd, url_for_env

pytestmark = pytest.mark.acceptance

SYNCD = str(Path(sys.executable).with_name("syncd"))


def add_user(engine: Engine, user_id: int, name: str) -> None:
    """A mirror write as a sync page makes it: the feed's triggers record it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO simplymeet.users (id, raw, content_hash, first_synced_at, synced_at) "
                "VALUES (:id, CAST(:raw AS jsonb), 'h', now(), now()) "
                "ON CONFLICT (id) DO UPDATE SET raw = excluded.raw, synced_at = excluded.synced_at"
            ),
            {"id": user_id, "raw": json.dumps({"id": user_id, "name": name})},
        )


def test_tail_kinds_and_filters(database_url: URL, engine: Engine, tmp_path: Path) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)
    for n in range(1, 13):
        add_user(engine, n, f"user {n}")
    add_user(engine, 3, "renamed")

    tail = run_syncd("changes", "tail", env=env)
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 10  # the last 10 by default
    assert lines[-1].startswith("#13 ")
    assert 'user.updated  users/3  name: "user 3" → "renamed"' in lines[-1]

    only = run_syncd("changes", "tail", "--kind", "user.updated", "--json", env=env)
    assert only.returncode == 0, only.stderr
    [change] = [json.loads(line) for line in only.stdout.splitlines()]
    assert change["kind"] == "user.updated"
    assert change["fields"] == {"name": {"old": "user 3", "new": "renamed"}}
    assert change["data"] == {"id": 3, "name": "renamed"}

    start = run_syncd("changes", "tail", "--from", "12", env=env)
    assert [line.split()[0] for line in start.stdout.splitlines()] == ["#12", "#13"]
    wildcard = run_syncd("changes", "tail", "-n", "100", "--kind", "user.*", env=env)
    assert len(wildcard.stdout.splitlines()) == 13

    bad = run_syncd("changes", "tail", "--kind", "event.canceled", env=env)
    assert bad.returncode == 2
    assert "unknown change kind 'event.canceled'" in bad.stderr
    assert "Traceback" not in bad.stderr

    kinds = run_syncd("changes", "kinds", env=env)
    assert kinds.returncode == 0
    assert {"event.cancelled", "event.participants_added", "user.deleted"} <= set(kinds.stdout.split())


def test_tail_follow_prints_new_changes_and_stops_on_sigint(
    database_url: URL, engine: Engine, tmp_path: Path
) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)
    add_user(engine, 1, "before")
    process = subprocess.Popen(
        [SYNCD, "changes", "tail", "--follow", "--json", "--kind", "user.updated"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while "changes.listening" not in process.stderr.readline():
            assert time.monotonic() < deadline, "tail --follow did not start listening"
        started = time.monotonic()
        add_user(engine, 1, "after")
        line = process.stdout.readline()
        latency = time.monotonic() - started
        assert json.loads(line)["fields"] == {"name": {"old": "before", "new": "after"}}
        assert latency < 2.0, latency  # woken by NOTIFY, not by the 5 s poll
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
