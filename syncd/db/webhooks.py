"""Outgoing webhooks: `syncd.webhook_subscriptions` (who wants the change feed, and how far each got) and
`syncd.webhook_deliveries` (every attempt: the audit trail).

Every SQL statement of the webhooks lives here, one named function each, in the caller's connection
and transaction (the caller commits): the operator's (add, list, enable, disable, replay, remove) and
the delivery engine's (`syncd.webhooks`): claim a due subscription (`FOR UPDATE SKIP LOCKED`), read
the next changes that are safe to send in order, record the attempt and move the cursor.

A subscription's cursor (`cursor_id`) is the id of the last change delivered to it, or passed over
because its kinds filter does not want it. The secret is read only where a request is signed: it is
never part of `Subscription`, never printed, never logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from syncd.db.feed import CHANGES, Change, kinds_match, last_change_id, read_settled
from syncd.db.schema import STATE_SCHEMA, metadata

log = structlog.get_logger(__name__)

# Woken by `syncd webhooks add/enable/replay`, besides the feed's own `syncd_changes`.
NOTIFY_CHANNEL = "syncd_webhooks"
OUTCOMES = ("delivered", "failed", "gone")
# `list` counts a backlog up to this many, then says "N+".
BACKLOG_COUNT_LIMIT = 100_000

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False, comment="Where each change is POSTed (http:// or https://)."),
    Column(
        "secret",
        Text,
        nullable=False,
        comment="The signing secret, whsec_<base64 key> (Standard Webhooks); never printed or logged.",
    ),
    Column(
        "kinds",
        ARRAY(Text),
        nullable=False,
        server_default=text("'{}'::text[]"),
        comment="Kinds filter: a change is sent when one of its kinds is listed; 'event.*' matches a "
        "prefix; empty: every change.",
    ),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("description", Text, comment="The operator's note: who receives it, and why."),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column(
        "cursor_id",
        BigInteger,
        nullable=False,
        server_default="0",
        comment="The delivery cursor: the last change id delivered (or passed over as not wanted).",
    ),
    Column(
        "attempts",
        Integer,
        nullable=False,
        server_default="0",
        comment="Failed attempts in the current failure streak (0: healthy).",
    ),
    Column("failing_since", DateTime(timezone=True), comment="First failure of the current streak."),
    Column(
        "next_attempt_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        comment="Not delivered to before this instant (backoff after a failure).",
    ),
    Column("last_error", Text, comment="Why the last attempt failed (cleared by a delivery)."),
    Column("disabled_at", DateTime(timezone=True), comment="When it was disabled; NULL while enabled."),
    Column(
        "disabled_reason",
        Text,
        comment="Why: failing longer than webhook_retry_for_s, a 410 Gone answer, or an operator.",
    ),
    Column(
        "replay_through",
        BigInteger,
        comment="A `replay --to`: once the cursor reaches this id it jumps back to resume_after.",
    ),
    Column("resume_after", BigInteger, comment="The cursor before that replay."),
    CheckConstraint("enabled = (disabled_at IS NULL)", name="disabled"),
    CheckConstraint("url ~* '^https?://'", name="url"),
    schema=STATE_SCHEMA,
    comment="Outgoing webhook subscriptions: each receives the change feed in order, at least once.",
)

Index(
    "ix_webhook_subscriptions_due",
    webhook_subscriptions.c.next_attempt_at,
    postgresql_where=text("enabled"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "subscription_id",
        BigInteger,
        ForeignKey(webhook_subscriptions.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    Column("change_id", BigInteger, comment="The change sent; NULL for a `syncd webhooks test` ping."),
    Column(
        "attempt", Integer, nullable=False, comment="1 for the change's first try, 2 for the first retry, ..."
    ),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("status_code", Integer, comment="HTTP status of the answer; NULL when none came."),
    Column(
        "error", Text, comment="Why it failed: the status and the answer's first characters, or the error."
    ),
    Column("duration_ms", Integer),
    Column(
        "outcome",
        Text,
        nullable=False,
        comment="delivered (2xx), failed (retried later), gone (410: the subscription was disabled).",
    ),
    CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})", name="outcome"),
    schema=STATE_SCHEMA,
    comment="Every webhook delivery attempt: the audit trail (pruned by age).",
)

Index(
    "ix_webhook_deliveries_subscription",
    webhook_deliveries.c.subscription_id,
    webhook_deliveries.c.id,
)
Index("ix_webhook_deliveries_attempted_at", webhook_deliveries.c.attempted_at)


# --- errors ---------------------------------------------------------------------------------------


class WebhookError(Exception):
    """An operator's request that cannot be done; the message is one line naming what and why."""


