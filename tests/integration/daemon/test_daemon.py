"""`syncd.daemon.Daemon` in threads, on a real PostgreSQL and the in-process sandbox: the schedule,
leadership between two daemons, the health listener, and a clean stop."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stamina
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.api import ApiClient, OnResponse
from syncd.daemon import Daemon
from syncd.replay import ReplayOptions
from syncd.sandbox import Sandbox
from syncd.settings import Settings, load_settings
from tests.helpers import url_for_env
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration

API_KEY = "daemon-it-key-5d1c0a77"
FAST = {"events": 1, "users": 1}


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def runs(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, resource, status, started_at, finished_at FROM syncd.sync_runs ORDER BY id")
        )
        return [dict(row._mapping) for row in rows]


def succeeded(engine: Engine, resource: str) -> int:
    return sum(1 for r in runs(engine) if r["resource"] == resource and r["status"] == "succeeded")


def assert_no_overlap(engine: Engine) -> None:
    """No resource's run started before the one before it had finished."""
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for run in runs(engine):
        by_resource.setdefault(run["resource"], []).append(run)
    for resource, these in by_resource.items():
        for before, after in itertools.pairwise(these):
            assert before["finished_at"] is not None, (resource, before)
            assert after["started_at"] >= before["finished_at"], (resource, before, after)


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


@pytest.fixture
def sb() -> Sandbox:
    return Sandbox(api_key=API_KEY, events=30, seed=5)


class Running:
    """A Daemon in a thread, stopped (and checked to exit 0) at the end."""

    def __init__(
        self, settings: Settings, engine: Engine, sb: Sandbox, transport: httpx.BaseTransport | None = None
    ) -> None:
        def client(on_response: OnResponse) -> ApiClient:
            return ApiClient(
                "http://sandbox",
                API_KEY,
                transport=transport or sb.transport(),
                rate_limit_per_s=None,
                on_response=on_response,
            )

        self.daemon = Daemon(settings, engine, client, replay=ReplayOptions(sweep_s=30.0))
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.code = self.daemon.run()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        self.daemon.stop.set()
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "the daemon did not stop in time"
        self.daemon.client.close()
        return self.code


def settings_for(database_url: URL, **values: Any) -> Settings:
    return load_settings(
        overrides={
            "api_key": API_KEY,
            "database_url": url_for_env(database_url),
            "schedule": FAST,
            "leader_poll_s": 0.2,
            "health_port": 0,
            "shutdown_timeout_s": 10.0,
            **values,
        }
    )


def test_the_schedule_fires_per_resource_and_health_answers(
    sb: Sandbox, engine: Engine, database_url: URL
) -> None:
    port = free_port()
    daemon = Running(settings_for(database_url, health_port=port), engine, sb)
    try:
        # Every resource runs once at start (never synced); events and users then every second.
        wait_for(lambda: succeeded(engine, "events") >= 3, 20, "three runs of events")
        wait_for(lambda: succeeded(engine, "users") >= 3, 10, "three runs of users")
        assert succeeded(engine, "polls") == 1  # every 15 min: only its first run
        assert succeeded(engine, "acl_rules") == 1
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").status_code == 200
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"ready": True, "problems": []}
        metrics = httpx.get(f"{base}/metrics").text
        assert "syncd_leader 1.0" in metrics
        assert 'syncd_sync_runs_total{mode="incremental",outcome="succeeded",resource="events"}' in metrics
        assert 'syncd_api_request_duration_seconds_count{endpoint="event.list"}' in metrics
        assert 'syncd_api_responses_total{endpoint="event.list",status="200"}' in metrics
        assert 'syncd_intents{status="pending"} 0.0' in metrics
        assert 'syncd_resource_last_success_age_seconds{resource="events"}' in metrics
        assert "syncd_database_up 1.0" in metrics
    finally:
        code = daemon.stop()
    assert code == 0
    assert_no_overlap(engine)


class Outage(httpx.BaseTransport):
    """The sandbox, until `mode` says the API is unreachable or refuses every key."""

    def __init__(self, sb: Sandbox) -> None:
        self.inner = sb.transport()
        self.mode = "up"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "refused":
            raise httpx.ConnectError("[Errno 111] Connection refused")
        if self.mode == "wrong key":
            return httpx.Response(401, json={"message": "missing or invalid X-API-KEY header"})
        return self.inner.handle_request(request)


def test_the_daemon_keeps_going_while_the_api_is_down_and_readyz_says_why(
    sb: Sandbox, engine: Engine, database_url: URL
) -> None:
    port = free_port()
    outage = Outage(sb)
    outage.mode = "refused"
    daemon = Running(settings_for(database_url, health_port=port), engine, sb, outage)
    readyz = f"http://127.0.0.1:{port}/readyz"

    def not_ready_because(reason: str) -> bool:
        answer = httpx.get(readyz)
        return answer.status_code == 503 and reason in answer.json()["problems"]

    try:
        wait_for(lambda: not_ready_because("api unreachable: connection refused"), 20, "readyz to say why")
        failed = len(runs(engine))
        wait_for(lambda: len(runs(engine)) >= failed + 2, 20, "more sync attempts while the API is down")
        assert daemon.code is None  # still running
        assert succeeded(engine, "events") == 0

        outage.mode = "up"
        wait_for(lambda: httpx.get(readyz).status_code == 200, 20, "ready once the API is back")
        wait_for(lambda: succeeded(engine, "events") >= 1, 10, "a sync once the API is back")

        outage.mode = "wrong key"
        wait_for(
            lambda: not_ready_because("the API refused the key (HTTP 401 on GET /panel/api/event/list)"),
            20,
            "readyz to name the refused key",
        )
        assert daemon.code is None
    finally:
        code = daemon.stop()
    assert code == 0


