"""Every SQL statement of the write-back replay, one named function each.

The PostgreSQL queue (`syncd.db.intent_queue`, which the replay engine talks to) runs only these
functions; each runs in the caller's connection and transaction, and the caller commits. Ownership of an in-flight intent
is the database session that claimed it: `(claimed_pid, claimed_backend_start)` names that session
in `pg_stat_activity`, so an intent held by a session that no longer exists is an orphan, taken
over at once instead of after a lease.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, text

from syncd.intent_queue import ClaimedIntent, SentAttempt

# The one rule of order: an intent is claimable only when no older intent of its event is unfinished.
# The plan walks the primary key in id order and filters out finished intents, so a claim costs more
# as the table's history grows (measured 9-11 ms with 19,000 finished rows, 0.6 ms with 1,000); a
# partial index `(id) WHERE status = 'pending'` makes it 0.1-0.4 ms whatever the history (a migration:
# see docs/performance.md, "Write-back").
_CLAIMABLE = """
    w.status = 'pending'
    AND w.next_attempt_at <= :cutoff
    AND NOT EXISTS (
        SELECT 1 FROM syncd.write_intents AS older
        WHERE older.event_id = w.event_id
          AND older.id < w.id
          AND older.status IN ('pending', 'in_flight')
    )
"""

# Claimed by this session: the pid and its backend_start (a pid alone may be reused).
_CLAIM_SET = """
    status = 'in_flight',
    claimed_pid = pg_backend_pid(),
    claimed_backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()),
    updated_at = now()
"""

_RETURNING = """
    RETURNING w.id, w.kind, w.event_id, w.payload, w.expected_updated_at, w.attempts, w.sent_at,
              w.created_at, w.last_error, EXTRACT(EPOCH FROM now() - w.created_at)::float8 AS age_s
