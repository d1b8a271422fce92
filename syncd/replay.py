"""The write-back replay engine: carry `syncd.write_intents` to the API, exactly once in effect.

A job's life, in `_Worker.run_one` (and `_Worker.run_batch` for list calls):

    claim → settle if in doubt → conflict guard → send → decide → finish

- **claim** (`replay_store.claim_next`): the oldest due intent of an event whose older intents are
  all finished, `FOR UPDATE SKIP LOCKED`, held by this worker's database session.
- **settle**: an intent whose earlier call may have taken effect (`sent_at` set) is never simply
  sent again: the event is read back and the kind's check says whether the write is in place.
- **guard**: with `expected_updated_at`, an event changed upstream since fails as a conflict.
- **send**: the request is built (and encoded) first: an error there ends the intent `rejected` at once,
  since nothing left syncd. Then `sent_at` is committed, so a crash during the call leaves it in
  doubt, not lost.
- **decide** (`decide`): 2xx succeeded; 4xx (but 408/409/429) rejected; 5xx, 408, 409, 429,
  401/403 and network errors transient; a call that may have been applied is in doubt.
- **finish**: succeeded (the event read back into the mirror in the same transaction), failed
  ('rejected', 'conflict', 'exhausted'), or pending again after a full-jitter backoff.

Successes are recorded in per-worker finish groups (`_Worker.flush`): up to `finish_group` answered
intents, one read-back call, one transaction that marks them succeeded and upserts their events.
Until then they are in flight with `sent_at` set, exactly as after a crash between the answer and
the commit, so a lost group is settled by reading back (docs/write-back.md, "Finish groups").

Workers run in threads, each on its own database connection; the httpx client is shared.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog

from syncd.dispatch import Decision, Dispatcher, ReadFailed, Request
from syncd.intent_kinds import INTENT_KINDS
from syncd.intent_queue import (
    AttemptAnswer,
    BatchKey,
    ClaimedIntent,
    IntentQueue,
    JsonObject,
    QueueSession,
    SentAttempt,
)
from syncd.logs import redactor
from syncd.retry import Backoff, ms_since

log = structlog.get_logger(__name__)

# Seconds between waits on the listening connection, so a stop is noticed promptly.
_STOP_CHECK_S = 0.2


@dataclass(frozen=True)
class ReplayOptions:
    batch_size: int = 50  # intents per cancel-list / no-show-list call; 1 sends each alone
    concurrency: int = 4  # worker threads, each with its own database connection
    max_attempts: int = 8  # calls per intent before it fails as 'exhausted'
    max_age_s: float = 86_400.0  # no retry after this age (a first attempt is always made)
    api_timezone: str = "UTC"  # the zone of the API's `Y-m-d H:i:s` request date-times
    backoff_base_s: float = 2.0  # full jitter: random(0, min(cap, base * 2**(attempt - 1)))
    backoff_cap_s: float = 3_600.0
    sweep_s: float = 5.0  # follow mode: a pass at least this often, notification or not
    # Successes a worker records together: one read-back call and one transaction (intents marked
    # succeeded + their events upserted into the mirror) for up to `finish_group` answered intents,
    # held at most `finish_hold_s`. 1 records each on its own. See docs/write-back.md, "Finish groups".
    finish_group: int = 50
    finish_hold_s: float = 0.5


@dataclass
class ReplaySummary:
    """What one pass did; `failed` lists the intents that became failed in it."""

    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)  # in doubt, found applied by reading back
    taken_over: list[int] = field(default_factory=list)  # orphans of a dead session, released
    next_due_in_s: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(self, outcome: Literal["succeeded", "failed", "retrying", "settled"], intent_id: int) -> None:
        with self._lock:
            getattr(self, outcome).append(intent_id)

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        return (
            f"replay: {len(self.succeeded)} succeeded ({len(self.settled)} settled by reading back), "
            f"{len(self.failed)} failed, {len(self.retrying)} to retry, {len(self.taken_over)} taken over"
        )


# --- batching and the retry decision ---------------------------------------------------------------


def batch_key(intent: ClaimedIntent) -> BatchKey | None:
    """Intents with the same key may share one list call; None: this one goes alone."""
    kind = INTENT_KINDS.get(intent.kind)
    if (
        kind is None
        or kind.list_endpoint is None
        or intent.in_doubt
        or intent.expected_updated_at is not None
    ):
        return None
    return intent.kind, kind.batch_value(intent.payload)


def backoff_s(options: ReplayOptions, attempt: int, retry_after: float | None = None) -> float:
    """Full jitter after the `attempt`-th call (`syncd.retry.Backoff`), never shorter than the
    server's Retry-After (up to the cap)."""
    return Backoff(options.backoff_base_s, options.backoff_cap_s, jitter=1.0).delay_s(attempt, retry_after)


