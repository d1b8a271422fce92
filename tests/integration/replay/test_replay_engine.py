"""The replay engine against the sandbox (in process) and a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.api import ApiClient, parse_api_datetime
from syncd.db import feed, replay_store
from syncd.replay import ReplayOptions
from syncd.sandbox import Sandbox
from tests.integration.replay.conftest import (
    API_KEY,
    Clock,
    Replay,
    active_events,
    attempts,
    calls_to,
    enqueue,
    intent,
    mirrored_event,
)

pytestmark = pytest.mark.integration


def test_each_kind_end_to_end(
    sb: Sandbox, engine: Engine, mirrored: None, replay: Replay, clock: Clock
) -> None:
    e = active_events(sb)
    clock.advance(minutes=5)  # every write moves updatedAt past what the mirror holds
    ids = {
        "cancel": enqueue(engine, "cancel", e[0], {"reason": "client asked"}),
        "reschedule": enqueue(
            engine,
            "reschedule",
            e[1],
            {"start": "2031-12-01T11:00:00+01:00", "end": "2031-12-01T12:30:00+01:00"},
        ),
        "notes": enqueue(engine, "notes", e[2], {"notes": "Bring the contract ✍️"}),
        "invite": enqueue(engine, "invite", e[3], {"emails": ["am@example.com", "Boss@Example.com"]}),
        "no_show": enqueue(engine, "no_show", e[4]),
        "delete": enqueue(engine, "delete", e[5]),
        "resend_notification": enqueue(engine, "resend_notification", e[6]),
    }
    summary = replay()
    assert sorted(summary.succeeded) == sorted(ids.values()), summary
    assert summary.ok
    for kind, intent_id in ids.items():
        row = intent(engine, intent_id)
        assert row["status"] == "succeeded", (kind, row)
        assert row["attempts"] == 1
        [attempt] = attempts(engine, intent_id)
        assert attempt["outcome"] == "succeeded"
        assert attempt["status_code"] == 200
        assert attempt["request"]["method"] in ("PUT", "POST", "DELETE")
        assert str(e[list(ids).index(kind)]) in attempt["request"]["path"]
        assert API_KEY not in str(attempt)
    world = sb.world
    assert world.event_dto(e[0])["state"] == "canceled"
    assert world.event_dto(e[0])["cancellation"]["reason"] == "client asked"
    moved = world.event_dto(e[1])
    assert parse_api_datetime(moved["scheduledAt"]) == dt.datetime(2031, 12, 1, 10, 0, tzinfo=dt.UTC)
    assert parse_api_datetime(moved["endDate"]) == dt.datetime(2031, 12, 1, 11, 30, tzinfo=dt.UTC)
    assert world.event_dto(e[2])["notes"] == "Bring the contract ✍️"
    emails = {p["email"] for p in world.event_dto(e[3])["participants"]}
    assert {"am@example.com", "Boss@Example.com"} <= emails
    assert world.event_dto(e[4])["state"] == "no_show"
    assert e[5] not in world.event_ids()
    assert [n[0] for n in world.notifications] == [e[6]]
    # The reschedule had no eventTypeId: it came from the mirror.
    [reschedule] = attempts(engine, ids["reschedule"])
    assert reschedule["request"]["body"]["eventTypeId"] == moved["eventType"]["id"]
    assert reschedule["request"]["body"]["start"] == "2031-12-01 10:00:00"
    # Read-your-writes: the mirror is current right after the pass.
    for event_id in (e[0], e[1], e[2], e[3], e[4], e[6]):
        row = mirrored_event(engine, event_id)
        assert row is not None
        assert row["raw"] == world.event_dto(event_id), event_id
    gone = mirrored_event(engine, e[5])
    assert gone is not None
    assert gone["deleted_at"] is not None


def test_a_4xx_fails_at_once_with_the_apis_message(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    event_id = active_events(sb)[0]
    sb.world.cancel_event(event_id, "upstream")
    intent_id = enqueue(engine, "cancel", event_id, {"reason": "again"})
    summary = replay()
    assert summary.failed == [intent_id]
    row = intent(engine, intent_id)
    assert (row["status"], row["failure_reason"]) == ("failed", "rejected")
    assert "cancel" in row["last_error"]
    [attempt] = attempts(engine, intent_id)
    assert (attempt["outcome"], attempt["status_code"]) == ("rejected", 400)
    assert attempt["answer_excerpt"] == row["last_error"]


def test_a_5xx_is_retried_until_it_succeeds(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    event_id = active_events(sb)[0]
    intent_id = enqueue(engine, "no_show", event_id)
    sb.faults.error_rate = 1.0
    first = replay()
    assert first.retrying == [intent_id]
    row = intent(engine, intent_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["sent_at"] is not None  # a 5xx may have been applied: settled before a resend
    sb.faults.error_rate = 0.0
    time.sleep(0.05)
    second = replay()
    assert second.succeeded == [intent_id]
    assert second.settled == []
    outcomes = [a["outcome"] for a in attempts(engine, intent_id)]
    assert outcomes == ["in_doubt", "settled_not_applied", "succeeded"]
    assert sb.world.event_dto(event_id)["state"] == "no_show"


def test_a_429_is_retried_without_settling(
    sb: Sandbox, engine: Engine, client: ApiClient, replay: Replay
) -> None:
    intent_id = enqueue(engine, "no_show", active_events(sb)[0])
    refusing = ApiClient(
        "http://sandbox", API_KEY, transport=_Failing(sb, 429), rate_limit_per_s=None, max_attempts=1
    )
    with refusing:
        assert replay(client=refusing).retrying == [intent_id]
    row = intent(engine, intent_id)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("pending", 1, None)
    time.sleep(0.05)
    assert replay().succeeded == [intent_id]
    assert [a["outcome"] for a in attempts(engine, intent_id)] == ["transient", "succeeded"]


class _Failing(httpx.BaseTransport):
    """The sandbox for reads; every write answered with `status` before it reaches the sandbox."""

    def __init__(self, sb: Sandbox, status: int) -> None:
        self.inner = sb.transport()
        self.status = status
        self.writes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return self.inner.handle_request(request)
        self.writes += 1
        return httpx.Response(self.status, json={"message": f"simulated {self.status}"})


def test_transient_failures_exhaust_after_max_attempts(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    intent_id = enqueue(engine, "notes", active_events(sb)[0], {"notes": "x"})
    failing = _Failing(sb, 503)  # reads work, so each in-doubt 503 is settled (not applied) and resent
    options = ReplayOptions(backoff_base_s=0.01, backoff_cap_s=0.01, max_attempts=3)
    with ApiClient("http://sandbox", API_KEY, transport=failing, rate_limit_per_s=None) as api:
        for _ in range(4):
            replay(options, client=api)
            time.sleep(0.03)
    row = intent(engine, intent_id)
    assert (row["status"], row["failure_reason"], row["attempts"]) == ("failed", "exhausted", 3)
    assert row["last_error"] == "simulated 503"
    assert failing.writes == 3
    outcomes = [a["outcome"] for a in attempts(engine, intent_id)]
    assert outcomes == [
        "in_doubt",
        "settled_not_applied",
        "in_doubt",
        "settled_not_applied",
        "in_doubt",
        "settled_not_applied",
    ]
    assert replay(options).succeeded == []


def test_per_event_order_is_insertion_order(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    event_id = active_events(sb)[0]
    first = enqueue(engine, "notes", event_id, {"notes": "A"})
    second = enqueue(engine, "notes", event_id, {"notes": "B"})
    others = [enqueue(engine, "notes", other, {"notes": "other"}) for other in active_events(sb)[1:9]]
    summary = replay(ReplayOptions(concurrency=4))
    assert set(summary.succeeded) == {first, second, *others}
    assert sb.world.event_dto(event_id)["notes"] == "B"
    [a], [b] = attempts(engine, first), attempts(engine, second)
    assert a["finished_at"] <= b["started_at"]


def test_a_later_intent_waits_while_an_earlier_one_backs_off(
    sb: Sandbox, engine: Engine, replay: Replay
) -> None:
    event_id = active_events(sb)[0]
    first = enqueue(engine, "notes", event_id, {"notes": "A"})
    second = enqueue(engine, "notes", event_id, {"notes": "B"})
    sb.faults.error_rate = 1.0
    slow = ReplayOptions(backoff_base_s=60.0, backoff_cap_s=60.0)
    replay(slow)
    sb.faults.error_rate = 0.0
    assert intent(engine, first)["status"] == "pending"
    summary = replay(slow)
    assert summary.succeeded == []
    assert intent(engine, second)["attempts"] == 0  # never overtakes the first
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE syncd.write_intents SET next_attempt_at = now() WHERE id = :id"), {"id": first}
        )
    replay(slow)
    replay(slow)
    assert sb.world.event_dto(event_id)["notes"] == "B"
    assert intent(engine, second)["status"] == "succeeded"


def test_two_replays_at_once_never_send_one_intent_twice(
    sb: Sandbox, engine: Engine, client: ApiClient, replay: Replay
) -> None:
    events = active_events(sb)[:20]
    ids = [enqueue(engine, "notes", event_id, {"notes": f"n{n}"}) for n, event_id in enumerate(events * 3)]
    options = ReplayOptions(concurrency=4, batch_size=1)
    done: list[list[int]] = []

    def run() -> None:
        done.append(replay(options).succeeded)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = [i for part in done for i in part]
    leftover = replay(options).succeeded  # a chain one pass left (its worker had finished) is picked up now
    assert sorted(finished + leftover) == sorted(ids)
    assert calls_to(sb, "/event/notes/") == len(ids)
    for n, event_id in enumerate(events):
        assert sb.world.event_dto(event_id)["notes"] == f"n{n + 40}"


def _orphan(database_url: URL, engine: Engine, *, sent: bool) -> None:
    """Claim every due intent from a session that then disappears, as a killed replay would."""
    session = psycopg.connect(database_url.set(drivername="postgresql").render_as_string(hide_password=False))
    with session:
        session.execute(
            """
            UPDATE syncd.write_intents SET status = 'in_flight', claimed_pid = pg_backend_pid(),
                claimed_backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
                sent_at = CASE WHEN %(sent)s THEN now() END
            WHERE status = 'pending'
            """,
            {"sent": sent},
        )
        session.commit()
        pid = session.info.backend_pid
    deadline = time.monotonic() + 5
    with engine.connect() as conn:
        while conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
        ).scalar_one():
            conn.rollback()
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_an_orphan_never_sent_is_taken_over_at_once(
    sb: Sandbox, engine: Engine, database_url: URL, replay: Replay
) -> None:
    intent_id = enqueue(engine, "notes", active_events(sb)[0], {"notes": "orphaned"})
    _orphan(database_url, engine, sent=False)
    started = time.monotonic()
    summary = replay()
    assert time.monotonic() - started < 2  # no lease to wait out
    assert summary.taken_over == [intent_id]
    assert summary.succeeded == [intent_id]
    assert summary.settled == []
    assert calls_to(sb, "/event/notes/") == 1


def test_an_orphan_in_doubt_is_settled_by_reading_back(
    sb: Sandbox, engine: Engine, database_url: URL, client: ApiClient, replay: Replay
) -> None:
    applied, not_applied = active_events(sb)[:2]
    done = enqueue(engine, "notes", applied, {"notes": "it went through"})
    lost = enqueue(engine, "notes", not_applied, {"notes": "it never left"})
    _orphan(database_url, engine, sent=True)
    client.call(
        "event.notes", path_params={"id": applied}, body={"notes": "it went through"}
    )  # the killed process's call did arrive
    calls_before = calls_to(sb, "/event/notes/")
    summary = replay()
    assert sorted(summary.succeeded) == sorted([done, lost])
    assert summary.settled == [done]
    assert calls_to(sb, "/event/notes/") == calls_before + 1  # only the lost one is sent
    assert [a["outcome"] for a in attempts(engine, done)] == ["settled_applied"]
    assert [a["outcome"] for a in attempts(engine, lost)] == ["settled_not_applied", "succeeded"]
    assert sb.world.event_dto(not_applied)["notes"] == "it never left"


def test_a_dropped_answer_is_settled_and_the_invite_sent_once(
    sb: Sandbox, engine: Engine, replay: Replay
) -> None:
    event_id = active_events(sb)[0]
    intent_id = enqueue(engine, "invite", event_id, {"emails": ["once@example.com"], "message": "hi"})
    sb.faults.drop_rate = 1.0
    first = replay()
    assert first.retrying == [intent_id]
    row = intent(engine, intent_id)
    assert row["status"] == "pending"
    assert row["sent_at"] is not None  # in doubt: settled before anything is sent again
    sb.faults.drop_rate = 0.0
    time.sleep(0.05)
    second = replay()
    assert second.settled == [intent_id]
    assert calls_to(sb, "/event/invite-participants/") == 1
    assert len(sb.world.invitations) == 1
    assert [a["outcome"] for a in attempts(engine, intent_id)] == ["in_doubt", "settled_applied"]


def test_resend_notification_in_doubt_is_not_sent_twice(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    intent_id = enqueue(engine, "resend_notification", active_events(sb)[0])
    sb.faults.drop_rate = 1.0
    replay()
    sb.faults.drop_rate = 0.0
    time.sleep(0.05)
    assert replay().settled == [intent_id]
    assert len(sb.world.notifications) == 1
    assert "assumed applied" in attempts(engine, intent_id)[-1]["error"]


def test_conflict_guard(sb: Sandbox, engine: Engine, mirrored: None, replay: Replay, clock: Clock) -> None:
    stale, fresh = active_events(sb)[:2]
    seen = {i: mirrored_event(engine, i)["updated_at"] for i in (stale, fresh)}  # type: ignore[index]
    clock.advance(minutes=1)
    sb.world.touch_event(stale)  # someone changed it upstream since the CRM decided
    guarded = enqueue(engine, "notes", stale, {"notes": "mine"}, expected_updated_at=seen[stale])
    ok = enqueue(engine, "notes", fresh, {"notes": "mine"}, expected_updated_at=seen[fresh])
    summary = replay()
    assert summary.failed == [guarded]
    assert summary.succeeded == [ok]
    row = intent(engine, guarded)
    assert (row["status"], row["failure_reason"]) == ("failed", "conflict")
    assert "changed upstream" in row["last_error"]
    assert [a["outcome"] for a in attempts(engine, guarded)] == ["conflict"]
    assert sb.world.event_dto(stale)["notes"] != "mine"
    assert calls_to(sb, f"/event/notes/{stale}") == 0


def test_cancels_share_one_list_call_with_a_status_each(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    events = active_events(sb)[:6]
    ids = [enqueue(engine, "cancel", event_id, {"reason": "storm"}) for event_id in events[:5]]
    other_reason = enqueue(engine, "cancel", events[5], {"reason": "other"})
    shows = [enqueue(engine, "no_show", event_id) for event_id in active_events(sb)[6:9]]
    summary = replay(ReplayOptions(concurrency=1, batch_size=50))
    assert sorted(summary.succeeded) == sorted([*ids, other_reason, *shows])
    assert calls_to(sb, "/event/cancel-list") == 1
    assert calls_to(sb, "/event/cancel/") == 1  # the other reason went alone
    assert calls_to(sb, "/event/no-show-list") == 1
    for intent_id in ids:
        [attempt] = attempts(engine, intent_id)
        assert attempt["request"]["body"] == {"ids": events[:5], "reason": "storm"}
        assert attempt["outcome"] == "succeeded"
    assert all(sb.world.event_dto(i)["state"] == "canceled" for i in events)


def test_a_rejected_batch_falls_back_to_one_call_each(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    events = active_events(sb)[:4]
    sb.world.cancel_event(events[2], "upstream")
    ids = [enqueue(engine, "cancel", event_id, {"reason": "storm"}) for event_id in events]
    summary = replay(ReplayOptions(concurrency=1))
    assert summary.failed == [ids[2]]
    assert sorted(summary.succeeded) == sorted(ids[:2] + ids[3:])
    assert calls_to(sb, "/event/cancel-list") == 1
    assert calls_to(sb, "/event/cancel/") == 4
    assert [a["outcome"] for a in attempts(engine, ids[0])] == ["rejected", "succeeded"]
    assert intent(engine, ids[2])["failure_reason"] == "rejected"


def test_batching_can_be_switched_off(sb: Sandbox, engine: Engine, replay: Replay) -> None:
    for event_id in active_events(sb)[:3]:
        enqueue(engine, "no_show", event_id)
    replay(ReplayOptions(batch_size=1))
    assert calls_to(sb, "/event/no-show-list") == 0
    assert calls_to(sb, "/event/no-show/") == 3


def test_database_now_and_next_due(engine: Engine, sb: Sandbox) -> None:
    with engine.connect() as conn:
        assert replay_store.seconds_until_next_due(conn) is None
    enqueue(engine, "no_show", active_events(sb)[0])
    with engine.connect() as conn:
        due = replay_store.seconds_until_next_due(conn)
        assert due is not None
        assert due <= 0
        assert replay_store.database_now(conn).tzinfo is not None


def test_a_replayed_cancel_lands_in_the_feed_with_its_intent_as_origin(
    sb: Sandbox, engine: Engine, mirrored: None, replay: Replay
) -> None:
    event_id = active_events(sb)[0]
    with engine.connect() as conn:
        start = feed.last_change_id(conn)
    intent_id = enqueue(engine, "cancel", event_id, {"reason": "from the CRM"})
    assert replay().succeeded == [intent_id]
    with engine.connect() as conn:
        found = feed.read_changes(conn, start)
    assert [(c.object_id, c.kind, c.origin) for c in found] == [
        (str(event_id), "event.cancelled", f"replay:{intent_id}")
    ]
