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
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from syncd.api import ApiClient, ApiError, ApiNotFound, JsonObject, format_api_datetime, parse_api_datetime
from syncd.api.errors import ApiAuthError, ApiTransientError
from syncd.db import replay_store as store
from syncd.db.feed import set_origin
from syncd.db.intents import NOTIFY_CHANNEL
from syncd.db.listen import follow_notifications
from syncd.db.mirror import store as store_in_mirror
from syncd.db.replay_store import ClaimedIntent
from syncd.logs import redactor
from syncd.resources import RESOURCES
from syncd.retry import Backoff, ms_since
from syncd.settings import Settings

log = structlog.get_logger(__name__)

BATCHABLE = frozenset({"cancel", "no_show"})
_API_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
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


def replay_options(settings: Settings, **overrides: Any) -> ReplayOptions:
    values: dict[str, Any] = {
        "batch_size": settings.replay_batch_size,
        "concurrency": settings.replay_concurrency,
        "max_attempts": settings.replay_max_attempts,
        "max_age_s": settings.replay_max_age_s,
        "api_timezone": settings.api_timezone,
        **overrides,
    }
    return ReplayOptions(**values)


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


# --- what each kind sends, and how to tell it took effect --------------------------------------------


@dataclass(frozen=True)
class Write:
    """One API call: what it is (for the audit trail, never with the key) and how to make it."""

    method: str
    path: str
    body: Mapping[str, Any] | None
    send: Callable[[], None] = field(repr=False, compare=False)

    @property
    def request(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body}