# --- the pass --------------------------------------------------------------------------------------


def replay_once(
    queue: IntentQueue,
    dispatcher: Dispatcher,
    options: ReplayOptions | None = None,
    *,
    stop: threading.Event | None = None,
) -> ReplaySummary:
    """One pass: take over orphans, then workers claim and run every intent due by the pass's start."""
    options = options or ReplayOptions()
    stop = stop or threading.Event()
    summary = ReplaySummary()
    released, in_doubt = queue.take_over_orphans()
    summary.taken_over = released + in_doubt
    for intent_id in released:
        log.warning("intent.taken_over", intent_id=intent_id, in_doubt=False)
    for intent_id in in_doubt:
        log.warning("intent.taken_over", intent_id=intent_id, in_doubt=True)
    # Due by the pass's start: a retry scheduled during the pass waits for the next one.
    cutoff = queue.now()
    crew = _Crew(options.concurrency)
    workers = [
        _Worker(queue, dispatcher, options, cutoff, summary, stop, crew) for _ in range(options.concurrency)
    ]
    if len(workers) == 1:
        workers[0].drain()
    else:
        threads = [
            threading.Thread(target=w.drain, name=f"syncd-replay-{n}", daemon=True)
            for n, w in enumerate(workers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    errors = [w.error for w in workers if w.error is not None]
    if errors:
        raise errors[0]
    summary.next_due_in_s = queue.seconds_until_next_due()
    if summary.succeeded or summary.failed or summary.retrying or summary.taken_over:
        log.info(
            "replay.pass",
            succeeded=len(summary.succeeded),
            settled=len(summary.settled),
            failed=len(summary.failed),
            retrying=len(summary.retrying),
            taken_over=len(summary.taken_over),
        )
    return summary


def _deletes(intent: ClaimedIntent) -> bool:
    kind = INTENT_KINDS.get(intent.kind)
    return kind is not None and kind.deletes


class _QueueFailed(Exception):
    """The queue failed while a request was being built: the pass reports it (not the intent's fault)."""


class _Worker:
    """Claims and runs intents in its own queue session until none is due (or asked to stop)."""

    def __init__(
        self,
        queue: IntentQueue,
        dispatcher: Dispatcher,
        options: ReplayOptions,
        cutoff: dt.datetime,
        summary: ReplaySummary,
        stop: threading.Event,
        crew: _Crew | None = None,
    ) -> None:
        self.crew = crew or _Crew(1)
        self.queue = queue
        self.dispatcher = dispatcher
        self.options = options
        self.cutoff = cutoff
        self.summary = summary
        self.stop = stop
        self.error: Exception | None = None
        # Answered with a 2xx, not yet recorded: finished together by `flush` (see ReplayOptions).
        self.group: list[_Answered] = []
        self.group_since = 0.0

    def drain(self) -> None:
        try:
            # A session left by an error is abandoned: what it holds becomes an orphan of the next pass.
            with self.queue.session() as session:
                self.work(session)
        except Exception as exc:  # the pass reports it
            log.exception("replay.worker_failed", error=type(exc).__name__)
            self.error = exc
        finally:
            self.crew.leave()

    def work(self, session: QueueSession) -> None:
        while not self.stop.is_set():
            seen = self.crew.progress  # before the claim: progress during it is not missed
            claimed, ready = self.claim(session)
            if not claimed:
                if self.group:
                    # Recording our successes may unblock the next intents of their events.
                    self.flush(session)
                    continue
                if not self.crew.wait_for_progress(seen, self.stop):
                    return
                continue
            held = len(self.group)
            if len(claimed) == 1:
                self.run_one(session, claimed[0], ready)
            else:
                self.run_batch(session, claimed, ready)
            if len(self.group) == held:  # finished (not held): its event's next one may be due
                self.crew.progressed()
            if self.group and (
                len(self.group) >= self.options.finish_group
                or time.monotonic() - self.group_since >= self.options.finish_hold_s
            ):
                self.flush(session)
        self.flush(session)  # asked to stop: what was answered is recorded before returning

    def claim(self, session: QueueSession) -> tuple[list[ClaimedIntent], _Ready | None]:
        """Claim the next intent (and its list-call companions). One that needs no step before its
        call is also marked sent in the same transaction (`_Ready`): one commit instead of two."""
        built: list[Request] = []

        def ready(claimed: list[ClaimedIntent]) -> dict[str, Any] | None:
            request = self.ready_request(claimed)
            if request is None:
                return None
            built.append(request)
            return request.audit

        companions = self.options.batch_size - 1 if self.options.batch_size > 1 else 0
        claim = session.claim(self.cutoff, companions, batch_key, ready)
        for intent in claim.intents:
            log.info(
                "intent.claimed",
                intent_id=intent.id,
                kind=intent.kind,
                event_id=intent.event_id,
                attempts=intent.attempts,
                in_doubt=intent.in_doubt,
                batch=len(claim.intents),
            )
        if claim.sent is None or not built:
            return claim.intents, None
        return claim.intents, _Ready(built[-1], claim.sent)

    def ready_request(self, claimed: list[ClaimedIntent]) -> Request | None:
        """The call, when nothing has to happen before it: not in doubt (no settlement), no conflict
        guard, attempts left, and no event type to look up. Anything else takes the long way."""
        if len(claimed) > 1:  # companions are never in doubt or guarded (`batch_key`)
            return self.dispatcher.batch(claimed[0].kind, claimed)
        intent = claimed[0]
        if (
            intent.in_doubt
            or intent.expected_updated_at is not None
            or intent.attempts >= self.options.max_attempts
        ):
            return None
        missing = _Missing()
        try:
            request = self.dispatcher.single(intent, missing)
        except Exception:
            return None  # run_one builds it again and fails it with the reason
        return None if missing.asked else request

    # -- one intent: its whole life ----------------------------------------------------------------

    def run_one(self, session: QueueSession, intent: ClaimedIntent, ready: _Ready | None = None) -> None:
        if ready is not None:
            self.send(session, [intent], ready.request, sent=ready.sent)
            return
        event: JsonObject | _Unread | None = UNREAD
        if intent.in_doubt:
            settled = self.settle(session, intent)
            if isinstance(settled, _Done):
                return
            event = settled
        if intent.expected_updated_at is not None and self.conflicts(session, intent, event):
            return
        if intent.attempts >= self.options.max_attempts:
            self.fail(session, intent, "exhausted", intent.last_error or "no attempts left")
            return
        try:
            request = self.dispatcher.single(intent, lambda: self.event_type_of(session, intent))
        except ReadFailed as exc:  # reading the event type back failed
            self.after_failed_read(session, intent, exc, in_doubt=False)
            return
        except _QueueFailed as exc:
            raise exc.__cause__ or exc from None  # the mirror's event type could not be read
        except Exception as exc:
            # Building the request failed: nothing left syncd, so it is not in doubt but refused.
            error = redactor.redact(f"request not sent: {type(exc).__name__}: {exc}")
            session.record_attempt(intent.id, intent.attempts + 1, None, outcome="rejected", error=error)
            self.fail(session, intent, "rejected", error)
            return
        self.send(session, [intent], request)

    def run_batch(
        self, session: QueueSession, intents: list[ClaimedIntent], ready: _Ready | None = None
    ) -> None:
        """Compatible intents in one list call; a 4xx sends each alone, so the bad one is isolated."""
        kind = intents[0].kind
        if ready is None:
            rejected = self.send(session, intents, self.dispatcher.batch(kind, intents), batch=True)
        else:
            rejected = self.send(session, intents, ready.request, batch=True, sent=ready.sent)
        if rejected:
            log.info("intent.batch_rejected", kind=kind, intents=len(intents), error=rejected.error)
            for intent in intents:
                self.send(session, [intent], self.dispatcher.single(intent, lambda: None))

    # -- the steps ---------------------------------------------------------------------------------

    def settle(self, session: QueueSession, intent: ClaimedIntent) -> JsonObject | _Done | None:
        """Read the event back: DONE if that finished the intent, else the event read (to send again)."""
        started = time.perf_counter()
        try:
            event = self.dispatcher.read(intent.event_id)
        except ReadFailed as exc:
            self.after_failed_read(session, intent, exc, in_doubt=True)
            return DONE
        applied = self.dispatcher.applied(intent, event)
        note = (
            "cannot be verified by reading back: assumed applied, never sent twice"
            if applied is None
            else None
        )
        session.record_attempt(
            intent.id,
            intent.attempts,
            self.dispatcher.read_request(intent.event_id),
            outcome="settled_applied" if applied is not False else "settled_not_applied",
            status_code=404 if event is None else 200,
            duration_ms=ms_since(started),
            error=note,
        )
        log.info("intent.settled", intent_id=intent.id, kind=intent.kind, applied=applied is not False)
        if applied is False:
            return event
        session.succeed(
            [intent.id],
            events=[event] if event is not None and not _deletes(intent) else [],
            deleted_event_ids=[intent.event_id] if _deletes(intent) else [],
        )
        self.noted_success(intent, settled=True)
        return DONE

    def conflicts(
        self, session: QueueSession, intent: ClaimedIntent, event: JsonObject | _Unread | None
    ) -> bool:
        """The guard: fail as 'conflict' if the event changed upstream since `expected_updated_at`."""
        started = time.perf_counter()
        if isinstance(event, _Unread):
            try:
                event = self.dispatcher.read(intent.event_id)
            except ReadFailed as exc:
                self.after_failed_read(session, intent, exc, in_doubt=intent.in_doubt)
                return True
        if event is None:
            reason = "the event no longer exists upstream"
        else:
            if self.dispatcher.updated_at(event) == intent.expected_updated_at:
                return False
            reason = f"the event changed upstream: updatedAt is {event.get('updatedAt')}, expected {intent.expected_updated_at}"
        session.record_attempt(
            intent.id,
            intent.attempts,
            self.dispatcher.read_request(intent.event_id),
            outcome="conflict",
            status_code=404 if event is None else 200,
            duration_ms=ms_since(started),
            error=reason,
        )
        self.fail(session, intent, "conflict", reason)
        return True

    def send(
        self,
        session: QueueSession,
        intents: list[ClaimedIntent],
        request: Request,
        *,
        batch: bool = False,
        sent: dict[int, SentAttempt] | None = None,
    ) -> Decision | None:
        """Commit sent_at (unless `sent` says the claim did), call, decide, finish.

        Returns the decision if a batch was rejected (not finished)."""
        if sent is None:
            sent = session.mark_sent([intent.id for intent in intents], request.audit)
        held = [intent for intent in intents if intent.id in sent]
        for intent in intents:
            if intent.id not in sent:  # taken over by another session: it is theirs now
                log.error("intent.lost_claim", intent_id=intent.id)
        if not held:
            return None
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            request.send()
        except Exception as exc:
            error = exc
        duration = ms_since(started)
        decision = self.dispatcher.decide(held[0].kind, error)
        if decision.outcome == "succeeded":
            # Recorded by `flush`, with the read-back into the mirror, in one transaction.
            if not self.group:
                self.group_since = time.monotonic()
            self.group += [_Answered(intent, sent[intent.id].row_id, decision, duration) for intent in held]
            return None
        session.finish_attempts(
            [sent[intent.id].row_id for intent in held],
            outcome=decision.outcome,
            status_code=decision.status,
            error=decision.error,
            duration_ms=duration,
        )
        if batch and len(held) > 1 and decision.outcome == "rejected":
            return decision
        for intent in held:
            attempt = sent[intent.id].number
            if decision.outcome == "rejected":
                self.fail(session, intent, "rejected", decision.error)
            elif decision.outcome == "in_doubt":
                # Settled by reading back at the next claim, whatever the attempts used.
                self.retry(session, intent, decision, attempt, in_doubt=True)
            elif attempt >= self.options.max_attempts or intent.age_s > self.options.max_age_s:
                self.fail(session, intent, "exhausted", decision.error)
            else:
                self.retry(session, intent, decision, attempt, in_doubt=False)
        return None

    def flush(self, session: QueueSession) -> None:
        """Record the held successes: read their events back (one call), then one transaction finishes
        their attempt rows, marks them succeeded and upserts the events into the mirror."""
        group, self.group = self.group, []
        if not group:
            return
        wanted = list(dict.fromkeys(a.intent.event_id for a in group if not _deletes(a.intent)))
        events = self.read_back(wanted)
        session.succeed(
            [a.intent.id for a in group],
            answers=[
                AttemptAnswer(a.row_id, a.decision.status, a.decision.error, a.duration_ms) for a in group
            ],
            events=[events[event_id] for event_id in wanted if event_id in events],
            deleted_event_ids=[a.intent.event_id for a in group if _deletes(a.intent)],
        )
        self.crew.progressed()
        for a in group:
            self.noted_success(a.intent, settled=False)

    def read_back(self, event_ids: list[int]) -> dict[int, JsonObject]:
        """Read-your-writes: the events as they are now, for the mirror (a failure only costs freshness)."""
        if not event_ids:
            return {}
        try:
            if len(event_ids) == 1:
                event = self.dispatcher.read(event_ids[0])
                return {event_ids[0]: event} if event is not None else {}
            return self.dispatcher.read_many(event_ids)
        except ReadFailed as exc:
            log.warning("intent.read_back_failed", event_ids=event_ids[:10], error=exc.message)
            return {}

    def after_failed_read(
        self, session: QueueSession, intent: ClaimedIntent, exc: ReadFailed, *, in_doubt: bool
    ) -> None:
        """A read needed before sending failed: nothing was sent, so this costs no attempt."""
        if exc.retryable and intent.age_s <= self.options.max_age_s:
            decision = Decision("transient", exc.status, f"reading the event back failed: {exc.message}")
            self.retry(session, intent, decision, intent.attempts + 1, in_doubt=in_doubt)
            return
        prefix = "in doubt and unverifiable: " if in_doubt else ""
        reason = "exhausted" if exc.retryable else "rejected"
        self.fail(session, intent, reason, f"{prefix}reading the event back failed: {exc.message}")

    def event_type_of(self, session: QueueSession, intent: ClaimedIntent) -> int | None:
        """A reschedule's eventTypeId when the payload has none: the mirror's, else the API's."""
        try:
            known = session.mirror_event_type_id(intent.event_id)
        except Exception as exc:
            raise _QueueFailed from exc
        if known is not None:
            return known
        event = self.dispatcher.read(intent.event_id)
        event_type = (event or {}).get("eventType")
        found = event_type.get("id") if isinstance(event_type, dict) else None
        return found if isinstance(found, int) else None

    # -- finishing ---------------------------------------------------------------------------------

    def noted_success(self, intent: ClaimedIntent, *, settled: bool) -> None:
        self.summary.note("succeeded", intent.id)
        if settled:
            self.summary.note("settled", intent.id)
        log.info(
            "intent.succeeded",
            intent_id=intent.id,
            kind=intent.kind,
            event_id=intent.event_id,
            settled=settled,
        )

    def fail(self, session: QueueSession, intent: ClaimedIntent, reason: str, error: str | None) -> None:
        session.fail(intent.id, reason, error)
        self.summary.note("failed", intent.id)
        log.warning(
            "intent.failed",
            intent_id=intent.id,
            kind=intent.kind,
            event_id=intent.event_id,
            reason=reason,
            error=error,
        )

    def retry(
        self,
        session: QueueSession,
        intent: ClaimedIntent,
        decision: Decision,
        attempt: int,
        *,
        in_doubt: bool,
    ) -> None:
        delay = backoff_s(self.options, attempt, decision.retry_after)
        session.retry(intent.id, delay, decision.error, in_doubt=in_doubt)
        self.summary.note("retrying", intent.id)
        log.info(
            "intent.retry_scheduled",
            intent_id=intent.id,
            kind=intent.kind,
            attempt=attempt,
            in_doubt=in_doubt,
            delay_s=round(delay, 3),
            error=decision.error,
        )


class _Crew:
    """The workers of one pass. One that finds nothing to claim waits while others still work: their
    finishing (a flushed finish group above all) may make the next intents of their events claimable.
    The pass ends when every worker found nothing with no one else working."""

    def __init__(self, size: int) -> None:
        self.cond = threading.Condition()
        self.working = size
        self.progress = 0
        self.left: set[int] = set()

    def progressed(self) -> None:
        with self.cond:
            self.progress += 1
            self.cond.notify_all()

    def wait_for_progress(self, seen: int, stop: threading.Event) -> bool:
        """Until progress beyond `seen` (True: claim again); False when nobody else is working (or a
        stop): this worker leaves the pass."""
        with self.cond:
            self.working -= 1
            while self.progress == seen and self.working > 0 and not stop.is_set():
                self.cond.wait(_STOP_CHECK_S)
            if self.progress == seen:
                self.left.add(threading.get_ident())
                self.cond.notify_all()
                return False
            self.working += 1
            return True

    def leave(self) -> None:
        with self.cond:
            if threading.get_ident() not in self.left:
                self.left.add(threading.get_ident())
                self.working -= 1
            self.cond.notify_all()


class _Missing:
    """An event-type lookup that answers nothing and remembers it was asked: a request that needs
    one is not ready at the claim (the lookup takes its own steps)."""

    def __init__(self) -> None:
        self.asked = False

    def __call__(self) -> int | None:
        self.asked = True
        return None


@dataclass(frozen=True)
class _Ready:
    """A claimed intent's call, already marked sent (committed with the claim)."""

    request: Request
    sent: dict[int, SentAttempt]


@dataclass(frozen=True)
class _Answered:
    """An intent whose call was answered with a 2xx, waiting in its worker's finish group."""

    intent: ClaimedIntent
    row_id: int  # its open attempt row
    decision: Decision
    duration_ms: int


class _Unread:
    """The event has not been read in this claim yet."""


class _Done:
    """The intent is finished (settled, failed or rescheduled): nothing more to do in this claim."""


UNREAD = _Unread()
DONE = _Done()


# --- follow mode -----------------------------------------------------------------------------------


def follow(
    queue: IntentQueue,
    dispatcher: Dispatcher,
    stop: threading.Event,
    options: ReplayOptions | None = None,
    *,
    on_pass: Callable[[ReplaySummary], None] | None = None,
) -> None:
    """Replay until `stop` is set: a pass whenever the queue hears of new intents (PostgreSQL: NOTIFY
    on `syncd_intents`), and a sweep at least every `sweep_s` (or sooner when a retry comes due). A
    stop lets the intents under way finish, then returns.
    """
    options = options or ReplayOptions()

    def one_pass() -> float:
        summary = replay_once(queue, dispatcher, options, stop=stop)
        if on_pass is not None:
            on_pass(summary)
        if summary.next_due_in_s is not None:
            return min(options.sweep_s, summary.next_due_in_s)
        return options.sweep_s

    queue.follow(stop, one_pass)
