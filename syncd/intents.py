"""The Python API for CRM integrators: queue write intents and read how they went (docs/python-api.md).

A thin layer over `syncd.db.intents`: `queue_intent` is the same INSERT a CRM writes in SQL, checked
by the same rules (the database refuses a bad intent at the statement, and says why), so a Python
caller and a SQL caller cannot disagree. `syncd run` (or `syncd replay --follow`) carries the
intents to SimplyMeet; this module only writes and reads the queue.

Every function takes an Engine (each call is its own transaction, committed) or a Connection (the
call joins the caller's transaction: queue several intents, or an intent and the CRM's own rows,
all or nothing; the caller commits).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine

from syncd.db.intents import (
    KINDS,
    STATUSES,
    IdempotencyKeyReused,
    IntentError,
    IntentNotFound,
    IntentRefused,
    WriteIntent,
    enqueue,
    get_intent,
)

__all__ = [
    "FINAL_STATUSES",
    "KINDS",
    "STATUSES",
    "IdempotencyKeyReused",
    "IntentError",
    "IntentNotFound",
    "IntentRefused",
    "WriteIntent",
    "create_engine",
    "intent_status",
    "queue_intent",
    "wait_for",
]

# How an intent ends (an operator may still put a failed one back: `syncd intents retry`).
FINAL_STATUSES = ("succeeded", "failed", "withdrawn")

Bind = Engine | Connection


def create_engine(database_url: str, *, application_name: str = "syncd-api") -> Engine:
    """An Engine on syncd's database from a `postgresql://` URL (as `database_url` takes it); the
    caller disposes it. DatabaseUrlError (a ValueError) naming the problem, never the password, for a bad URL."""
    from syncd.db.engine import make_engine
    from syncd.db.url import parse_database_url

    return make_engine(parse_database_url(database_url), application_name=application_name)


@contextmanager
def _connection(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.begin() as conn:
            yield conn


def queue_intent(
    bind: Bind,
    kind: str,
    event_id: int,
    payload: dict[str, Any] | None = None,
    *,
    idempotency_key: str | None = None,
    expected_updated_at: dt.datetime | None = None,
    allow_past: bool = False,
) -> int:
    """Queue one write intent and return its id.

    `kind` is one of `KINDS`, `payload` the API request DTO's keys (docs/write-back.md, "Kinds and
    payloads"; `{}` when omitted). Raises IntentRefused (one line: what and why) for an intent the
    queue refuses, IdempotencyKeyReused when `idempotency_key` already names a different decision;
    the same key with the same decision returns the first intent's id. A reschedule whose start is
    in the past is refused unless `allow_past` (the column of the same name in SQL).
    """
    with _connection(bind) as conn:
        return enqueue(
            conn,
            kind,
            event_id,
            {} if payload is None else payload,
            idempotency_key=idempotency_key,
            expected_updated_at=expected_updated_at,
            allow_past=allow_past,
        )


def intent_status(bind: Bind, intent_id: int) -> WriteIntent:
    """The intent as the queue holds it now (status, attempts, failure_reason, last_error, ...);
    IntentNotFound when there is none with this id."""
    with _connection(bind) as conn:
        intent = get_intent(conn, intent_id)
    if intent is None:
        raise IntentNotFound(f"there is no intent {intent_id}")
    return intent


def wait_for(
    engine: Engine,
    intent_id: int,
    *,
    timeout_s: float = 60.0,
    poll_s: float = 0.5,
) -> WriteIntent:
    """Poll until the intent is final (succeeded, failed or withdrawn) and return it; TimeoutError,
    naming the intent and its status, after `timeout_s`. Someone must be replaying (`syncd run`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        intent = intent_status(engine, intent_id)
        if intent.status in FINAL_STATUSES:
            return intent
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"intent {intent_id} is still {intent.status} after {timeout_s:g} s "
                f"(attempts {intent.attempts}; is `syncd run` or `syncd replay --follow` running?)"
            )
        time.sleep(min(poll_s, left))
