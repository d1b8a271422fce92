"""The write-intent queue in PostgreSQL: `syncd.intent_queue`'s contract over `replay_store`'s named SQL.

A session is one database connection: claims are held by its backend (`claimed_pid`), so a session
left by an exception is invalidated, never pooled, and what it held becomes an orphan that the next
pass takes over. Each method is one transaction. Successes upsert the events read back into the
mirror in the same transaction (`mirror.store`, with the session's cache of nested copies).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine

from syncd.db import replay_store as store
from syncd.db.feed import set_origin
from syncd.db.intents import NOTIFY_CHANNEL
from syncd.db.listen import follow_notifications
from syncd.db.mirror import store as store_in_mirror
from syncd.intent_kinds import INTENT_KINDS
from syncd.intent_queue import (
    AttemptAnswer,
    BatchKey,
    Claim,
    ClaimedIntent,
    JsonObject,
    QueueSession,
    ReadyRequest,
    SentAttempt,
)
from syncd.resources import RESOURCES


class PostgresIntentQueue:
    """`zone` is the API's time zone, for the events read back into the mirror."""

    def __init__(self, engine: Engine, zone: str = "UTC") -> None:
        self.engine = engine
        self.zone = zone

    def take_over_orphans(self) -> tuple[list[int], list[int]]:
        with self.engine.begin() as conn:
            return store.take_over_orphans(conn)

    def now(self) -> dt.datetime:
        with self.engine.begin() as conn:
            return store.database_now(conn)

    def seconds_until_next_due(self) -> float | None:
        with self.engine.begin() as conn:
            return store.seconds_until_next_due(conn)

    @contextmanager
    def session(self) -> Iterator[QueueSession]:
        with self.engine.connect() as conn:
            try:
                yield PostgresSession(conn, self.zone)
            except BaseException:
                # End this session rather than pool it: what it holds (claimed, sent, answered but
                # not recorded) is then an orphan, taken over (and settled) by the next pass.
                conn.invalidate()
                raise

    def follow(self, stop: threading.Event, one_pass: Callable[[], float]) -> None:
        follow_notifications(self.engine, stop, NOTIFY_CHANNEL, name="replay", one_pass=one_pass)


class PostgresSession:
    def __init__(self, conn: Connection, zone: str) -> None:
        self.conn = conn
        self.zone = zone
        # Nested copies (users, event types) this session's committed mirror writes already hold, by
        # digest: `mirror.store` skips them. Per session, so an entry always names a committed row of
        # this connection (a failed transaction ends the session, and the cache with it).
        self.written_refs: dict[tuple[str, tuple[Any, ...]], str] = {}

    def claim(
        self,
        cutoff: dt.datetime,
        companions: int,
        key_of: Callable[[ClaimedIntent], BatchKey | None],
        ready: ReadyRequest,
    ) -> Claim:
        with self.conn.begin():
            first = store.claim_next(self.conn, cutoff)
            if first is None:
                return Claim([])
            claimed = [first]
            key = key_of(first)
            if key is not None and companions > 0:
                batch_by = INTENT_KINDS[key[0]].batch_by
                claimed += store.claim_companions(self.conn, cutoff, key[0], batch_by, key[1], companions)
            request = ready(claimed)
            if request is None:
                return Claim(claimed)
            return Claim(claimed, store.mark_sent(self.conn, [i.id for i in claimed], request))

    def mark_sent(self, intent_ids: Sequence[int], request: Mapping[str, Any]) -> dict[int, SentAttempt]:
        with self.conn.begin():
            return store.mark_sent(self.conn, intent_ids, request)

    def record_attempt(
        self,
        intent_id: int,
        attempt: int,
        request: Mapping[str, Any] | None,
        *,
        outcome: str,
        status_code: int | None = None,
        duration_ms: int | None = None,
        error: str | None = None,
    ) -> None:
        with self.conn.begin():
            store.record_attempt(
                self.conn,
                intent_id,
                attempt,
                request,
                outcome=outcome,
                status_code=status_code,
                duration_ms=duration_ms,
                error=error,
            )

    def finish_attempts(
        self,
        row_ids: Sequence[int],
        *,
        outcome: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        with self.conn.begin():
            store.finish_attempts(
                self.conn,
                row_ids,
                outcome=outcome,
                status_code=status_code,
                answer_excerpt=error,
                duration_ms=duration_ms,
                error=error,
            )

    def succeed(
        self,
        intent_ids: Sequence[int],
        *,
        answers: Sequence[AttemptAnswer] = (),
        events: Sequence[JsonObject] = (),
        deleted_event_ids: Sequence[int] = (),
    ) -> None:
        with self.conn.begin():
            set_origin(self.conn, "replay:" + ",".join(str(i) for i in intent_ids))
            store.finish_attempts_each(
                self.conn,
                [(a.row_id, a.status_code, a.answer_excerpt, a.duration_ms) for a in answers],
                outcome="succeeded",
            )
            store.finish_succeeded(self.conn, intent_ids)
            for event_id in deleted_event_ids:
                store.mark_mirror_event_deleted(self.conn, event_id)
            if events:
                store_in_mirror(
                    self.conn, RESOURCES["events"], events, written_refs=self.written_refs, zone=self.zone
                )

    def fail(self, intent_id: int, reason: str, error: str | None) -> None:
        with self.conn.begin():
            store.finish_failed(self.conn, intent_id, reason, error)

    def retry(self, intent_id: int, delay_s: float, error: str | None, *, in_doubt: bool) -> None:
        with self.conn.begin():
            store.retry_later(self.conn, intent_id, delay_s, error, in_doubt=in_doubt)

    def mirror_event_type_id(self, event_id: int) -> int | None:
        with self.conn.begin():
            return store.mirror_event_type_id(self.conn, event_id)
