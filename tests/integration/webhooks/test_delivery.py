"""Webhook delivery against a real migrated database and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import email.utils
import threading
import time

import httpx
import pytest
from sqlalchemy import Engine, text
from standardwebhooks import Webhook

from syncd.db import webhooks as store
from syncd.db.feed import last_change_id
from syncd.webhooks import (
    Attempt,
    WebhookOptions,
    deliver_due,
    follow_deliveries,
    prune_deliveries,
    send_test,
    undelivered_ages_s,
)
from tests.helpers import Clock
from tests.integration.webhooks.conftest import (
    FAST,
    LOOPBACK,
    add_change,
    add_change_in,
    attempts,
    row,
    subscribe,
    utcnow,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


def _drain(engine: Engine, client: httpx.Client, options: WebhookOptions = FAST, passes: int = 50) -> None:
    """Passes until nothing is left to do (retries of FAST come due within ~20 ms)."""
    for _ in range(passes):
        summary = deliver_due(engine, client, options)
        if not summary.delivered and not summary.failed and not summary.more:
            if summary.next_due_in_s is None:
                return
            time.sleep(summary.next_due_in_s + 0.005)


def test_every_change_is_delivered_in_order_signed_once(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    ids = [
        add_change(engine, "event.created", object_id=str(n), data={"id": n, "notes": "é"}) for n in range(12)
    ]
    subscription_id, secret = subscribe(engine, receiver.url)
    seen: list[Attempt] = []

    summary = deliver_due(engine, client, FAST, on_attempt=seen.append)

    assert (summary.delivered, summary.failed, summary.subscriptions) == (12, 0, 1)
    assert receiver.ids() == ids
    verifier = Webhook(secret)
    for change_id, request in zip(ids, receiver.received, strict=True):
        assert request.headers["webhook-id"] == f"chg_{change_id}"
        assert request.headers["content-type"] == "application/json"
        body = verifier.verify(request.body, request.headers)
        assert body["type"] == "event.created"
        assert body["data"]["change_id"] == change_id
        assert body["data"]["resource"] == "events"
        assert body["data"]["object"]["notes"] == "é"
        assert body["timestamp"].endswith("Z")
    assert row(engine, subscription_id)["cursor_id"] == ids[-1]
    assert [(a.change_id, a.attempt, a.outcome, a.status_code) for a in seen] == [
        (i, 1, "delivered", 200) for i in ids
    ]
    audit = attempts(engine, subscription_id)
    assert [(a["change_id"], a["outcome"], a["status_code"]) for a in audit] == [
        (i, "delivered", 200) for i in ids
    ]

    again = deliver_due(engine, client, FAST)  # nothing new: nothing sent
    assert again.delivered == 0
    assert len(receiver.received) == 12


def test_a_new_subscription_starts_at_the_end_of_the_feed(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url, after_id=None)
    with engine.connect() as conn:
        assert row(engine, subscription_id)["cursor_id"] == last_change_id(conn)
    newer = add_change(engine, "event.deleted")
    deliver_due(engine, client, FAST)
    assert receiver.ids() == [newer]


def test_kinds_filter_sends_only_wanted_changes_and_the_cursor_passes_the_rest(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    changes = [
        add_change(engine, "event.cancelled"),
        add_change(engine, "user.updated"),
        add_change(engine, "event.rescheduled"),
        add_change(engine, "event_type.created"),
        add_change(engine, "user.created"),
    ]
    events, _ = subscribe(engine, receiver.url + "/events", kinds=["event.*"])
    users, _ = subscribe(engine, receiver.url + "/users", kinds=["user.created", "event.rescheduled"])
    everything, _ = subscribe(engine, receiver.url + "/all")

    deliver_due(engine, client, FAST)

    assert receiver.ids("/hook/events") == [changes[0], changes[2]]
    assert receiver.ids("/hook/users") == [changes[2], changes[4]]
    assert receiver.ids("/hook/all") == changes
    # Each cursor is at the end: nothing it does not want is looked at again.
    assert {row(engine, s)["cursor_id"] for s in (events, users, everything)} == {changes[-1]}
    with engine.connect() as conn:
        subscription = store.get_subscription(conn, events)
        assert store.backlog(conn, subscription) == 0
        add_change_in(conn, "event.no_show")
        add_change_in(conn, "user.updated")
        assert store.backlog(conn, subscription) == 1
        conn.rollback()


def test_a_receiver_failing_for_a_while_gets_every_change_afterwards_in_order(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    ids = [add_change(engine, object_id=str(n)) for n in range(6)]
    subscription_id, secret = subscribe(engine, receiver.url)
    receiver.fail(2, status=500)  # the first change fails twice
    first = deliver_due(engine, client, FAST)
    assert (first.delivered, first.failed) == (0, 1)
    failing = row(engine, subscription_id)
    assert failing["attempts"] == 1
    assert failing["failing_since"] is not None
    assert failing["cursor_id"] == 0
    assert failing["last_error"] == "HTTP 500: receiver says no"

    _drain(engine, client)

    assert receiver.ids() == [ids[0], ids[0], *ids]  # the first one three times, then the rest in order
    stamps = {r.headers["webhook-id"] for r in receiver.received[:3]}
    assert stamps == {f"chg_{ids[0]}"}  # the same id on every retry
    for request in receiver.received:
        Webhook(secret).verify(request.body, request.headers)
    healthy = row(engine, subscription_id)
    assert (healthy["attempts"], healthy["failing_since"], healthy["last_error"]) == (0, None, None)
    assert healthy["cursor_id"] == ids[-1]
    audit = attempts(engine, subscription_id)
    assert [(a["change_id"], a["attempt"], a["outcome"]) for a in audit[:4]] == [
        (ids[0], 1, "failed"),
        (ids[0], 2, "failed"),
        (ids[0], 3, "delivered"),
        (ids[1], 1, "delivered"),
    ]


def test_backoff_schedules_the_next_attempt(engine: Engine, client: httpx.Client, receiver: Receiver) -> None:
    options = WebhookOptions(timeout_s=2.0)  # 5 s doubling, jitter 20% below
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    clock = Clock(utcnow() + dt.timedelta(seconds=1))
    receiver.fail(10, status=503)

    deliver_due(engine, client, options, now=clock)
    first = row(engine, subscription_id)
    wait = (first["next_attempt_at"] - clock.now).total_seconds()
    assert 4.0 <= wait <= 5.0

    clock.advance(seconds=3)  # not due yet: nothing is sent
    assert deliver_due(engine, client, options, now=clock).subscriptions == 0
    assert len(receiver.received) == 1

    clock.advance(seconds=2)
    deliver_due(engine, client, options, now=clock)
    second = row(engine, subscription_id)
    assert second["attempts"] == 2
    assert len(receiver.received) == 2
    assert 8.0 <= (second["next_attempt_at"] - clock.now).total_seconds() <= 10.0
    assert second["failing_since"] == first["failing_since"]


def test_retry_after_from_the_receiver_is_honoured(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    clock = Clock(utcnow() + dt.timedelta(seconds=1))
    receiver.fail(1, status=429)
    receiver.headers = {"retry-after": "120"}
    deliver_due(engine, client, WebhookOptions(), now=clock)
    assert (row(engine, subscription_id)["next_attempt_at"] - clock.now).total_seconds() == pytest.approx(120)


def test_retry_after_as_an_http_date_is_honoured(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    clock = Clock(utcnow() + dt.timedelta(seconds=1))
    receiver.fail(1, status=503)
    receiver.headers = {
        "retry-after": email.utils.format_datetime(utcnow() + dt.timedelta(seconds=600), usegmt=True)
    }
    deliver_due(engine, client, WebhookOptions(), now=clock)
    wait = (row(engine, subscription_id)["next_attempt_at"] - clock.now).total_seconds()
    assert 590.0 <= wait <= 600.0


def test_failing_longer_than_retry_for_disables_and_enable_resumes_at_the_cursor(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    options = WebhookOptions(retry_for_s=60.0, timeout_s=2.0)
    ids = [add_change(engine) for _ in range(3)]
    subscription_id, _ = subscribe(engine, receiver.url)
    clock = Clock(utcnow() + dt.timedelta(seconds=1))
    receiver.status = 500
    deliver_due(engine, client, options, now=clock)
    clock.advance(seconds=30)
    deliver_due(engine, client, options, now=clock)
    assert row(engine, subscription_id)["enabled"]

    clock.advance(seconds=31)  # 61 s after the first failure
    summary = deliver_due(engine, client, options, now=clock)

    assert summary.disabled == [subscription_id]
    disabled = row(engine, subscription_id)
    assert not disabled["enabled"]
    assert disabled["disabled_at"] is not None
    assert "longer than webhook_retry_for_s (60 s)" in disabled["disabled_reason"]
    assert "HTTP 500" in disabled["disabled_reason"]
    clock.advance(hours=2)
    assert deliver_due(engine, client, options, now=clock).subscriptions == 0
    assert len(receiver.received) == 3

    receiver.status = 200
    with engine.begin() as conn:
        store.enable_subscription(conn, subscription_id)
    deliver_due(engine, client, options)
    assert receiver.ids()[3:] == ids
    enabled = row(engine, subscription_id)
    assert enabled["enabled"]
    assert enabled["attempts"] == 0
    assert enabled["cursor_id"] == ids[-1]


def test_410_gone_disables_at_once(engine: Engine, client: httpx.Client, receiver: Receiver) -> None:
    add_change(engine)
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    receiver.status = 410
    summary = deliver_due(engine, client, FAST)
    assert summary.disabled == [subscription_id]
    gone = row(engine, subscription_id)
    assert not gone["enabled"]
    assert gone["disabled_reason"] == "the receiver answered 410 Gone"
    assert gone["cursor_id"] == 0
    assert [a["outcome"] for a in attempts(engine, subscription_id)] == ["gone"]
    _drain(engine, client)
    assert len(receiver.received) == 1


def test_timeouts_refused_connections_and_redirects_are_failures(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    slow, _ = subscribe(engine, receiver.url + "/slow")
    refused, _ = subscribe(engine, "http://127.0.0.1:9/nothing-listens")
    moved, _ = subscribe(engine, receiver.url + "/moved")
    receiver.delay, receiver.delay_only = 0.5, "/hook/slow"
    options = WebhookOptions(timeout_s=0.2, connect_timeout_s=0.5)
    with httpx.Client(timeout=httpx.Timeout(0.2, connect=0.5), follow_redirects=False) as quick:
        receiver.script = [200, 302]  # order of the pass: slow (times out, answer ignored), then moved
        receiver.headers = {"location": "https://elsewhere.example/x"}
        deliver_due(engine, quick, options)
    assert "ReadTimeout" in str(row(engine, slow)["last_error"])
    assert row(engine, refused)["last_error"].startswith("ConnectError")
    assert (
        row(engine, moved)["last_error"] == "HTTP 302: redirect to https://elsewhere.example/x not followed"
    )
    for subscription_id in (slow, refused, moved):
        failing = row(engine, subscription_id)
        assert failing["cursor_id"] == 0
        assert failing["attempts"] == 1
    assert attempts(engine, refused)[0]["status_code"] is None


def test_replay_sends_a_range_again_in_order(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    ids = [add_change(engine, object_id=str(n)) for n in range(5)]
    subscription_id, _ = subscribe(engine, receiver.url)
    deliver_due(engine, client, FAST)
    assert receiver.ids() == ids

    with engine.begin() as conn:
        store.replay_subscription(conn, subscription_id, ids[1], ids[2])
    deliver_due(engine, client, FAST)
    assert receiver.ids()[5:] == [ids[1], ids[2]]  # not 3 and 4 again
    assert row(engine, subscription_id)["cursor_id"] == ids[-1]
    newer = add_change(engine)
    deliver_due(engine, client, FAST)
    assert receiver.ids()[7:] == [newer]

    with engine.begin() as conn:
        store.replay_subscription(conn, subscription_id, ids[3])
    deliver_due(engine, client, FAST)
    assert receiver.ids()[8:] == [ids[3], ids[4], newer]

    with engine.begin() as conn, pytest.raises(store.WebhookError, match="never skips"):
        store.replay_subscription(conn, subscription_id, newer + 5)


def test_two_concurrent_deliverers_never_overlap_reorder_or_repeat(
    engine: Engine, receiver: Receiver
) -> None:
    ids = [add_change(engine, object_id=str(n)) for n in range(40)]
    subscriptions = [subscribe(engine, f"{receiver.url}/{n}")[0] for n in range(3)]
    receiver.delay = 0.005
    options = WebhookOptions(batch=7, timeout_s=5.0)
    errors: list[BaseException] = []

    def deliverer() -> None:
        try:
            with httpx.Client(timeout=5.0) as http:
                for _ in range(200):
                    deliver_due(engine, http, options)
                    if all(row(engine, s)["cursor_id"] == ids[-1] for s in subscriptions):
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    for n, _subscription_id in enumerate(subscriptions):
        assert receiver.ids(f"/hook/{n}") == ids  # each exactly once, in order
        assert receiver.max_in_flight[f"/hook/{n}"] == 1  # never two at once


def test_a_change_behind_an_uncommitted_one_waits_for_it(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    first = add_change(engine)
    subscribe(engine, receiver.url)
    with engine.connect() as writer:
        writer.begin()
        held = add_change_in(writer)  # its id is given out, its row not yet visible
        later = add_change(engine)  # committed, after the hole
        deliver_due(engine, client, FAST)
        assert receiver.ids() == [first]  # not `later`: `held` may still come
        writer.commit()
    deliver_due(engine, client, FAST)
    assert receiver.ids() == [first, held, later]


def test_a_rolled_back_change_leaves_a_hole_that_is_passed(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    first = add_change(engine)
    with engine.connect() as writer:
        writer.begin()
        add_change_in(writer)
        writer.rollback()
    later = add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    deliver_due(engine, client, FAST)
    assert receiver.ids() == [first, later]
    assert row(engine, subscription_id)["cursor_id"] == later


def test_follow_wakes_on_notify_and_retries_when_due(engine: Engine, receiver: Receiver) -> None:
    subscription_id, _ = subscribe(engine, receiver.url)
    stop = threading.Event()
    options = WebhookOptions(
        sweep_s=30.0, backoff_base_s=0.2, backoff_cap_s=0.2, timeout_s=2.0, policy=LOOPBACK
    )
    follower = threading.Thread(target=follow_deliveries, args=(engine, stop, options), daemon=True)
    follower.start()
    try:
        time.sleep(0.5)  # listening
        with engine.begin() as conn:
            change = add_change_in(conn)
            conn.execute(text("SELECT pg_notify('syncd_changes', :id)"), {"id": str(change)})
        _wait_for(lambda: receiver.ids() == [change])
        receiver.fail(1)
        with engine.begin() as conn:
            second = add_change_in(conn)
            conn.execute(text("SELECT pg_notify('syncd_changes', :id)"), {"id": str(second)})
        _wait_for(lambda: row(engine, subscription_id)["cursor_id"] == second)  # retried after ~0.2 s, not 30
        assert receiver.ids() == [change, second, second]
    finally:
        stop.set()
        follower.join(10)
    assert not follower.is_alive()


def test_test_ping_is_signed_recorded_and_moves_nothing(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    subscription_id, secret = subscribe(engine, receiver.url)
    answer = send_test(engine, client, subscription_id)
    assert answer.ok
    assert answer.status_code == 200
    request = receiver.received[0]
    body = Webhook(secret).verify(request.body, request.headers)
    assert body["type"] == "webhook.test"
    assert body["data"]["subscription_id"] == subscription_id
    assert request.headers["webhook-id"].startswith("test_")
    assert row(engine, subscription_id)["cursor_id"] == 0
    assert [(a["change_id"], a["outcome"]) for a in attempts(engine, subscription_id)] == [
        (None, "delivered")
    ]


def test_metrics_ages_and_pruning(engine: Engine, client: httpx.Client, receiver: Receiver) -> None:
    subscription_id, _ = subscribe(engine, receiver.url)
    idle, _ = subscribe(engine, receiver.url + "/idle", kinds=["poll.*"])
    with engine.begin() as conn:
        change = add_change_in(conn)
        conn.execute(
            text("UPDATE syncd.changes SET occurred_at = now() - interval '90 seconds' WHERE id = :id"),
            {"id": change},
        )
    with engine.connect() as conn:
        ages = undelivered_ages_s(conn)
    assert ages[idle] == 0.0
    assert 89 <= ages[subscription_id] <= 120
    deliver_due(engine, client, FAST)
    with engine.connect() as conn:
        assert undelivered_ages_s(conn)[subscription_id] == 0.0

    with engine.begin() as conn:
        assert store.lowest_enabled_cursor(conn) == change  # `idle` passed the change it does not want
        store.replay_subscription(conn, idle, change)
        assert store.lowest_enabled_cursor(conn) == change - 1
        store.disable_subscription(conn, idle, "test")
        assert store.lowest_enabled_cursor(conn) == change
        store.disable_subscription(conn, subscription_id, "test")
        assert store.lowest_enabled_cursor(conn) is None
    with engine.begin() as conn:
        assert prune_deliveries(conn, utcnow() - dt.timedelta(hours=1)) == 0
        assert prune_deliveries(conn, utcnow() + dt.timedelta(seconds=5)) == 1
    assert attempts(engine, subscription_id) == []


def _wait_for(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def test_a_narrow_filter_passes_many_unwanted_changes_in_one_pass(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    with engine.begin() as conn:
        for n in range(60):
            add_change_in(conn, "user.updated", object_id=str(n))
        wanted = add_change_in(conn, "poll.created")
    subscription_id, _ = subscribe(engine, receiver.url, kinds=["poll.*"])
    deliver_due(engine, client, WebhookOptions(batch=2, timeout_s=2.0))  # scans 8 ids at a time
    assert receiver.ids() == [wanted]
    assert row(engine, subscription_id)["cursor_id"] == wanted


def test_a_replay_of_a_pruned_range_finishes_and_resumes(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    ids = [add_change(engine) for _ in range(4)]
    subscription_id, _ = subscribe(engine, receiver.url)
    deliver_due(engine, client, FAST)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM syncd.changes WHERE id IN (:a, :b)"), {"a": ids[1], "b": ids[2]})
        store.replay_subscription(conn, subscription_id, ids[1], ids[2])
    deliver_due(engine, client, FAST)
    assert row(engine, subscription_id)["cursor_id"] == ids[-1]
    assert row(engine, subscription_id)["replay_through"] is None
    newer = add_change(engine)
    deliver_due(engine, client, FAST)
    assert receiver.ids() == [*ids, newer]


def test_an_unusable_url_is_a_recorded_failure_not_a_crash(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    broken, _ = subscribe(engine, "http://exa mple.com:80/x")
    fine, _ = subscribe(engine, receiver.url)
    summary = deliver_due(engine, client, FAST)
    assert (summary.delivered, summary.failed) == (1, 1)
    assert row(engine, broken)["attempts"] == 1
    assert row(engine, broken)["last_error"]
    assert row(engine, fine)["cursor_id"] == 1