class EventWrites:
    """The dispatcher: the API call of each intent kind, and the read-back check that settles it."""

    def __init__(self, client: ApiClient, zone: str = "UTC") -> None:
        self.client = client
        self.zone = zone
        parse_api_datetime("2000-01-01 00:00:00", zone)  # an unknown zone fails here, not mid-pass

    def _describe(self, endpoint: str, event_id: int | None = None) -> tuple[str, str]:
        spec = self.client.endpoints[endpoint]
        path = spec.path.format(id=event_id) if event_id is not None else spec.path
        return spec.method, path

    def _write(self, endpoint: str, body: dict[str, Any] | None, event_id: int | None = None) -> Write:
        """Build (and encode) the request now, send it later: an error here means nothing left syncd."""
        prepared = self.client.prepare(
            endpoint, path_params={"id": event_id} if event_id is not None else None, body=body
        )
        method, path = self._describe(endpoint, event_id)
        return Write(method, path, body, lambda: self.client.send_prepared(prepared))

    def single(self, intent: ClaimedIntent, event_type_id: Callable[[], int | None]) -> Write:
        """The call for one intent, built but not sent; raises for a payload the API could not take."""
        i, p = intent.event_id, intent.payload
        body: dict[str, Any] | None
        match intent.kind:
            case "cancel":
                reason = p.get("reason")
                body, endpoint = ({"reason": reason} if reason is not None else {}), "event.cancel"
            case "reschedule":
                start, end = self.api_datetime(p["start"]), self.api_datetime(p["end"])
                type_id = p.get("eventTypeId") or event_type_id()
                body = {"start": start, "end": end, "eventTypeId": type_id, "userId": p.get("userId")}
                body, endpoint = {k: v for k, v in body.items() if v is not None}, "event.reschedule"
            case "notes":
                notes = p["notes"]
                if not isinstance(notes, str):
                    raise ValueError("notes: must be a string")
                body, endpoint = {"notes": notes}, "event.notes"
            case "invite":
                emails, message = p["emails"], p.get("message")
                if not isinstance(emails, list):
                    raise ValueError("emails: must be a list of addresses")
                body = {"emails": list(emails), **({"message": message} if message is not None else {})}
                endpoint = "event.invite"
            case "no_show" | "delete" | "resend_notification":
                body, endpoint = None, f"event.{intent.kind}"
            case _:
                raise ValueError(f"unknown kind {intent.kind!r}")
        return self._write(endpoint, body, i)

    def batch(self, kind: str, intents: Sequence[ClaimedIntent]) -> Write:
        """One list call for compatible intents (see `BATCHABLE`, `batch_key`)."""
        ids = [intent.event_id for intent in intents]
        if kind == "cancel":
            reason = intents[0].payload.get("reason")
            return self._write(
                "event.cancel_list", {"ids": ids, **({"reason": reason} if reason is not None else {})}
            )
        if kind == "no_show":
            return self._write("event.no_show_list", {"ids": ids})
        raise ValueError(f"{kind} has no list endpoint")

    def read_request(self, event_id: int) -> dict[str, Any]:
        method, path = self._describe("event.get", event_id)
        return {"method": method, "path": path, "body": None}

    def read(self, event_id: int) -> JsonObject | None:
        """The event as the API has it now (reads retry on their own); None if it does not exist."""
        try:
            return self.client.get_event(event_id)
        except ApiNotFound:
            return None

    def read_many(self, event_ids: Sequence[int]) -> dict[int, JsonObject]:
        """Events by id in one list call (the mirror's read-back after a list write)."""
        found: dict[int, JsonObject] = {}
        for page in self.client.iter_pages("event.list", {"filter": {"ids": list(event_ids)}}, 100):
            found.update({item["id"]: item for item in page.items if isinstance(item.get("id"), int)})
        return found

    def api_datetime(self, value: Any) -> str:
        """`Y-m-d H:i:s` or ISO 8601 with an offset, as the API's `Y-m-d H:i:s` in the configured zone."""
        if not isinstance(value, str):
            raise ValueError(f"expected a date-time string, got {type(value).__name__}")
        text = format_api_datetime(parse_api_datetime(value, self.zone), self.zone)
        if not _API_DATETIME.fullmatch(text):  # strftime writes year 1 as "1", not "0001"
            raise ValueError(f"{value!r} cannot be written as the API's Y-m-d H:i:s (got {text!r})")
        return text

    def applied(self, intent: ClaimedIntent, event: JsonObject | None) -> bool | None:
        """Whether the event read back shows the intent's effect; None when no read can tell."""
        p = intent.payload
        match intent.kind:
            case "delete":
                return event is None
            case "resend_notification":
                return None  # an e-mail leaves no trace on the event
        if event is None:
            return False  # gone: nothing of ours is in place; a resend gets the API's 404
        match intent.kind:
            case "cancel":
                return event.get("state") == "canceled" or event.get("canceledAt") is not None
            case "no_show":
                return event.get("state") == "no_show"
            case "notes":
                return event.get("notes") == p.get("notes")
            case "invite":
                present = {
                    str(item.get("email", "")).casefold()
                    for item in event.get("participants") or []
                    if isinstance(item, dict)
                }
                return all(str(email).casefold() in present for email in p.get("emails") or [])
            case "reschedule":
                try:
                    wanted = [
                        parse_api_datetime(self.api_datetime(p[k]), self.zone) for k in ("start", "end")
                    ]
                    actual = [parse_api_datetime(str(event.get(k))) for k in ("scheduledAt", "endDate")]
                except (KeyError, ValueError):
                    return False
                return wanted == actual
        return False


def batch_key(intent: ClaimedIntent) -> tuple[str, str | None] | None:
    """Intents with the same key may share one list call; None: this one goes alone."""
    if intent.kind not in BATCHABLE or intent.in_doubt or intent.expected_updated_at is not None:
        return None
    reason = intent.payload.get("reason") if intent.kind == "cancel" else None
    return intent.kind, reason if isinstance(reason, str) else None


# --- the retry decision ---------------------------------------------------------------------------


