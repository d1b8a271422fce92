"""Outgoing webhooks: every change of the feed (`syncd.changes`), POSTed to each subscriber in order.

One pass (`deliver_due`) visits every enabled subscription that is due. For each, one change at a
time, in its own transaction:

    claim (FOR UPDATE SKIP LOCKED) → next safe change after the cursor → sign → POST → record → commit

- **claim**: the subscription row stays locked while its change is sent, so a subscription is only
  ever delivered by one process at a time and always in order (two `syncd run` replicas are safe).
- **in order, at least once**: a 2xx moves the cursor to the change (committed with the attempt's
  row); anything else (non-2xx, a redirect, a timeout, a refused connection) keeps the cursor and
  the change is sent again, with the same `webhook-id`, after an exponential backoff with jitter.
- **giving up**: a subscription that has failed for longer than `retry_for_s` is disabled, and one
  answered 410 Gone at once; `syncd webhooks enable` resumes it at its cursor.

Requests are signed as Standard Webhooks specifies (`sign`): `webhook-id: chg_<change id>`,
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256>`. The secret is never logged.
Connections go only to addresses the policy allows (`syncd.netpolicy`: public ones unless the
operator allows more), checked after DNS resolution; of an answer that is not a 2xx, a short
printable excerpt is kept, of a 2xx nothing.

`follow_deliveries` runs passes until stopped: on every NOTIFY of the feed (`syncd_changes`) or of
the CLI (`syncd_webhooks`), at least every `sweep_s`, and when the earliest retry comes due.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import Connection, Engine

from syncd import __version__
from syncd.db import webhooks as store
from syncd.db.feed import NOTIFY_CHANNEL as FEED_CHANNEL
from syncd.db.feed import TEST_KIND, Change
from syncd.db.listen import follow_notifications
from syncd.logs import redactor
from syncd.netpolicy import AddressPolicy, guarded_client
from syncd.retry import Backoff, ms_since, parse_retry_after

log = structlog.get_logger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105  # the format's prefix, not a secret
SECRET_BYTES = 32
_SECRET_MIN_BYTES, _SECRET_MAX_BYTES = 24, 64
_ERROR_EXCERPT = 100  # characters of a receiver's (non-2xx) answer kept in last_error
_ERROR_LINE = 300  # characters of an error without an answer (a refused address, a timeout)
_MAX_SCANS = 100  # windows of unwanted changes passed per subscription and pass (then the next one's turn)

Clock = Callable[[], dt.datetime]
Outcome = Literal["delivered", "failed", "gone"]


@dataclass(frozen=True)
class WebhookOptions:
    batch: int = 100  # changes sent to one subscription per pass (the others get their turn)
    retry_for_s: float = 86_400.0  # failing longer than this disables the subscription
    timeout_s: float = 10.0  # read / write timeout of one POST
    connect_timeout_s: float = 5.0
    backoff_base_s: float = 5.0  # the first retry after ~5 s, doubling up to the cap
    backoff_cap_s: float = 3_600.0
    jitter: float = 0.2  # each delay is drawn from [(1 - jitter) * d, d]
    sweep_s: float = 5.0  # follow mode: a pass at least this often, notification or not
    policy: AddressPolicy = field(default_factory=AddressPolicy)  # where receivers may be: public only


def webhook_client(options: WebhookOptions) -> httpx.Client:
    """The HTTP client deliveries use: the configured timeouts, redirects never followed, and every
    connection to an address `options.policy` allows, checked after DNS resolution (no proxy)."""
    return guarded_client(
        options.policy,
        timeout=httpx.Timeout(options.timeout_s, connect=options.connect_timeout_s),
        follow_redirects=False,
        headers={"user-agent": f"syncd/{__version__} (webhooks)"},
    )


# --- secrets and signatures -----------------------------------------------------------------------


def generate_secret() -> str:
    """A new signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret; ValueError (never quoting the secret) if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r} followed by base64")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {SECRET_PREFIX!r} followed by valid base64") from None
    if not _SECRET_MIN_BYTES <= len(key) <= _SECRET_MAX_BYTES:
        raise ValueError(
            f"a webhook secret's key is {_SECRET_MIN_BYTES} to {_SECRET_MAX_BYTES} bytes, "
            f"this one decodes to {len(key)}"
        )
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(secret: str, message_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def message_id(change_id: int) -> str:
    """The same on every retry of a change, so a receiver can drop duplicates."""
    return f"chg_{change_id}"


# --- the payload ----------------------------------------------------------------------------------


def iso_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def payload(change: Change) -> dict[str, Any]:
    """The body of a change's delivery (docs/webhooks.md, "The payload")."""
    return {
        "type": change.kind,
        "timestamp": iso_utc(change.occurred_at),
        "data": {
            "change_id": change.id,
            "resource": change.resource,
            "id": change.object_id,
            "kinds": list(change.kinds),
            "changes": change.fields,
            "object": change.data,
            "origin": change.origin,
        },
    }


def test_payload(subscription_id: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "type": TEST_KIND,
        "timestamp": iso_utc(now),
        "data": {"subscription_id": subscription_id, "message": "a test from `syncd webhooks test`"},
    }


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes that are signed and sent."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


# --- retries --------------------------------------------------------------------------------------


def backoff_s(
    options: WebhookOptions,
    attempts: int,
    retry_after: float | None = None,
    rng: Callable[[], float] = random.random,
) -> float:
    """The wait after the `attempts`-th failure in a row (`syncd.retry.Backoff`): base doubling up to
    the cap, with jitter below; a receiver's Retry-After is honoured up to the cap."""
    policy = Backoff(options.backoff_base_s, options.backoff_cap_s, jitter=options.jitter)
    return policy.delay_s(attempts, retry_after, rng)


# --- one POST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    error: str | None  # None: a 2xx
    duration_ms: int
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def post(client: httpx.Client, url: str, secret: str, message_id: str, body: bytes) -> Answer:
    """Send one signed request; any answer but a 2xx (or no answer) is an error, described in one line."""
    headers = signed_headers(secret, message_id, body)
    started = time.perf_counter()
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            excerpt = _excerpt(response) if not response.is_success else ""
    except Exception as exc:  # a timeout, a refused connection, an invalid URL: all the receiver's failures
        said = f"{type(exc).__name__}: {exc}".replace(secret, "[REDACTED]")
        return Answer(None, printable(redactor.redact(said), _ERROR_LINE).rstrip(":"), ms_since(started))
    duration = ms_since(started)
    if response.is_success:
        return Answer(response.status_code, None, duration)
    status = response.status_code
    if response.is_redirect:
        location = printable(response.headers.get("location", "?"), _ERROR_EXCERPT)
        error = f"HTTP {status}: redirect to {location} not followed"
    else:
        error = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    return Answer(
        status, redactor.redact(error), duration, parse_retry_after(response.headers.get("retry-after"))
    )


def _excerpt(response: httpx.Response) -> str:
    read = b""
    for chunk in response.iter_bytes():
        read += chunk
        if len(read) >= _ERROR_EXCERPT * 4:
            break
    return printable(read.decode("utf-8", errors="replace"), _ERROR_EXCERPT)


def printable(text: str, width: int) -> str:
    """What a receiver said, safe to store and print: every control or other non-printable character
    (newlines, escape sequences, bidi overrides) a space, whitespace folded, cut to `width` with `...`."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


# --- the pass -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt, as `on_attempt` (metrics) sees it."""

    subscription_id: int
    change_id: int
    attempt: int
    outcome: Outcome
    status_code: int | None
    duration_s: float
    error: str | None = None


@dataclass
class DeliverySummary:
    """What one pass did."""

    subscriptions: int = 0  # visited (due, enabled, not held by another process)
    delivered: int = 0
    failed: int = 0
    disabled: list[int] = field(default_factory=list)
    more: bool = False  # a subscription stopped at its batch size with changes left
    next_due_in_s: float | None = None  # the earliest scheduled retry

    def line(self) -> str:
        return (
            f"webhooks: {self.delivered} delivered, {self.failed} failed, "
            f"{len(self.disabled)} subscriptions disabled"
        )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def deliver_due(
    engine: Engine,
    client: httpx.Client,
    options: WebhookOptions | None = None,
    *,
    now: Clock | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    stop: threading.Event | None = None,
) -> DeliverySummary:
    """One pass: every enabled, due subscription gets up to `options.batch` changes, in order.
    `now` is the clock of due times and backoff (the signature's timestamp is always the wall
    clock). Raises on a database failure; a receiver's failure is recorded, never raised."""
    options = options or WebhookOptions()
    clock = now or _utcnow
    summary = DeliverySummary()
    with engine.connect() as conn:
        with conn.begin():
            due = store.due_subscription_ids(conn, clock())
        for subscription_id in due:
            if stop is not None and stop.is_set():
                break
            _deliver_one(conn, client, options, clock, subscription_id, summary, on_attempt)
        with conn.begin():
            summary.next_due_in_s = store.seconds_until_next_retry(conn, clock())
    if summary.delivered or summary.failed:
        log.info(
            "webhook.pass",
            subscriptions=summary.subscriptions,
            delivered=summary.delivered,
            failed=summary.failed,
            disabled=len(summary.disabled),
        )
    return summary


def _deliver_one(
    conn: Connection,
    client: httpx.Client,
    options: WebhookOptions,
    clock: Clock,
    subscription_id: int,
    summary: DeliverySummary,
    on_attempt: Callable[[Attempt], None] | None,
) -> None:
    """Up to `options.batch` changes to one subscription, each in its own transaction holding the
    subscription's row lock while it is sent."""
    queue: list[Change] = []
    expected_cursor: int | None = None
    sent = scans = 0
    visited = False
    while sent < options.batch and scans < _MAX_SCANS:
        with conn.begin():
            claimed = store.claim(conn, subscription_id, clock())
            if claimed is None:
                return  # not due any more, disabled, removed, or another process has it
            if not visited:
                summary.subscriptions += 1
                visited = True
            subscription = claimed.subscription
            if subscription.cursor_id != expected_cursor or not queue:
                # First round, or the cursor moved under us (a replay): read afresh.
                queue, settled_through = store.next_changes(conn, subscription, options.batch - sent)
                scans += 1
                if not queue:
                    if settled_through <= subscription.cursor_id:
                        return  # nothing (safe) to send
                    # Only changes it does not want: pass them, and look further.
                    store.advance(conn, subscription.id, settled_through)
                    expected_cursor = settled_through
                    continue
            change = queue.pop(0)
            attempted_at = clock()
            number = subscription.attempts + 1
            disabled = False
            answer = post(
                client, subscription.url, claimed.secret, message_id(change.id), encode(payload(change))
            )
            outcome: Outcome = "delivered" if answer.ok else "gone" if answer.gone else "failed"
            store.record_attempt(
                conn,
                subscription.id,
                change.id,
                number,
                attempted_at=attempted_at,
                outcome=outcome,
                status_code=answer.status_code,
                error=answer.error,
                duration_ms=answer.duration_ms,
            )
            if answer.ok:
                store.delivered(conn, subscription.id, change.id)
            else:
                disabled = _after_failure(conn, options, subscription, number, attempted_at, answer)
        attempt = Attempt(
            subscription.id,
            change.id,
            number,
            outcome,
            answer.status_code,
            answer.duration_ms / 1000,
            answer.error,
        )
        if on_attempt is not None:
            on_attempt(attempt)
        if not answer.ok:
            summary.failed += 1
            if disabled:
                summary.disabled.append(subscription.id)
            return
        summary.delivered += 1
        sent += 1
        expected_cursor = change.id
        log.debug("webhook.delivered", subscription_id=subscription.id, change_id=change.id)
    summary.more = True


def _after_failure(
    conn: Connection,
    options: WebhookOptions,
    subscription: store.Subscription,
    attempts: int,
    at: dt.datetime,
    answer: Answer,
) -> bool:
    """Schedule the retry, or disable the subscription; True when it was disabled."""
    error = answer.error or "failed"
    failing_since = subscription.failing_since or at
    reason: str | None = None
    if answer.gone:
        reason = "the receiver answered 410 Gone"
    elif (at - failing_since).total_seconds() > options.retry_for_s:
        reason = (
            f"failing since {iso_utc(failing_since)} ({attempts} attempts), longer than "
            f"webhook_retry_for_s ({options.retry_for_s:g} s); last error: {error}"
        )
    delay = backoff_s(options, attempts, answer.retry_after)
    store.failed(
        conn,
        subscription.id,
        attempts=attempts,
        failing_since=failing_since,
        next_attempt_at=at + dt.timedelta(seconds=delay),
        error=error,
        disable_reason=reason,
    )
    if reason is not None:
        log.warning(
            "webhook.disabled", subscription_id=subscription.id, attempts=attempts, reason=reason, error=error
        )
    else:
        log.info(
            "webhook.retry_scheduled",
            subscription_id=subscription.id,
            attempt=attempts,
            delay_s=round(delay, 3),
            error=error,
        )
    return reason is not None


# --- a test ping ----------------------------------------------------------------------------------


def send_test(engine: Engine, client: httpx.Client, subscription_id: int) -> Answer:
    """One signed `webhook.test` ping, now, whatever the subscription's state; recorded in the
    deliveries (change_id NULL), never moving the cursor or the failure streak."""
    with engine.begin() as conn:
        subscription = store.get_subscription(conn, subscription_id)
        secret = store.get_secret(conn, subscription_id)
    at = _utcnow()
    body = encode(test_payload(subscription_id, at))
    answer = post(client, subscription.url, secret, f"test_{secrets.token_hex(8)}", body)
    with engine.begin() as conn:
        store.record_attempt(
            conn,
            subscription_id,
            None,
            1,
            attempted_at=at,
            outcome="delivered" if answer.ok else "failed",
            status_code=answer.status_code,
            error=answer.error,
            duration_ms=answer.duration_ms,
        )
    log.info("webhook.tested", subscription_id=subscription_id, status=answer.status_code, ok=answer.ok)
    return answer


# --- follow mode ----------------------------------------------------------------------------------


def follow_deliveries(
    engine: Engine,
    stop: threading.Event,
    options: WebhookOptions | None = None,
    *,
    client: httpx.Client | None = None,
    on_attempt: Callable[[Attempt], None] | None = None,
    on_pass: Callable[[DeliverySummary], None] | None = None,
) -> None:
    """Deliver until `stop` is set: a pass on every NOTIFY (`syncd_changes`, `syncd_webhooks`), at
    least every `sweep_s` (a NOTIFY can be missed), and when the earliest retry comes due. A lost
    database connection is retried with backoff; a stop lets the POST under way finish."""
    options = options or WebhookOptions()
    own_client = client is None
    http = client or webhook_client(options)

    def one_pass() -> float:
        summary = deliver_due(engine, http, options, on_attempt=on_attempt, stop=stop)
        if on_pass is not None:
            on_pass(summary)
        wait = 0.0 if summary.more else options.sweep_s
        return wait if summary.next_due_in_s is None else min(wait, summary.next_due_in_s)

    try:
        follow_notifications(
            engine, stop, FEED_CHANNEL, store.NOTIFY_CHANNEL, name="webhook", one_pass=one_pass
        )
    finally:
        if own_client:
            http.close()


def prune_deliveries(conn: Connection, older_than: dt.datetime, *, batch: int = 10_000) -> int:
    """The retention job's call (re-exported from `syncd.db.webhooks`): delete up to `batch` delivery
    attempts made before `older_than`; the caller commits and calls again until 0."""
    return store.prune_deliveries(conn, older_than, batch=batch)


def undelivered_ages_s(conn: Connection) -> dict[int, float]:
    """`/metrics`: per enabled subscription, seconds since its oldest undelivered change occurred."""
    return store.undelivered_ages_s(conn)