class SubscriptionNotFound(WebhookError):
    pass


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    """A subscription as an operator sees it: everything but the secret."""

    id: int
    url: str
    kinds: list[str]
    enabled: bool
    description: str | None
    created_at: dt.datetime
    cursor_id: int
    attempts: int
    failing_since: dt.datetime | None
    next_attempt_at: dt.datetime
    last_error: str | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    replay_through: int | None
    resume_after: int | None

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        return "failing" if self.attempts else "ok"

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}


@dataclass(frozen=True)
class Claimed:
    """A due subscription locked for delivery by this transaction, with what signing needs."""

    subscription: Subscription
    secret: str = field(repr=False)


_FIELDS = tuple(Subscription.__dataclass_fields__)
_COLUMNS = [webhook_subscriptions.c[name] for name in _FIELDS]


def _subscription(row: Any) -> Subscription:
    values = {name: row[name] for name in _FIELDS}
    values["kinds"] = list(values["kinds"] or [])
    return Subscription(**values)


def get_subscription(conn: Connection, subscription_id: int) -> Subscription:
    row = (
        conn.execute(select(*_COLUMNS).where(webhook_subscriptions.c.id == subscription_id))
        .mappings()
        .first()
    )
    if row is None:
        raise SubscriptionNotFound(f"there is no webhook subscription {subscription_id}")
    return _subscription(row)


def list_subscriptions(conn: Connection) -> list[Subscription]:
    rows = conn.execute(select(*_COLUMNS).order_by(webhook_subscriptions.c.id)).mappings()
    return [_subscription(row) for row in rows]


def get_secret(conn: Connection, subscription_id: int) -> str:
    secret = conn.execute(
        select(webhook_subscriptions.c.secret).where(webhook_subscriptions.c.id == subscription_id)
    ).scalar_one_or_none()
    if secret is None:
        raise SubscriptionNotFound(f"there is no webhook subscription {subscription_id}")
    return str(secret)


def backlog(conn: Connection, subscription: Subscription, limit: int = BACKLOG_COUNT_LIMIT) -> int:
    """How many changes it wants after its cursor, counted up to `limit`."""
    c = CHANGES.c
    wanted = (
        select(c.id)
        .where(c.id > subscription.cursor_id, kinds_match(c.kinds, subscription.kinds))
        .limit(limit)
        .subquery()
    )
    return int(conn.execute(select(func.count()).select_from(wanted)).scalar_one())


def undelivered_ages_s(conn: Connection) -> dict[int, float]:
    """Per enabled subscription: seconds since its oldest undelivered wanted change occurred, 0 when
    it has none (the `/metrics` gauge; one indexed lookup each)."""
    ages: dict[int, float] = {}
    c = CHANGES.c
    for sub in list_subscriptions(conn):
        if not sub.enabled:
            continue
        oldest = conn.execute(
            select(func.extract("epoch", func.now() - c.occurred_at))
            .where(c.id > sub.cursor_id, kinds_match(c.kinds, sub.kinds))
            .order_by(c.id)
            .limit(1)
        ).scalar_one_or_none()
        ages[sub.id] = max(float(oldest), 0.0) if oldest is not None else 0.0
    return ages


# --- the operator's statements --------------------------------------------------------------------


def add_subscription(
    conn: Connection,
    url: str,
    secret: str,
    *,
    kinds: Sequence[str] = (),
    description: str | None = None,
    after_id: int | None = None,
) -> Subscription:
    """A new enabled subscription whose first change is the one after `after_id` (None: the feed's
    current end, so only changes from now on are sent)."""
    cursor = last_change_id(conn) if after_id is None else after_id
    row = (
        conn.execute(
            insert(webhook_subscriptions)
            .values(url=url, secret=secret, kinds=list(kinds), description=description, cursor_id=cursor)
            .returning(*_COLUMNS)
        )
        .mappings()
        .one()
    )
    subscription = _subscription(row)
    _notify(conn, subscription.id)
    log.info("webhook.added", subscription_id=subscription.id, kinds=list(kinds), cursor_id=cursor)
    return subscription