"""

_CLAIM_NEXT = text(
    f"""
    WITH next AS (
        SELECT w.id FROM syncd.write_intents AS w
        WHERE {_CLAIMABLE}
        ORDER BY w.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE syncd.write_intents AS w SET {_CLAIM_SET}
    FROM next WHERE w.id = next.id
    {_RETURNING}
    """
)

# Companions for a list call: same kind and the same value of its `batch_by` field (a cancel's
# reason), never in doubt, never guarded.
_CLAIM_COMPANIONS = text(
    f"""
    WITH batch AS (
        SELECT w.id FROM syncd.write_intents AS w
        WHERE {_CLAIMABLE}
          AND w.kind = :kind
          AND w.sent_at IS NULL
          AND w.expected_updated_at IS NULL
          AND (w.payload ->> CAST(:batch_by AS text)) IS NOT DISTINCT FROM CAST(:value AS text)
        ORDER BY w.id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE syncd.write_intents AS w SET {_CLAIM_SET}
    FROM batch WHERE w.id = batch.id
    {_RETURNING}
    """
)

# A session that is gone from pg_stat_activity holds nothing. backend_start is NULL in rows of
# other roles' sessions without pg_read_all_stats: then the pid alone must do.
_ORPHANS = text(
    """
    SELECT w.id, w.sent_at IS NOT NULL AS in_doubt
    FROM syncd.write_intents AS w
    WHERE w.status = 'in_flight'
      AND NOT EXISTS (
          SELECT 1 FROM pg_stat_activity AS a
          WHERE a.pid = w.claimed_pid
            AND (a.backend_start = w.claimed_backend_start OR a.backend_start IS NULL)
      )
    ORDER BY w.id
    FOR UPDATE OF w SKIP LOCKED
    """
)

# Back to pending either way; sent_at stays, so an in-doubt intent is settled before it is resent.
_RELEASE_ORPHANS = text(
    """
    UPDATE syncd.write_intents
    SET status = 'pending', claimed_pid = NULL, claimed_backend_start = NULL,
        next_attempt_at = now(), updated_at = now()
    WHERE id = ANY(:ids)
    """
)

_MARK_SENT = text(
    """
    UPDATE syncd.write_intents
    SET sent_at = now(), attempts = attempts + 1, updated_at = now()
    WHERE id = ANY(:ids) AND status = 'in_flight' AND claimed_pid = pg_backend_pid()
    RETURNING id, attempts
    """
)

_INSERT_ATTEMPT = text(
    """
    INSERT INTO syncd.intent_attempts (intent_id, attempt, request, outcome, status_code,
                                       answer_excerpt, duration_ms, error, finished_at)
    VALUES (:intent_id, :attempt, CAST(:request AS jsonb), :outcome, :status_code,
            :answer_excerpt, :duration_ms, :error, CASE WHEN CAST(:outcome AS text) IS NULL THEN NULL ELSE now() END)
    RETURNING id
    """
)

_FINISH_ATTEMPT = text(
    """
    UPDATE syncd.intent_attempts
    SET finished_at = now(), status_code = :status_code, answer_excerpt = :answer_excerpt,
        duration_ms = :duration_ms, outcome = :outcome, error = :error
    WHERE id = ANY(:ids)
    """
)

# Each attempt its own answer (a finish group: intents answered one by one, recorded together).
_FINISH_ATTEMPTS_EACH = text(
    """
    UPDATE syncd.intent_attempts AS a
    SET finished_at = now(), status_code = f.status_code, answer_excerpt = f.answer_excerpt,
        duration_ms = f.duration_ms, outcome = :outcome, error = NULL
    FROM unnest(CAST(:ids AS bigint[]), CAST(:status_codes AS integer[]), CAST(:answers AS text[]),
                CAST(:durations AS integer[])) AS f(id, status_code, answer_excerpt, duration_ms)
    WHERE a.id = f.id
    """
)

_SUCCEED = text(
    """
    UPDATE syncd.write_intents
    SET status = 'succeeded', finished_at = now(), updated_at = now(),
        claimed_pid = NULL, claimed_backend_start = NULL, failure_reason = NULL, last_error = NULL
    WHERE id = ANY(:ids) AND status = 'in_flight' AND claimed_pid = pg_backend_pid()
    """
)

_FAIL = text(
    """
    UPDATE syncd.write_intents
    SET status = 'failed', finished_at = now(), updated_at = now(),
        claimed_pid = NULL, claimed_backend_start = NULL, failure_reason = :reason, last_error = :error
    WHERE id = :id AND status = 'in_flight' AND claimed_pid = pg_backend_pid()
    """
)

# sent_at is cleared when the failed call surely did nothing, kept when it may have done something.
_RETRY_LATER = text(
    """
    UPDATE syncd.write_intents
    SET status = 'pending', updated_at = now(),
        next_attempt_at = now() + make_interval(secs => :delay_s),
        claimed_pid = NULL, claimed_backend_start = NULL, last_error = :error,
        sent_at = CASE WHEN :in_doubt THEN sent_at ELSE NULL END
    WHERE id = :id AND status = 'in_flight' AND claimed_pid = pg_backend_pid()
    """
)

_DB_NOW = text("SELECT clock_timestamp()")

_NEXT_DUE_IN = text(
    """
    SELECT EXTRACT(EPOCH FROM min(next_attempt_at) - clock_timestamp())::float8
    FROM syncd.write_intents WHERE status = 'pending'
    """
)

_MIRROR_EVENT_TYPE = text("SELECT event_type_id FROM simplymeet.events WHERE id = :event_id")

_MIRROR_EVENT_DELETED = text(
    """
    UPDATE simplymeet.events SET deleted_at = now(), synced_at = now()
    WHERE id = :event_id AND deleted_at IS NULL
    """
)


def _intents(rows: Sequence[Any]) -> list[ClaimedIntent]:
    found = [
        ClaimedIntent(
            id=row.id,
            kind=row.kind,
            event_id=row.event_id,
            payload=row.payload if isinstance(row.payload, dict) else {},
            expected_updated_at=row.expected_updated_at,
            attempts=row.attempts,
            sent_at=row.sent_at,
            created_at=row.created_at,
            age_s=float(row.age_s),
            last_error=row.last_error,
        )
        for row in rows
    ]
    return sorted(found, key=lambda intent: intent.id)


def database_now(conn: Connection) -> dt.datetime:
    """The database's clock: due times are compared with it, never with this host's."""
    value = conn.execute(_DB_NOW).scalar_one()
    assert isinstance(value, dt.datetime)
    return value


def take_over_orphans(conn: Connection) -> tuple[list[int], list[int]]:
    """Release intents whose claiming session is gone: (back to pending, in doubt and to be settled)."""
    rows = conn.execute(_ORPHANS).all()
    if rows:
        conn.execute(_RELEASE_ORPHANS, {"ids": [row.id for row in rows]})
    return [row.id for row in rows if not row.in_doubt], [row.id for row in rows if row.in_doubt]


def claim_next(conn: Connection, cutoff: dt.datetime) -> ClaimedIntent | None:
    """The oldest claimable intent due by `cutoff`, now in flight for this session; None if none."""
    found = _intents(conn.execute(_CLAIM_NEXT, {"cutoff": cutoff}).all())
    return found[0] if found else None


def claim_companions(
    conn: Connection, cutoff: dt.datetime, kind: str, batch_by: str | None, value: str | None, limit: int
) -> list[ClaimedIntent]:
    """Up to `limit` more intents that can share one list call with a claimed one of `kind`."""
    if limit < 1:
        return []
    params = {"cutoff": cutoff, "kind": kind, "batch_by": batch_by, "value": value, "limit": limit}
    return _intents(conn.execute(_CLAIM_COMPANIONS, params).all())


def mark_sent(
    conn: Connection, intent_ids: Sequence[int], request: Mapping[str, Any]
) -> dict[int, SentAttempt]:
    """Record the call about to be made (sent_at, attempts + 1, an open attempt row); commit before calling.

    Only intents this session still holds are marked; the answer maps each of them to its attempt.
    """
    held = conn.execute(_MARK_SENT, {"ids": list(intent_ids)}).all()
    return {
        row.id: SentAttempt(record_attempt(conn, row.id, row.attempts, request), row.attempts) for row in held
    }


def record_attempt(
    conn: Connection,
    intent_id: int,
    attempt: int,
    request: Mapping[str, Any] | None,
    *,
    outcome: str | None = None,
    status_code: int | None = None,
    answer_excerpt: str | None = None,
    duration_ms: int | None = None,
    error: str | None = None,
) -> int:
    """An attempt row; open (outcome NULL) until `finish_attempts`, or complete when `outcome` is given."""
    params = {
        "intent_id": intent_id,
        "attempt": attempt,
        "request": json.dumps(request, ensure_ascii=False) if request is not None else None,
        "outcome": outcome,
        "status_code": status_code,
        "answer_excerpt": answer_excerpt,
        "duration_ms": duration_ms,
        "error": error,
    }
    value = conn.execute(_INSERT_ATTEMPT, params).scalar_one()
    return int(value)


def finish_attempts(
    conn: Connection,
    attempt_ids: Sequence[int],
    *,
    outcome: str,
    status_code: int | None,
    answer_excerpt: str | None,
    duration_ms: int,
    error: str | None,
) -> None:
    params = {
        "ids": list(attempt_ids),
        "outcome": outcome,
        "status_code": status_code,
        "answer_excerpt": answer_excerpt,
        "duration_ms": duration_ms,
        "error": error,
    }
    conn.execute(_FINISH_ATTEMPT, params)


def finish_attempts_each(
    conn: Connection, answers: Sequence[tuple[int, int | None, str | None, int]], *, outcome: str
) -> None:
    """Finish attempt rows with one outcome but each its own (row id, status code, answer excerpt, ms)."""
    if not answers:
        return
    ids, status_codes, excerpts, durations = (list(column) for column in zip(*answers, strict=True))
    params = {
        "ids": ids,
        "status_codes": status_codes,
        "answers": excerpts,
        "durations": durations,
        "outcome": outcome,
    }
    conn.execute(_FINISH_ATTEMPTS_EACH, params)


def finish_succeeded(conn: Connection, intent_ids: Sequence[int]) -> None:
    """Final: `succeeded`, for the intents this session still holds."""
    conn.execute(_SUCCEED, {"ids": list(intent_ids)})


def finish_failed(conn: Connection, intent_id: int, reason: str, error: str | None) -> None:
    """Final: reason 'rejected' (a 4xx), 'conflict' or 'exhausted'; `error` is the API's message."""
    conn.execute(_FAIL, {"id": intent_id, "reason": reason, "error": error})


def retry_later(
    conn: Connection, intent_id: int, delay_s: float, error: str | None, *, in_doubt: bool
) -> None:
    """Back to pending, due in `delay_s`; `in_doubt` keeps sent_at so the next claim settles first."""
    params = {"id": intent_id, "delay_s": max(delay_s, 0.0), "error": error, "in_doubt": in_doubt}
    conn.execute(_RETRY_LATER, params)


def seconds_until_next_due(conn: Connection) -> float | None:
    """How long until the earliest pending intent is due (<= 0: due now); None when none is pending."""
    value = conn.execute(_NEXT_DUE_IN).scalar_one_or_none()
    return None if value is None else float(value)


def mirror_event_type_id(conn: Connection, event_id: int) -> int | None:
    value = conn.execute(_MIRROR_EVENT_TYPE, {"event_id": event_id}).scalar_one_or_none()
    return None if value is None else int(value)


def mark_mirror_event_deleted(conn: Connection, event_id: int) -> None:
    """Read-your-writes for a delete: the mirror row is marked gone, as a full sync would."""
    conn.execute(_MIRROR_EVENT_DELETED, {"event_id": event_id})
