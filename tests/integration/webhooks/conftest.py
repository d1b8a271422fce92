"""Helpers to write changes into the feed and subscriptions into the database (the receiver is
tests/webhook_receiver.py, its fixture in tests/conftest.py)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from syncd.db.webhooks import add_subscription
from syncd.netpolicy import AddressPolicy
from syncd.webhooks import WebhookOptions, generate_secret, webhook_client

# The receiver is on 127.0.0.1: the tests allow loopback explicitly, as an operator would.
LOOPBACK = AddressPolicy(allow_private=True)
# Retries due almost at once, so a test moves from one pass to the next without waiting.
FAST = WebhookOptions(
    backoff_base_s=0.01,
    backoff_cap_s=0.02,
    timeout_s=15.0,
    connect_timeout_s=5.0,
    sweep_s=0.5,
    policy=LOOPBACK,
)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with webhook_client(FAST) as http:
        yield http


def add_change(
    engine: Engine,
    kind: str = "event.updated",
    kinds: list[str] | None = None,
    *,
    object_id: str = "1",
    resource: str | None = None,
    data: Any = None,
) -> int:
    """A change as the feed's triggers write it."""
    with engine.begin() as conn:
        return add_change_in(conn, kind, kinds, object_id=object_id, resource=resource, data=data)


def add_change_in(
    conn: Any,
    kind: str = "event.updated",
    kinds: list[str] | None = None,
    *,
    object_id: str = "1",
    resource: str | None = None,
    data: Any = None,
) -> int:
    resource = resource or {"event": "events", "user": "users"}.get(
        kind.split(".")[0], kind.split(".")[0] + "s"
    )
    kinds = kinds or (
        [kind] if kind.endswith((".created", ".updated", ".deleted")) else ["event.updated", kind]
    )
    return int(
        conn.execute(
            text(
                "INSERT INTO syncd.change_log (occurred_at, resource, object_id, kind, kinds, fields, data, origin) "
                "VALUES (now(), :resource, :object_id, :kind, :kinds, NULL, CAST(:data AS jsonb), 'sync') "
                "RETURNING id"
            ),
            {
                "resource": resource,
                "object_id": object_id,
                "kind": kind,
                "kinds": kinds,
                "data": json.dumps(data if data is not None else {"id": object_id}),
            },
        ).scalar_one()
    )


def subscribe(
    engine: Engine, url: str, *, kinds: list[str] | None = None, after_id: int | None = 0
) -> tuple[int, str]:
    secret = generate_secret()
    with engine.begin() as conn:
        subscription = add_subscription(conn, url, secret, kinds=kinds or [], after_id=after_id)
    return subscription.id, secret


def row(engine: Engine, subscription_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found = (
            conn.execute(
                text("SELECT * FROM syncd.webhook_subscriptions WHERE id = :id"), {"id": subscription_id}
            )
            .mappings()
            .one()
        )
    return dict(found)


def attempts(engine: Engine, subscription_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM syncd.webhook_deliveries WHERE subscription_id = :id ORDER BY id"),
            {"id": subscription_id},
        ).mappings()
        return [dict(r) for r in rows]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
