"""The write-intent queue as the replay engine sees it: a small contract, and an in-memory queue.

The replay loop (`syncd.replay`) talks to the queue only through `IntentQueue` (one pass: take over
orphans, the clock, a worker's session, waiting for work) and `QueueSession` (one worker's claims;
every method is its own transaction). `syncd.db.intent_queue.PostgresIntentQueue` wraps the named
SQL of `syncd.db.replay_store` and the mirror's writer; `MemoryIntentQueue` here keeps the same
rules in a dict, for unit tests of the loop. One contract test suite (tests/queue_contract.py) runs
against both.

The rules every queue keeps:
- an intent is claimable when pending, due by the cutoff, and no older intent of its event is
  unfinished; claims go in id order, and a claimed intent is its session's until finished;
- companions for a list call share the first one's batch key, were never sent and are unguarded;
- `mark_sent`, `succeed`, `fail` and `retry` act only on intents the session still holds;
- intents held by a session that ended (`abandon`) are orphans: `take_over_orphans` makes them
  pending again, keeping `sent_at`, so one whose call may have left is settled before it is resent.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.intent_kinds import INTENT_KINDS

# Every status an intent can be in; the table's check constraint and `syncd intents list --status`
# take them from here.
STATUSES = ("pending", "in_flight", "succeeded", "failed", "withdrawn")
JsonObject = dict[str, Any]
# Intents with equal keys may share one list call: (kind, value of its `batch_by`); None goes alone.
BatchKey = tuple[str, str | None]


@dataclass(frozen=True)
class ClaimedIntent:
    """A write intent a session now holds (status in_flight)."""

    id: int
    kind: str
    event_id: int
    payload: Mapping[str, Any]
    expected_updated_at: dt.datetime | None
    attempts: int  # calls made before this claim
    sent_at: dt.datetime | None  # set: an earlier call may have taken effect (in doubt)
    created_at: dt.datetime
    age_s: float
    last_error: str | None

    @property
    def in_doubt(self) -> bool:
        return self.sent_at is not None


@dataclass(frozen=True)
class SentAttempt:
    row_id: int  # the open attempt row of the audit trail
    number: int  # the intent's attempts, this call included


@dataclass(frozen=True)
class AttemptAnswer:
    """How one open attempt row ends: the answer's status, its excerpt, and how long the call took."""

    row_id: int
    status_code: int | None
    answer_excerpt: str | None
    duration_ms: int


@dataclass(frozen=True)
class Claim:
    """What `QueueSession.claim` took: the intents, and their attempts when marked sent with the claim."""

    intents: list[ClaimedIntent]
    sent: dict[int, SentAttempt] | None = None


# Called inside the claim's transaction: the audit request of the claimed intents' call when it can
# be marked sent right away (one commit instead of two), else None.
ReadyRequest = Callable[[list[ClaimedIntent]], Mapping[str, Any] | None]


