"""Finish groups: successes recorded together (one read-back call, one transaction with the mirror),
without giving up per-event order, read-your-writes, or the in-doubt settlement of a lost record."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, text

from syncd.db import intent_queue as queue_module
from syncd.replay import ReplayOptions
from syncd.sandbox import Sandbox
from tests.integration.replay.conftest import (
    Replay,
    active_events,
    attempts,
    calls_to,
    enqueue,
    intent,
    mirrored_event,
)

pytestmark = pytest.mark.integration


def _wait_until_gone(engine: Engine, pid: int) -> None:
    """The failed worker's session was ended (not pooled); the server lets it go within moments."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            alive = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar_one()
        if not alive:
            return
        time.sleep(0.02)
    raise AssertionError(f"session {pid} still alive")


def test_interleaved_intents_finish_in_one_pass_in_order(
    sb: Sandbox, engine: Engine, mirrored: None, replay: Replay
) -> None:
    events = active_events(sb)[:6]
    # Round-robin: each event's intents are interleaved with the others', so every one after the
    # first waits for its predecessor's finish group to be recorded.
    ids = [
        enqueue(engine, "notes", event_id, {"notes": f"{event_id} #{round_}"})
        for round_ in range(4)
        for event_id in events
    ]
    summary = replay(ReplayOptions(concurrency=4, finish_group=50, finish_hold_s=60.0))
    assert sorted(summary.succeeded) == sorted(ids)  # one pass: idle workers wait for the others' groups
    assert calls_to(sb, "/event/notes/") == len(ids)
    with engine.connect() as conn:
        overtaken = conn.execute(
            text(
                "SELECT count(*) FROM syncd.write_intents AS older"
                " JOIN syncd.write_intents AS newer ON newer.event_id = older.event_id AND newer.id > older.id"
                " JOIN syncd.intent_attempts AS a ON a.intent_id = newer.id"
                " WHERE a.started_at < older.finished_at"
            )
        ).scalar_one()
    assert overtaken == 0
    for event_id in events:
        assert sb.world.event_dto(event_id)["notes"] == f"{event_id} #3"
        row = mirrored_event(engine, event_id)
        assert row is not None
        assert row["notes"] == f"{event_id} #3"  # read-your-writes, right after the pass
    for intent_id in ids:
        [attempt] = attempts(engine, intent_id)
        assert attempt["outcome"] == "succeeded"
        assert attempt["status_code"] == 200
        assert attempt["finished_at"] is not None


def test_a_group_lost_before_its_commit_is_settled_not_resent(
    sb: Sandbox, engine: Engine, mirrored: None, replay: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = active_events(sb)[:5]
    ids = [enqueue(engine, "notes", event_id, {"notes": f"group {event_id}"}) for event_id in events]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the mirror write failed")

    monkeypatch.setattr(queue_module, "store_in_mirror", broken)
    with pytest.raises(RuntimeError):
        replay(ReplayOptions(concurrency=1))
    # Answered by the API, never recorded: in flight, sent, held by a session that is gone.
    for intent_id in ids:
        row = intent(engine, intent_id)
        assert row["status"] == "in_flight"
        assert row["sent_at"] is not None
    assert calls_to(sb, "/event/notes/") == len(ids)
    _wait_until_gone(engine, intent(engine, ids[0])["claimed_pid"])
    monkeypatch.undo()
    summary = replay(ReplayOptions(concurrency=1))
    assert sorted(summary.taken_over) == sorted(ids)
    assert sorted(summary.settled) == sorted(ids)
    assert calls_to(sb, "/event/notes/") == len(ids)  # nothing sent twice
    for intent_id, event_id in zip(ids, events, strict=True):
        assert intent(engine, intent_id)["status"] == "succeeded"
        row = mirrored_event(engine, event_id)
        assert row is not None
        assert row["notes"] == f"group {event_id}"