def test_two_daemons_one_leader_and_the_follower_takes_over(
    sb: Sandbox, engine: Engine, database_url: URL
) -> None:
    first = Running(settings_for(database_url), engine, sb)
    wait_for(lambda: first.daemon.leadership.leading, 10, "the first daemon to lead")
    second = Running(settings_for(database_url), engine, sb)
    try:
        wait_for(lambda: succeeded(engine, "events") >= 3, 20, "runs of events")
        assert not second.daemon.leadership.leading
        assert first.code is None
        taken_over = time.monotonic()
        assert first.stop() == 0
        wait_for(lambda: second.daemon.leadership.leading, 5, "the follower to take the lead")
        print(f"takeover after a clean stop: {time.monotonic() - taken_over:.2f}s")
        before = succeeded(engine, "events")
        wait_for(lambda: succeeded(engine, "events") >= before + 2, 10, "runs by the new leader")
    finally:
        if first.thread.is_alive():
            first.stop()
        assert second.stop() == 0
    assert_no_overlap(engine)


def test_a_stop_during_a_sync_exits_0_with_the_pages_committed(engine: Engine, database_url: URL) -> None:
    # 20 pages of events, each answer 0.3 s late: a stop lands in the middle of the full pass.
    slow = Sandbox(api_key=API_KEY, events=2000, seed=5, latency=0.3)
    only_events = {
        r: 86400
        for r in (
            "users",
            "event_types",
            "event_type_tags",
            "event_type_availability",
            "user_event_type_tags",
            "polls",
            "cancellation_policies",
            "acl_rules",
            "integrations",
        )
    }
    daemon = Running(settings_for(database_url, schedule={**only_events, "events": 3600}), engine, slow)

    def pages() -> float:
        value = daemon.daemon.metrics.registry.get_sample_value(
            "syncd_sync_pages_total", {"resource": "events"}
        )
        return value or 0.0

    wait_for(lambda: pages() >= 1, 60, "a first committed page of events")
    stopped = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - stopped < 5
    with engine.connect() as conn:
        run = conn.execute(text("SELECT status, pages FROM syncd.sync_runs WHERE resource = 'events'")).one()
        next_page = conn.execute(
            text("SELECT full_next_page FROM syncd.sync_cursors WHERE resource = 'events'")
        ).scalar_one()
        mirrored = conn.execute(text("SELECT count(*) FROM simplymeet.events")).scalar_one()
    assert run.status == "running"  # the next run closes it as interrupted and resumes the pass
    assert 1 <= run.pages < 20
    assert next_page == run.pages + 1
    assert mirrored == run.pages * 100


def test_the_daemon_delivers_webhooks_reports_the_feed_and_prunes_it(
    sb: Sandbox, engine: Engine, database_url: URL, receiver: Receiver
) -> None:
    from syncd.db.webhooks import add_subscription
    from syncd.webhooks import generate_secret

    with engine.begin() as conn:
        subscription = add_subscription(conn, receiver.url, generate_secret(), kinds=["event.*"])
    settings = settings_for(database_url, changes_retention_days=1, webhook_allow_private=True)
    daemon = Running(settings, engine, sb)
    try:
        wait_for(lambda: succeeded(engine, "events") >= 1, 20, "a run of events")
        # The first sync's event.created changes, each a POST, in order.
        wait_for(lambda: len(receiver.ids()) >= 30, 20, "the first sync's 30 events")
        ids = receiver.ids()
        assert ids == sorted(ids)
        assert {r.json["type"] for r in receiver.received} == {"event.created"}
        first = daemon.daemon.metrics.exposition().decode()  # the feed's counter starts here
        event_id = next(i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active")
        sb.world.cancel_event(event_id, "from the daemon test")
        wait_for(lambda: receiver.received[-1].json["type"] == "event.cancelled", 20, "the cancel's POST")
        delivered = 'syncd_webhook_deliveries_total{outcome="delivered"} 31.0'
        # The receiver has the POST a moment before the deliverer, back from it, counts it.
        wait_for(
            lambda: delivered in daemon.daemon.metrics.exposition().decode(), 10, "the 31st delivery counted"
        )
        metrics = daemon.daemon.metrics.exposition().decode()
        assert "syncd_changes_total" in first
        assert 'syncd_changes_total{kind="event.cancelled"} 1.0' in metrics
        assert (
            f'syncd_webhook_oldest_undelivered_age_seconds{{subscription="{subscription.id}"}} 0.0' in metrics
        )

        # Age every change past the retention; the prune job keeps what the subscription is owed.
        with engine.begin() as conn:
            conn.execute(text("UPDATE syncd.changes SET occurred_at = occurred_at - interval '2 days'"))
            conn.execute(
                text("UPDATE syncd.webhook_subscriptions SET cursor_id = cursor_id - 1 WHERE id = :id"),
                {"id": subscription.id},
            )
            newest = conn.execute(text("SELECT max(id) FROM syncd.changes")).scalar_one()
        daemon.daemon.prune()
        with engine.connect() as conn:
            left = conn.execute(text("SELECT id FROM syncd.changes ORDER BY id")).scalars().all()
        assert left == [newest]  # owed to the subscription (its cursor is one behind)
    finally:
        assert daemon.stop() == 0
