"""Follow mode, and a replay killed with SIGKILL while the sandbox (over loopback) holds its answer back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.api import ApiClient
from syncd.replay import ReplayOptions, ReplaySummary, follow, replay_once
from syncd.sandbox import Sandbox
from syncd.sandbox.server import running
from tests.helpers import clean_env, postgres_replay, url_for_env
from tests.integration.replay.conftest import (
    API_KEY,
    Replay,
    active_events,
    attempts,
    calls_to,
    enqueue,
    intent,
)

pytestmark = pytest.mark.integration
log = structlog.get_logger(__name__)


def _wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - started


def test_follow_picks_up_an_insert_within_a_second(sb: Sandbox, engine: Engine, client: ApiClient) -> None:
    stop = threading.Event()
    passes: list[ReplaySummary] = []
    # A sweep far away: only the NOTIFY can explain a prompt pick-up.
    options = ReplayOptions(sweep_s=30.0, backoff_base_s=0.01, backoff_cap_s=0.01)
    thread = threading.Thread(
        target=follow,
        args=(*postgres_replay(engine, client), stop, options),
        kwargs={"on_pass": passes.append},
    )
    thread.start()
    try:
        _wait_for(lambda: passes, 10, "the first pass")
        latencies = []
        for n, event_id in enumerate(active_events(sb)[:3]):
            inserted = time.monotonic()
            intent_id = enqueue(engine, "notes", event_id, {"notes": f"followed {n}"})
            _wait_for(
                lambda i=intent_id: intent(engine, i)["status"] == "succeeded", 5, "the intent to succeed"
            )
            latencies.append(time.monotonic() - inserted)
        log.info("test.follow_latency", latencies_ms=[round(s * 1000, 1) for s in latencies])
        print(f"INSERT-to-succeeded latency with --follow: {[round(s * 1000, 1) for s in latencies]} ms")
        assert max(latencies) < 1.0, latencies
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_follow_survives_a_lost_listening_connection(sb: Sandbox, engine: Engine, client: ApiClient) -> None:
    stop = threading.Event()
    options = ReplayOptions(sweep_s=30.0)
    thread = threading.Thread(target=follow, args=(*postgres_replay(engine, client), stop, options))
    thread.start()
    try:

        def listening() -> bool:
            # A new transaction each time: pg_stat_activity is a snapshot taken once per transaction.
            with engine.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'syncd-replay-listen'"
                        )
                    ).scalar_one()
                )

        _wait_for(listening, 10, "the listener")
        with engine.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'syncd-replay-listen'"
                )
            )
            conn.commit()
        time.sleep(0.2)
        intent_id = enqueue(engine, "notes", active_events(sb)[0], {"notes": "after the drop"})
        _wait_for(
            lambda: intent(engine, intent_id)["status"] == "succeeded", 10, "the intent after a reconnect"
        )
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()


def test_kill_9_while_the_answer_is_held_back_loses_nothing_and_invites_once(
    sb: Sandbox, engine: Engine, database_url: URL, client: ApiClient, replay: Replay, tmp_path: Path
) -> None:
    event_id = active_events(sb)[0]
    intent_id = enqueue(engine, "invite", event_id, {"emails": ["vip@example.com"], "message": "join us"})
    sb.faults.latency_s = 2.5  # the invite takes effect at once; its answer comes 2.5 s later
    with running(sb) as base_url:
        env = clean_env(
            {
                "SYNCD_API_URL": base_url,
                "SYNCD_API_KEY": API_KEY,
                "SYNCD_DATABASE_URL": url_for_env(database_url),
                "SYNCD_LOG_FORMAT": "json",
            },
            home=tmp_path,
        )
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("syncd")), "replay"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: calls_to(sb, "/event/invite-participants/") == 1, 30, "the invite to arrive")
            os.kill(process.pid, signal.SIGKILL)
        finally:
            _, stderr = process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL
        assert API_KEY not in stderr
        row = intent(engine, intent_id)
        assert (row["status"], row["attempts"]) == ("in_flight", 1)
        assert row["sent_at"] is not None
        [open_attempt] = attempts(engine, intent_id)
        assert open_attempt["outcome"] is None  # sent, answer never recorded: the audit trail says so

        sb.faults.latency_s = 0.0
        with engine.connect() as conn:  # Postgres notices the dead client within milliseconds
            _wait_for(
                lambda: (
                    not conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"),
                        {"p": row["claimed_pid"]},
                    ).scalar_one()
                    and not conn.rollback()
                ),
                5,
                "the killed session to end",
            )
        summary = replay_once(*postgres_replay(engine, client), ReplayOptions())
    assert summary.taken_over == [intent_id]
    assert summary.settled == [intent_id]
    assert intent(engine, intent_id)["status"] == "succeeded"
    assert calls_to(sb, "/event/invite-participants/") == 1
    assert len(sb.world.invitations) == 1
    assert [a["outcome"] for a in attempts(engine, intent_id)] == [None, "settled_applied"]