class QueueSession(Protocol):
    """One worker's hold on the queue. Each method commits its own transaction."""

    def claim(
        self,
        cutoff: dt.datetime,
        companions: int,
        key_of: Callable[[ClaimedIntent], BatchKey | None],
        ready: ReadyRequest,
    ) -> Claim:
        """The oldest claimable intent due by `cutoff`, with up to `companions` more of its batch key."""
        ...

    def mark_sent(self, intent_ids: Sequence[int], request: Mapping[str, Any]) -> dict[int, SentAttempt]:
        """Record the call about to be made (sent_at, attempts + 1, an open attempt row)."""
        ...

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
        """A complete attempt row: a read-back that settled or guarded, or a request never sent."""
        ...

    def finish_attempts(
        self,
        row_ids: Sequence[int],
        *,
        outcome: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        """Close open attempt rows with one answer that did not succeed."""
        ...

    def succeed(
        self,
        intent_ids: Sequence[int],
        *,
        answers: Sequence[AttemptAnswer] = (),
        events: Sequence[JsonObject] = (),
        deleted_event_ids: Sequence[int] = (),
    ) -> None:
        """Final: succeeded, with their attempt rows closed and the events read back in the mirror."""
        ...

    def fail(self, intent_id: int, reason: str, error: str | None) -> None:
        """Final: reason 'rejected', 'conflict' or 'exhausted'."""
        ...

    def retry(self, intent_id: int, delay_s: float, error: str | None, *, in_doubt: bool) -> None:
        """Back to pending, due in `delay_s`; `in_doubt` keeps sent_at so the next claim settles first."""
        ...

    def mirror_event_type_id(self, event_id: int) -> int | None:
        """The event type of the event as the mirror has it (None when the mirror lacks it)."""
        ...


class IntentQueue(Protocol):
    def take_over_orphans(self) -> tuple[list[int], list[int]]:
        """Release intents whose session is gone: (back to pending, in doubt and to be settled)."""
        ...

    def now(self) -> dt.datetime:
        """The queue's clock: due times are compared with it."""
        ...

    def seconds_until_next_due(self) -> float | None:
        """How long until the earliest pending intent is due (<= 0: now); None when none is pending."""
        ...

    def session(self) -> AbstractContextManager[QueueSession]:
        """A worker's session; one left by an exception is abandoned (its claims become orphans)."""
        ...

    def follow(self, stop: threading.Event, one_pass: Callable[[], float]) -> None:
        """Run `one_pass` until `stop`: on news of new intents, and at the latest after the seconds
        the previous pass returned."""
        ...


# --- in memory -------------------------------------------------------------------------------------


@dataclass
class MemoryIntent:
    """One row of the in-memory queue (the columns of syncd.write_intents the replay uses)."""

    id: int
    kind: str
    event_id: int
    payload: dict[str, Any]
    expected_updated_at: dt.datetime | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    status: str = "pending"
    attempts: int = 0
    sent_at: dt.datetime | None = None
    owner: int | None = None
    last_error: str | None = None
    failure_reason: str | None = None


@dataclass
class MemoryAttempt:
    """One row of the in-memory audit trail."""

    id: int
    intent_id: int
    attempt: int
    request: Mapping[str, Any] | None
    outcome: str | None = None
    status_code: int | None = None
    answer_excerpt: str | None = None
    duration_ms: int | None = None
    error: str | None = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class MemoryIntentQueue:
    """The queue's rules over plain objects, thread-safe; `mirror` holds the events read back."""

    clock: Callable[[], dt.datetime] = _utcnow
    intents: dict[int, MemoryIntent] = field(default_factory=dict)
    attempts: list[MemoryAttempt] = field(default_factory=list)
    mirror: dict[int, JsonObject] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    # Which session (sessions are numbered) ended; their claims are orphans.
    ended: set[int] = field(default_factory=set)
    # Counts method calls by name: tests check how many transactions a path costs.
    calls: dict[str, int] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _rows: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _sessions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _news: threading.Event = field(default_factory=threading.Event)

    def add(
        self,
        kind: str,
        event_id: int,
        payload: Mapping[str, Any] | None = None,
        *,
        expected_updated_at: dt.datetime | None = None,
    ) -> int:
        """Queue an intent (the INSERT a CRM makes; no validation here)."""
        with self._lock:
            now = self.clock()
            intent = MemoryIntent(
                next(self._ids), kind, event_id, dict(payload or {}), expected_updated_at, now, now
            )
            self.intents[intent.id] = intent
        self._news.set()
        return intent.id

    def status(self, intent_id: int) -> str:
        return self.intents[intent_id].status

    def attempts_of(self, intent_id: int) -> list[MemoryAttempt]:
        return [a for a in self.attempts if a.intent_id == intent_id]

    # -- IntentQueue ---------------------------------------------------------------------------------

    def take_over_orphans(self) -> tuple[list[int], list[int]]:
        with self._lock:
            self._count("take_over_orphans")
            orphans = [i for i in self.intents.values() if i.status == "in_flight" and i.owner in self.ended]
            for intent in orphans:
                intent.status, intent.owner, intent.next_attempt_at = "pending", None, self.clock()
            released = [i.id for i in orphans if i.sent_at is None]
            return released, [i.id for i in orphans if i.sent_at is not None]

    def now(self) -> dt.datetime:
        return self.clock()

    def seconds_until_next_due(self) -> float | None:
        with self._lock:
            due = [i.next_attempt_at for i in self.intents.values() if i.status == "pending"]
            return (min(due) - self.clock()).total_seconds() if due else None

    @contextmanager
    def session(self) -> Iterator[QueueSession]:
        number = next(self._sessions)
        try:
            yield MemorySession(self, number)
        except BaseException:
            self.ended.add(number)
            raise
        # A session that ends cleanly holds nothing; anything left is an orphan, as in PostgreSQL.
        self.ended.add(number)

    def follow(self, stop: threading.Event, one_pass: Callable[[], float]) -> None:
        while not stop.is_set():
            wait = one_pass()
            deadline = self.clock() + dt.timedelta(seconds=max(wait, 0.0))
            self._news.clear()
            while not stop.is_set() and not self._news.is_set() and self.clock() < deadline:
                self._news.wait(0.05)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


@dataclass
class MemorySession:
    queue: MemoryIntentQueue
    number: int

    def _held(self, intent_id: int) -> MemoryIntent | None:
        intent = self.queue.intents.get(intent_id)
        if intent is None or intent.status != "in_flight" or intent.owner != self.number:
            return None
        return intent

    def _claimable(self, intent: MemoryIntent, cutoff: dt.datetime) -> bool:
        if intent.status != "pending" or intent.next_attempt_at > cutoff:
            return False
        return not any(
            older.event_id == intent.event_id
            and older.id < intent.id
            and older.status in ("pending", "in_flight")
            for older in self.queue.intents.values()
        )

    def _take(self, intent: MemoryIntent) -> ClaimedIntent:
        intent.status, intent.owner = "in_flight", self.number
        return ClaimedIntent(
            id=intent.id,
            kind=intent.kind,
            event_id=intent.event_id,
            payload=dict(intent.payload),
            expected_updated_at=intent.expected_updated_at,
            attempts=intent.attempts,
            sent_at=intent.sent_at,
            created_at=intent.created_at,
            age_s=(self.queue.clock() - intent.created_at).total_seconds(),
            last_error=intent.last_error,
        )

    def claim(
        self,
        cutoff: dt.datetime,
        companions: int,
        key_of: Callable[[ClaimedIntent], BatchKey | None],
        ready: ReadyRequest,
    ) -> Claim:
        with self.queue._lock:
            self.queue._count("claim")
            candidates = sorted(self.queue.intents.values(), key=lambda i: i.id)
            first = next((i for i in candidates if self._claimable(i, cutoff)), None)
            if first is None:
                return Claim([])
            claimed = [self._take(first)]
            key = key_of(claimed[0])
            if key is not None and companions > 0:
                for other in candidates:
                    if len(claimed) > companions:
                        break
                    if (
                        other.id != first.id
                        and other.kind == key[0]
                        and other.sent_at is None
                        and other.expected_updated_at is None
                        and INTENT_KINDS[other.kind].batch_value(other.payload) == key[1]
                        and self._claimable(other, cutoff)
                    ):
                        claimed.append(self._take(other))
            request = ready(claimed)
            sent = self._mark_sent([i.id for i in claimed], request) if request is not None else None
            return Claim(claimed, sent)

    def mark_sent(self, intent_ids: Sequence[int], request: Mapping[str, Any]) -> dict[int, SentAttempt]:
        with self.queue._lock:
            self.queue._count("mark_sent")
            return self._mark_sent(intent_ids, request)

    def _mark_sent(self, intent_ids: Sequence[int], request: Mapping[str, Any]) -> dict[int, SentAttempt]:
        sent: dict[int, SentAttempt] = {}
        for intent_id in intent_ids:
            intent = self._held(intent_id)
            if intent is None:
                continue
            intent.sent_at, intent.attempts = self.queue.clock(), intent.attempts + 1
            row = MemoryAttempt(next(self.queue._rows), intent_id, intent.attempts, dict(request))
            self.queue.attempts.append(row)
            sent[intent_id] = SentAttempt(row.id, intent.attempts)
        return sent

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
        with self.queue._lock:
            self.queue._count("record_attempt")
            row = MemoryAttempt(
                next(self.queue._rows),
                intent_id,
                attempt,
                dict(request) if request is not None else None,
                outcome,
                status_code,
                None,
                duration_ms,
                error,
            )
            self.queue.attempts.append(row)

    def finish_attempts(
        self,
        row_ids: Sequence[int],
        *,
        outcome: str,
        status_code: int | None,
        error: str | None,
        duration_ms: int,
    ) -> None:
        with self.queue._lock:
            self.queue._count("finish_attempts")
            for row in self._rows_of(row_ids):
                row.outcome, row.status_code, row.answer_excerpt = outcome, status_code, error
                row.duration_ms, row.error = duration_ms, error

    def succeed(
        self,
        intent_ids: Sequence[int],
        *,
        answers: Sequence[AttemptAnswer] = (),
        events: Sequence[JsonObject] = (),
        deleted_event_ids: Sequence[int] = (),
    ) -> None:
        with self.queue._lock:
            self.queue._count("succeed")
            by_row = {answer.row_id: answer for answer in answers}
            for row in self._rows_of(list(by_row)):
                answer = by_row[row.id]
                row.outcome, row.status_code, row.error = "succeeded", answer.status_code, None
                row.answer_excerpt, row.duration_ms = answer.answer_excerpt, answer.duration_ms
            for intent_id in intent_ids:
                intent = self._held(intent_id)
                if intent is not None:
                    intent.status, intent.owner = "succeeded", None
                    intent.failure_reason = intent.last_error = None
            self.queue.deleted.update(deleted_event_ids)
            for event in events:
                self.queue.mirror[int(event["id"])] = dict(event)

    def fail(self, intent_id: int, reason: str, error: str | None) -> None:
        with self.queue._lock:
            self.queue._count("fail")
            intent = self._held(intent_id)
            if intent is not None:
                intent.status, intent.owner = "failed", None
                intent.failure_reason, intent.last_error = reason, error

    def retry(self, intent_id: int, delay_s: float, error: str | None, *, in_doubt: bool) -> None:
        with self.queue._lock:
            self.queue._count("retry")
            intent = self._held(intent_id)
            if intent is not None:
                intent.status, intent.owner, intent.last_error = "pending", None, error
                intent.next_attempt_at = self.queue.clock() + dt.timedelta(seconds=max(delay_s, 0.0))
                intent.sent_at = intent.sent_at if in_doubt else None
        self.queue._news.set()

    def mirror_event_type_id(self, event_id: int) -> int | None:
        with self.queue._lock:
            event_type = self.queue.mirror.get(event_id, {}).get("eventType")
            found = event_type.get("id") if isinstance(event_type, dict) else None
            return found if isinstance(found, int) else None

    def _rows_of(self, row_ids: Sequence[int]) -> list[MemoryAttempt]:
        wanted = set(row_ids)
        return [row for row in self.queue.attempts if row.id in wanted]


__all__ = [
    "AttemptAnswer",
    "BatchKey",
    "Claim",
    "ClaimedIntent",
    "IntentQueue",
    "MemoryIntentQueue",
    "QueueSession",
    "SentAttempt",
]
