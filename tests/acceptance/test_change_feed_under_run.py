"""The change feed end to end, as an operator runs it: `syncd webhooks add`, `syncd run`, a real
receiver on 127.0.0.1, upstream changes made through the sandbox's side door, and a daemon killed
with -9 in the middle of a delivery.

Shows: a cancel upstream becomes exactly one `event.cancelled` delivery with a valid Standard
Webhooks signature; changes written while the daemon is dead, and the one it was delivering when it
died, all arrive after the restart, in order; `syncd changes tail` prints them.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from standardwebhooks.webhooks import Webhook

from tests.acceptance.test_run_command import Replica
from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env
from tests.integration.daemon.test_daemon import succeeded, wait_for
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.acceptance

ADMIN = "side-door-token-8f2e"


def side_door(base_url: str, action: str, **body: object) -> None:
    answer = httpx.post(f"{base_url}/_sandbox/world/{action}", json=body, headers={"X-SANDBOX-TOKEN": ADMIN})
    assert answer.status_code == 200, answer.text


def active_events(engine: Engine, count: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT id FROM simplymeet.events WHERE state = 'active' ORDER BY id LIMIT :n"),
                {"n": count},
            ).scalars()
        )


def cancelled_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT id FROM syncd.changes WHERE kind = 'event.cancelled' ORDER BY id")
            ).scalars()
        )


def test_cancel_is_delivered_once_signed_and_a_killed_daemon_loses_nothing(
    database_url: URL, engine: Engine, tmp_path: Path, receiver: Receiver
) -> None:
    with sandbox_process(events=40, seed=4, extra=("--admin-token", ADMIN)) as (_, api_url):
        config = tmp_path / "syncd.toml"
        config.write_text("shutdown_timeout_s = 15\n[schedule]\nevents = 1\n")
        env = clean_env(
            {
                "SYNCD_API_URL": api_url,
                "SYNCD_API_KEY": CANARY_KEY,
                "SYNCD_DATABASE_URL": url_for_env(database_url),
                "SYNCD_CONFIG": str(config),
                "SYNCD_LOG_FORMAT": "json",
                "SYNCD_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",  # the receiver's loopback address
            },
            home=tmp_path,
        )
        added = run_syncd("webhooks", "add", receiver.url, "--kinds", "event.cancelled", env=env, timeout=60)
        assert added.returncode == 0, added.stderr
        secret = re.search(r"^secret\s+(whsec_\S+)$", added.stdout, re.M)
        assert secret, added.stdout
        assert secret.group(1) not in added.stderr

        daemon = Replica(env, tmp_path, "first")
        try:
            wait_for(lambda: succeeded(engine, "events") >= 1, 30, "the first sync of events")
            first, second, third = active_events(engine, 3)
            side_door(api_url, "cancel_event", id=first, reason="the invitee cancelled")
            wait_for(lambda: len(receiver.received) >= 1, 15, "the delivery of the cancel")
            time.sleep(1.5)  # a few more sync runs: nothing else may arrive
            [delivery] = receiver.received
            event = delivery.json
            assert event["type"] == "event.cancelled"
            assert event["data"]["id"] == str(first)
            assert event["data"]["object"]["state"] == "canceled"
            assert event["data"]["changes"]["state"] == {"old": "active", "new": "canceled"}
            # An independent implementation of the scheme verifies the signature.
            verified = Webhook(secret.group(1)).verify(delivery.body, delivery.headers)
            assert verified["data"]["change_id"] == delivery.change_id

            # The receiver now takes 3 s to answer: kill -9 the daemon while it waits.
            receiver.delay = 3.0
            side_door(api_url, "cancel_event", id=second, reason="second")
            wait_for(lambda: sum(receiver.in_flight.values()) >= 1, 15, "a delivery in flight")
            daemon.process.send_signal(signal.SIGKILL)
            daemon.process.wait(10)
            # The receiver records a request when it has answered it: let the dead daemon's finish,
            # so the list below is in the order the requests arrived.
            wait_for(lambda: sum(receiver.in_flight.values()) == 0, 15, "the killed delivery's answer")
        finally:
            daemon.close()

        # While no daemon runs, another cancel lands in the mirror (and the feed) by a one-shot sync.
        side_door(api_url, "cancel_event", id=third, reason="third")
        synced = run_syncd("sync", "events", env=env, timeout=120)
        assert synced.returncode == 0, synced.stderr
        expected = cancelled_ids(engine)
        assert len(expected) == 3

        receiver.delay = 0.0
        restarted = Replica(env, tmp_path, "restarted")
        try:
            wait_for(lambda: set(expected) <= set(receiver.ids()), 30, "every cancel after the restart")
            restarted.process.send_signal(signal.SIGTERM)
            assert restarted.process.wait(30) == 0
        finally:
            restarted.close()

    ids = receiver.ids()
    # At least once, in order: the one in flight at the kill may come twice, back to back.
    assert [i for n, i in enumerate(ids) if n == 0 or ids[n - 1] != i] == expected, ids
    for delivery in receiver.received:
        Webhook(secret.group(1)).verify(delivery.body, delivery.headers)

    tail = run_syncd("changes", "tail", "--kind", "event.cancelled", env=env, timeout=60)
    assert tail.returncode == 0, tail.stderr
    lines = tail.stdout.splitlines()
    assert len(lines) == 3, tail.stdout
    assert all("event.cancelled" in line for line in lines), tail.stdout
    assert f"events/{first}" in lines[0]
    assert CANARY_KEY not in tail.stdout + tail.stderr