Outcome = Literal["succeeded", "rejected", "transient", "in_doubt"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


def decide(kind: str, error: BaseException | None) -> Decision:
    """What an answer means for the intent (see the module docstring)."""
    if error is None:
        return Decision("succeeded", 200)
    if not isinstance(error, ApiError):
        # A bug or an interrupted call: we cannot know whether the request left.
        return Decision("in_doubt", None, redactor.redact(f"{type(error).__name__}: {error}"))
    retry_after = error.retry_after if isinstance(error, ApiTransientError) else None
    if error.in_doubt:
        return Decision("in_doubt", error.status, error.message, retry_after)
    if isinstance(error, ApiTransientError | ApiAuthError):
        # 401/403 too: a key being fixed should not cost every queued decision.
        return Decision("transient", error.status, error.message, retry_after)
    if isinstance(error, ApiNotFound) and kind == "delete":
        return Decision("succeeded", error.status, "already gone")
    return Decision("rejected", error.status, error.message)


def backoff_s(options: ReplayOptions, attempt: int, retry_after: float | None = None) -> float:
    """Full jitter after the `attempt`-th call (`syncd.retry.Backoff`), never shorter than the
    server's Retry-After (up to the cap)."""
    return Backoff(options.backoff_base_s, options.backoff_cap_s, jitter=1.0).delay_s(attempt, retry_after)


# --- the pass --------------------------------------------------------------------------------------


def replay_once(
    engine: Engine,
    client: ApiClient,
    options: ReplayOptions | None = None,
    *,
    stop: threading.Event | None = None,
) -> ReplaySummary:
    """One pass over the intents due now; each is attempted at most once. Raises on database failure."""
    options = options or ReplayOptions()
    writes = EventWrites(client, options.api_timezone)
    stop = stop or threading.Event()
    summary = ReplaySummary()
    with engine.connect() as conn:
        with conn.begin():
            released, in_doubt = store.take_over_orphans(conn)
        summary.taken_over = released + in_doubt
        for intent_id in released:
            log.warning("intent.taken_over", intent_id=intent_id, in_doubt=False)
        for intent_id in in_doubt:
            log.warning("intent.taken_over", intent_id=intent_id, in_doubt=True)
        with conn.begin():
            # Due by the pass's start: a retry scheduled during the pass waits for the next one.
            cutoff = store.database_now(conn)
        crew = _Crew(options.concurrency)
        workers = [
            _Worker(engine, writes, options, cutoff, summary, stop, crew) for _ in range(options.concurrency)
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
        with conn.begin():
            summary.next_due_in_s = store.seconds_until_next_due(conn)
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


class _Worker:
    """Claims and runs intents on its own connection until none is due (or asked to stop)."""

    def __init__(
        self,
        engine: Engine,
        writes: EventWrites,
        options: ReplayOptions,
        cutoff: dt.datetime,
        summary: ReplaySummary,
        stop: threading.Event,
        crew: _Crew | None = None,
    ) -> None:
        self.crew = crew or _Crew(1)
        self.engine = engine
        self.writes = writes
        self.options = options
        self.cutoff = cutoff
        self.summary = summary
        self.stop = stop
        self.error: Exception | None = None
        # Answered with a 2xx, not yet recorded: finished together by `flush` (see ReplayOptions).
        self.group: list[_Answered] = []
        self.group_since = 0.0
        # Nested copies (users, event types) this worker's committed mirror writes already hold, by
        # digest: `mirror.store` skips them. Per worker, so an entry always names a committed row of
        # this connection (a failed transaction ends the worker, and the cache with it).
        self.written_refs: dict[tuple[str, tuple[Any, ...]], str] = {}

    def drain(self) -> None:
        try:
            with self.engine.connect() as conn:
                try:
                    self.work(conn)
                except Exception:
                    # End this session rather than pool it: what it holds (claimed, sent, answered
                    # but not recorded) is then an orphan, taken over (and settled) by the next pass.
                    conn.invalidate()
                    raise
        except Exception as exc:  # the pass reports it
            log.exception("replay.worker_failed", error=type(exc).__name__)
            self.error = exc
        finally:
            self.crew.leave()

    def work(self, conn: Connection) -> None:
        while not self.stop.is_set():
            seen = self.crew.progress  # before the claim: progress during it is not missed
            claimed, ready = self.claim(conn)
            if not claimed:
                if self.group:
                    # Recording our successes may unblock the next intents of their events.
                    self.flush(conn)
                    continue
                if not self.crew.wait_for_progress(seen, self.stop):
                    return
                continue
            held = len(self.group)
            if len(claimed) == 1:
                self.run_one(conn, claimed[0], ready)
            else:
                self.run_batch(conn, claimed, ready)
            if len(self.group) == held:  # finished (not held): its event's next one may be due
                self.crew.progressed()
            if self.group and (
                len(self.group) >= self.options.finish_group
                or time.monotonic() - self.group_since >= self.options.finish_hold_s
            ):
                self.flush(conn)
        self.flush(conn)  # asked to stop: what was answered is recorded before returning

    def claim(self, conn: Connection) -> tuple[list[ClaimedIntent], _Ready | None]:
        """Claim the next intent (and its list-call companions). One that needs no step before its
        call is also marked sent in the same transaction (`_Ready`): one commit instead of two."""
        with conn.begin():
            first = store.claim_next(conn, self.cutoff)
            if first is None:
                return [], None
            claimed = [first]
            key = batch_key(first)
            if key is not None and self.options.batch_size > 1:
                claimed += store.claim_companions(
                    conn, self.cutoff, key[0], key[1], self.options.batch_size - 1
                )
            ready = self.ready_write(claimed)
            if ready is not None:
                ready = _Ready(
                    ready.write, store.mark_sent(conn, [i.id for i in claimed], ready.write.request)
                )
        for intent in claimed:
            log.info(
                "intent.claimed",
                intent_id=intent.id,
                kind=intent.kind,
                event_id=intent.event_id,
                attempts=intent.attempts,
                in_doubt=intent.in_doubt,
                batch=len(claimed),
            )
        return claimed, ready

    def ready_write(self, claimed: list[ClaimedIntent]) -> _Ready | None:
        """The call, when nothing has to happen before it: not in doubt (no settlement), no conflict
        guard, attempts left, and no event type to look up. Anything else takes the long way."""
        if len(claimed) > 1:  # companions are never in doubt or guarded (`batch_key`)
            return _Ready(self.writes.batch(claimed[0].kind, claimed), {})
        intent = claimed[0]
        if (
            intent.in_doubt
            or intent.expected_updated_at is not None
            or intent.attempts >= self.options.max_attempts
            or (intent.kind == "reschedule" and not intent.payload.get("eventTypeId"))
        ):
            return None
        try:
            return _Ready(self.writes.single(intent, lambda: None), {})
        except Exception:
            return None  # run_one builds it again and fails it with the reason

    # -- one intent: its whole life ----------------------------------------------------------------

    def run_one(self, conn: Connection, intent: ClaimedIntent, ready: _Ready | None = None) -> None:
        if ready is not None:
            self.send(conn, [intent], ready.write, sent=ready.sent)
            return
        event: JsonObject | _Unread | None = UNREAD
        if intent.in_doubt:
            settled = self.settle(conn, intent)
            if isinstance(settled, _Done):
                return
            event = settled
        if intent.expected_updated_at is not None and self.conflicts(conn, intent, event):
            return
        if intent.attempts >= self.options.max_attempts:
            self.fail(conn, intent, "exhausted", intent.last_error or "no attempts left")
            return
        try:
            write = self.writes.single(intent, lambda: self.event_type_of(conn, intent))
        except ApiError as exc:  # reading the event type back failed
            self.after_failed_read(conn, intent, exc, in_doubt=False)
            return
        except SQLAlchemyError:
            raise  # the mirror's event type could not be read: the pass reports it
        except Exception as exc:
            # Building the request failed: nothing left syncd, so it is not in doubt but refused.
            error = redactor.redact(f"request not sent: {type(exc).__name__}: {exc}")
            with conn.begin():
                store.record_attempt(
                    conn, intent.id, intent.attempts + 1, None, outcome="rejected", error=error
                )
            self.fail(conn, intent, "rejected", error)
            return
        self.send(conn, [intent], write)

    def run_batch(self, conn: Connection, intents: list[ClaimedIntent], ready: _Ready | None = None) -> None:
        """Compatible intents in one list call; a 4xx sends each alone, so the bad one is isolated."""
        kind = intents[0].kind
        if ready is None:
            rejected = self.send(conn, intents, self.writes.batch(kind, intents), batch=True)
        else:
            rejected = self.send(conn, intents, ready.write, batch=True, sent=ready.sent)
        if rejected:
            log.info("intent.batch_rejected", kind=kind, intents=len(intents), error=rejected.error)
            for intent in intents:
                self.send(conn, [intent], self.writes.single(intent, lambda: None))

    # -- the steps ---------------------------------------------------------------------------------

    def settle(self, conn: Connection, intent: ClaimedIntent) -> JsonObject | _Done | None:
        """Read the event back: DONE if that finished the intent, else the event read (to send again)."""
        started = time.perf_counter()
        try:
            event = self.writes.read(intent.event_id)
        except ApiError as exc:
            self.after_failed_read(conn, intent, exc, in_doubt=True)
            return DONE
        applied = self.writes.applied(intent, event)
        outcome = "settled_applied" if applied is not False else "settled_not_applied"
        note = (
            "cannot be verified by reading back: assumed applied, never sent twice"
            if applied is None
            else None
        )
        with conn.begin():
            store.record_attempt(
                conn,
                intent.id,
                intent.attempts,
                self.writes.read_request(intent.event_id),
                outcome=outcome,
                status_code=404 if event is None else 200,
                duration_ms=ms_since(started),
                error=note,
            )
        log.info("intent.settled", intent_id=intent.id, kind=intent.kind, applied=applied is not False)
        if applied is False:
            return event
        self.succeed(conn, intent, event, settled=True)
        return DONE

    def conflicts(self, conn: Connection, intent: ClaimedIntent, event: JsonObject | _Unread | None) -> bool:
        """The guard: fail as 'conflict' if the event changed upstream since `expected_updated_at`."""
        started = time.perf_counter()
        if isinstance(event, _Unread):
            try:
                event = self.writes.read(intent.event_id)
            except ApiError as exc:
                self.after_failed_read(conn, intent, exc, in_doubt=intent.in_doubt)
                return True
        if event is None:
            reason = "the event no longer exists upstream"
        else:
            try:
                current = parse_api_datetime(str(event.get("updatedAt")), self.writes.zone)
            except ValueError:
                current = None
            if current == intent.expected_updated_at:
                return False
            reason = f"the event changed upstream: updatedAt is {event.get('updatedAt')}, expected {intent.expected_updated_at}"
        with conn.begin():
            store.record_attempt(
                conn,
                intent.id,
                intent.attempts,
                self.writes.read_request(intent.event_id),
                outcome="conflict",
                status_code=404 if event is None else 200,
                duration_ms=ms_since(started),
                error=reason,
            )
        self.fail(conn, intent, "conflict", reason)
        return True

    def send(
        self,
        conn: Connection,
        intents: list[ClaimedIntent],
        write: Write,
        *,
        batch: bool = False,
        sent: dict[int, store.SentAttempt] | None = None,
    ) -> Decision | None:
        """Commit sent_at (unless `sent` says the claim did), call, decide, finish.

        Returns the decision if a batch was rejected (not finished)."""
        if sent is None:
            with conn.begin():
                sent = store.mark_sent(conn, [intent.id for intent in intents], write.request)
        held = [intent for intent in intents if intent.id in sent]
        for intent in intents:
            if intent.id not in sent:  # taken over by another session: it is theirs now
                log.error("intent.lost_claim", intent_id=intent.id)
        if not held:
            return None
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            write.send()
        except Exception as exc:
            error = exc
        duration = ms_since(started)
        decision = decide(held[0].kind, error)
        if decision.outcome == "succeeded":
            # Recorded by `flush`, with the read-back into the mirror, in one transaction.
            if not self.group:
                self.group_since = time.monotonic()
            self.group += [_Answered(intent, sent[intent.id].row_id, decision, duration) for intent in held]
            return None
        rows = [sent[intent.id].row_id for intent in held]
        with conn.begin():
            store.finish_attempts(
                conn,
                rows,
                outcome=decision.outcome,
                status_code=decision.status,
                answer_excerpt=decision.error,
                duration_ms=duration,
                error=decision.error,
            )
        if batch and len(held) > 1 and decision.outcome == "rejected":
            return decision
        for intent in held:
            attempt = sent[intent.id].number
            if decision.outcome == "rejected":
                self.fail(conn, intent, "rejected", decision.error)
            elif decision.outcome == "in_doubt":
                # Settled by reading back at the next claim, whatever the attempts used.
                self.retry(conn, intent, decision, attempt, in_doubt=True)
            elif attempt >= self.options.max_attempts or intent.age_s > self.options.max_age_s:
                self.fail(conn, intent, "exhausted", decision.error)
            else:
                self.retry(conn, intent, decision, attempt, in_doubt=False)
        return None

    def flush(self, conn: Connection) -> None:
        """Record the held successes: read their events back (one call), then one transaction finishes
        their attempt rows, marks them succeeded and upserts the events into the mirror."""
        group, self.group = self.group, []
        if not group:
            return
        wanted = list(dict.fromkeys(a.intent.event_id for a in group if a.intent.kind != "delete"))
        events = self.read_back(wanted)
        with conn.begin():
            set_origin(conn, "replay:" + ",".join(str(a.intent.id) for a in group))
            store.finish_attempts_each(
                conn,
                [(a.row_id, a.decision.status, a.decision.error, a.duration_ms) for a in group],
                outcome="succeeded",
            )
            store.finish_succeeded(conn, [a.intent.id for a in group])
            for a in group:
                if a.intent.kind == "delete":
                    store.mark_mirror_event_deleted(conn, a.intent.event_id)
            found = [events[event_id] for event_id in wanted if event_id in events]
            if found:
                store_in_mirror(
                    conn, RESOURCES["events"], found, written_refs=self.written_refs, zone=self.writes.zone
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
                event = self.writes.read(event_ids[0])
                return {event_ids[0]: event} if event is not None else {}
            return self.writes.read_many(event_ids)
        except ApiError as exc:
            log.warning("intent.read_back_failed", event_ids=event_ids[:10], error=exc.message)
            return {}

    def after_failed_read(
        self, conn: Connection, intent: ClaimedIntent, exc: ApiError, *, in_doubt: bool
    ) -> None:
        """A read needed before sending failed: nothing was sent, so this costs no attempt."""
        if exc.retryable and intent.age_s <= self.options.max_age_s:
            decision = Decision("transient", exc.status, f"reading the event back failed: {exc.message}")
            self.retry(conn, intent, decision, intent.attempts + 1, in_doubt=in_doubt)
            return
        prefix = "in doubt and unverifiable: " if in_doubt else ""
        reason = "exhausted" if exc.retryable else "rejected"
        self.fail(conn, intent, reason, f"{prefix}reading the event back failed: {exc.message}")

    def event_type_of(self, conn: Connection, intent: ClaimedIntent) -> int | None:
        """A reschedule's eventTypeId when the payload has none: the mirror's, else the API's."""
        with conn.begin():
            known = store.mirror_event_type_id(conn, intent.event_id)
        if known is not None:
            return known
        event = self.writes.read(intent.event_id)
        event_type = (event or {}).get("eventType")
        found = event_type.get("id") if isinstance(event_type, dict) else None
        return found if isinstance(found, int) else None

    # -- finishing ---------------------------------------------------------------------------------

    def succeed(
        self, conn: Connection, intent: ClaimedIntent, event: JsonObject | None, *, settled: bool
    ) -> None:
        with conn.begin():
            set_origin(conn, f"replay:{intent.id}")
            store.finish_succeeded(conn, [intent.id])
            if intent.kind == "delete":
                store.mark_mirror_event_deleted(conn, intent.event_id)
            elif event is not None:
                store_in_mirror(
                    conn, RESOURCES["events"], [event], written_refs=self.written_refs, zone=self.writes.zone
                )
        self.noted_success(intent, settled=settled)

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

    def fail(self, conn: Connection, intent: ClaimedIntent, reason: str, error: str | None) -> None:
        with conn.begin():
            store.finish_failed(conn, intent.id, reason, error)
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
        self, conn: Connection, intent: ClaimedIntent, decision: Decision, attempt: int, *, in_doubt: bool
    ) -> None:
        delay = backoff_s(self.options, attempt, decision.retry_after)
        with conn.begin():
            store.retry_later(conn, intent.id, delay, decision.error, in_doubt=in_doubt)
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


@dataclass(frozen=True)
class _Ready:
    """A claimed intent's call, already marked sent (committed with the claim)."""

    write: Write
    sent: dict[int, store.SentAttempt]


@dataclass(frozen=True)
class _Answered:
    """An intent whose call was answered with a 2xx, waiting in its worker's finish group."""

    intent: ClaimedIntent
    row_id: int  # its open intent_attempts row
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
    engine: Engine,
    client: ApiClient,
    stop: threading.Event,
    options: ReplayOptions | None = None,
    *,
    on_pass: Callable[[ReplaySummary], None] | None = None,
) -> None:
    """Replay until `stop` is set: a pass on every NOTIFY on `syncd_intents`, and a sweep at least
    every `sweep_s` (or sooner when a retry comes due). A lost database connection is retried with
    backoff; a stop lets the intents under way finish, then returns.
    """
    options = options or ReplayOptions()

    def one_pass() -> float:
        summary = replay_once(engine, client, options, stop=stop)
        if on_pass is not None:
            on_pass(summary)
        if summary.next_due_in_s is not None:
            return min(options.sweep_s, summary.next_due_in_s)
        return options.sweep_s

    follow_notifications(engine, stop, NOTIFY_CHANNEL, name="replay", one_pass=one_pass)