def remove_subscription(conn: Connection, subscription_id: int) -> Subscription:
    """Delete it with its delivery history."""
    subscription = get_subscription(conn, subscription_id)
    conn.execute(delete(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id))
    log.info("webhook.removed", subscription_id=subscription_id)
    return subscription


def enable_subscription(conn: Connection, subscription_id: int) -> Subscription:
    """Enabled, the failure streak cleared, due now: delivery resumes at its cursor."""
    subscription = _update(
        conn,
        subscription_id,
        enabled=True,
        disabled_at=None,
        disabled_reason=None,
        attempts=0,
        failing_since=None,
        next_attempt_at=func.now(),
    )
    _notify(conn, subscription_id)
    log.info("webhook.enabled", subscription_id=subscription_id, cursor_id=subscription.cursor_id)
    return subscription


def disable_subscription(conn: Connection, subscription_id: int, reason: str) -> Subscription:
    current = get_subscription(conn, subscription_id)
    if not current.enabled:
        return current
    subscription = _update(
        conn, subscription_id, enabled=False, disabled_at=func.now(), disabled_reason=reason
    )
    log.info("webhook.disabled", subscription_id=subscription_id, reason=reason)
    return subscription


def replay_subscription(
    conn: Connection, subscription_id: int, first_id: int, last_id: int | None = None
) -> Subscription:
    """Send changes `first_id`.. again, in order: the cursor goes back to `first_id - 1`. With
    `last_id`, once it has sent through `last_id` it jumps back to where it was."""
    current = get_subscription(conn, subscription_id)
    if first_id < 1:
        raise WebhookError(f"replay --from must be a change id >= 1, got {first_id}")
    if last_id is not None and last_id < first_id:
        raise WebhookError(f"replay --to {last_id} is before --from {first_id}")
    if first_id - 1 > current.cursor_id:
        raise WebhookError(
            f"subscription {subscription_id} has not reached change {first_id} yet (its cursor is at "
            f"{current.cursor_id}): replay sends delivered changes again, it never skips any"
        )
    through, resume = (last_id, current.cursor_id) if last_id is not None else (None, None)
    if through is not None and resume is not None and through >= resume:
        through, resume = None, None  # everything up to the cursor is sent again anyway
    subscription = _update(
        conn,
        subscription_id,
        cursor_id=first_id - 1,
        replay_through=through,
        resume_after=resume,
    )
    _notify(conn, subscription_id)
    log.info("webhook.replay", subscription_id=subscription_id, first_id=first_id, last_id=last_id)
    return subscription


def _update(conn: Connection, subscription_id: int, **values: Any) -> Subscription:
    row = (
        conn.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(**values)
            .returning(*_COLUMNS)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise SubscriptionNotFound(f"there is no webhook subscription {subscription_id}")
    return _subscription(row)


def _notify(conn: Connection, subscription_id: int) -> None:
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"),
        {"channel": NOTIFY_CHANNEL, "payload": str(subscription_id)},
    )


# --- the delivery engine's statements -------------------------------------------------------------


def due_subscription_ids(conn: Connection, now: dt.datetime) -> list[int]:
    """Enabled subscriptions due by `now`, the longest waiting first."""
    s = webhook_subscriptions.c
    rows = conn.execute(
        select(s.id).where(s.enabled, s.next_attempt_at <= now).order_by(s.next_attempt_at, s.id)
    )
    return [int(row[0]) for row in rows]


def seconds_until_next_retry(conn: Connection, now: dt.datetime) -> float | None:
    """Seconds until the earliest scheduled retry of an enabled, failing subscription (0 when one is
    due already, None when no retry waits). Healthy subscriptions are woken by the feed's NOTIFY,
    not by this."""
    s = webhook_subscriptions.c
    earliest = conn.execute(
        select(func.min(s.next_attempt_at)).where(s.enabled, s.attempts > 0)
    ).scalar_one_or_none()
    return None if earliest is None else max((earliest - now).total_seconds(), 0.0)


def claim(conn: Connection, subscription_id: int, now: dt.datetime) -> Claimed | None:
    """Lock one subscription if it is enabled, due, and no other session holds it (`FOR UPDATE SKIP
    LOCKED`); the lock lasts until the caller's transaction ends. A finished `replay --to` jumps its
    cursor back first."""
    s = webhook_subscriptions.c
    row = (
        conn.execute(
            select(*_COLUMNS, s.secret)
            .where(s.id == subscription_id, s.enabled, s.next_attempt_at <= now)
            .with_for_update(skip_locked=True)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    subscription = _subscription(row)
    if subscription.replay_through is not None and subscription.cursor_id >= subscription.replay_through:
        subscription = _update(
            conn,
            subscription_id,
            cursor_id=max(subscription.cursor_id, subscription.resume_after or 0),
            replay_through=None,
            resume_after=None,
        )
    return Claimed(subscription, str(row["secret"]))


def next_changes(conn: Connection, subscription: Subscription, limit: int) -> tuple[list[Change], int]:
    """The changes it wants after its cursor that are safe to send now, oldest first, and the id
    through which the feed is settled (the cursor may move there once those are delivered): see
    `syncd.db.feed.read_settled`. A `replay --to` range was below the cursor before, so all of it is
    settled."""
    return read_settled(
        conn,
        subscription.cursor_id,
        kinds=subscription.kinds,
        limit=limit,
        through=subscription.replay_through,
    )


def advance(conn: Connection, subscription_id: int, cursor_id: int) -> None:
    """Past changes it does not want (never backwards)."""
    s = webhook_subscriptions.c
    conn.execute(
        update(webhook_subscriptions)
        .where(s.id == subscription_id, s.cursor_id < cursor_id)
        .values(cursor_id=cursor_id)
    )


def record_attempt(
    conn: Connection,
    subscription_id: int,
    change_id: int | None,
    attempt: int,
    *,
    attempted_at: dt.datetime,
    outcome: str,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    conn.execute(
        insert(webhook_deliveries).values(
            subscription_id=subscription_id,
            change_id=change_id,
            attempt=attempt,
            attempted_at=attempted_at,
            outcome=outcome,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
    )


def delivered(conn: Connection, subscription_id: int, change_id: int) -> None:
    """The cursor moves to the change; any failure streak ends."""
    conn.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(cursor_id=change_id, attempts=0, failing_since=None, last_error=None)
    )


def failed(
    conn: Connection,
    subscription_id: int,
    *,
    attempts: int,
    failing_since: dt.datetime,
    next_attempt_at: dt.datetime,
    error: str,
    disable_reason: str | None = None,
) -> None:
    """The cursor stays; the streak grows and the next attempt waits (or it is disabled)."""
    values: dict[str, Any] = {
        "attempts": attempts,
        "failing_since": failing_since,
        "next_attempt_at": next_attempt_at,
        "last_error": error,
    }
    if disable_reason is not None:
        values |= {"enabled": False, "disabled_at": func.now(), "disabled_reason": disable_reason}
    conn.execute(
        update(webhook_subscriptions).where(webhook_subscriptions.c.id == subscription_id).values(**values)
    )


def prune_deliveries(conn: Connection, older_than: dt.datetime, *, batch: int = 10_000) -> int:
    """Delete up to `batch` delivery attempts made before `older_than`, oldest first; returns how many
    went (the caller commits and calls again until 0)."""
    d = webhook_deliveries.c
    oldest = (
        select(d.id)
        .where(d.attempted_at < older_than)
        .order_by(d.attempted_at)
        .limit(batch)
        .scalar_subquery()
    )
    return conn.execute(delete(webhook_deliveries).where(d.id.in_(oldest))).rowcount or 0


def recent_deliveries(conn: Connection, subscription_id: int, limit: int = 20) -> list[dict[str, Any]]:
    d = webhook_deliveries.c
    rows = conn.execute(
        select(webhook_deliveries)
        .where(d.subscription_id == subscription_id)
        .order_by(d.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(row) for row in rows]


def lowest_enabled_cursor(conn: Connection) -> int | None:
    """The lowest cursor of the enabled subscriptions (None: there are none): the retention job keeps
    every change after it, since some subscription is still owed it."""
    s = webhook_subscriptions.c
    found = conn.execute(select(func.min(s.cursor_id)).where(s.enabled)).scalar_one_or_none()
    return None if found is None else int(found)
