"""The write-back queue: `syncd.write_intents` (what a CRM decided) and `syncd.intent_attempts` (the audit trail).

A CRM inserts `(kind, event_id, payload)`; defaults fill the rest. A trigger refuses bad intents at
the INSERT (rendered from `syncd.intent_kinds`, frozen in migration 0011) and another announces new
ones with NOTIFY; syncd replays them. `enqueue` checks in Python first, with the same rules and words.

The operator's statements live here too, each a named function: enqueue, list, retry, withdraw,
and the least-privilege grants for a CRM (writer) and a BI tool (reader). The replay engine's own
statements live in `syncd.db.replay_store`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import structlog
from psycopg import sql
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
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.exc import IntegrityError

from syncd.db.schema import BI_SCHEMA, MIRROR_SCHEMA, STATE_SCHEMA, metadata
from syncd.intent_kinds import INTENT_KINDS, REFUSED, check_intent
from syncd.intent_queue import STATUSES as STATUSES  # declared in a light module: the parser lists them

log = structlog.get_logger(__name__)

KINDS = tuple(INTENT_KINDS)
NOTIFY_CHANNEL = "syncd_intents"

# Per kind, the payload keys (the API request DTO's, in its order) and whether each is required:
# a view of the declaration in syncd.intent_kinds, which the validation trigger is rendered from.
PAYLOADS: dict[str, tuple[tuple[str, bool], ...]] = {
    kind.name: tuple((f.name, f.required) for f in kind.fields) for kind in INTENT_KINDS.values()
}
# What the trigger's refusals start with (SQLSTATE 23514, check_violation).
REFUSED_PREFIX = f"{REFUSED}: "
# The columns a CRM may set; the rest are syncd's bookkeeping (see grant_writer).
WRITABLE_COLUMNS = ("kind", "event_id", "payload", "idempotency_key", "expected_updated_at", "allow_past")

write_intents = Table(
    "write_intents",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True, comment="Order of insertion."),
    Column("kind", Text, nullable=False, comment=f"What to do: {', '.join(KINDS)}."),
    Column("event_id", BigInteger, nullable=False, comment="The SimplyMeet event it applies to."),
    Column(
        "payload",
        JSONB,
        nullable=False,
        server_default=text("'{}'::jsonb"),
        comment="The API request DTO's keys: cancel {reason?}, reschedule {start, end, eventTypeId?, userId?}, "
        "notes {notes}, invite {emails, message?}; {} for no_show, delete, resend_notification.",
    ),
    Column("idempotency_key", Text, unique=True, comment="Optional: the same key twice is one intent."),
    Column(
        "expected_updated_at",
        DateTime(timezone=True),
        comment="Optional conflict guard: fail with reason 'conflict' if the event changed upstream since.",
    ),
    Column(
        "allow_past",
        Boolean,
        nullable=False,
        server_default=text("false"),
        comment="true: a reschedule may start in the past (refused at the INSERT otherwise).",
    ),
    Column(
        "status", Text, nullable=False, server_default="pending", comment=f"One of {', '.join(STATUSES)}."
    ),
    Column("attempts", Integer, nullable=False, server_default="0", comment="Calls made so far."),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column(
        "next_attempt_at",
        DateTime(timezone=True),
        nullable=False,
        server_default=func.now(),
        comment="Not replayed before this instant (backoff after a transient failure).",
    ),
    Column(
        "claimed_pid", Integer, comment="Backend pid of the database session replaying it (in_flight only)."
    ),
    Column(
        "claimed_backend_start",
        DateTime(timezone=True),
        comment="That session's backend_start: together with the pid, names one live session.",
    ),
    Column(
        "sent_at",
        DateTime(timezone=True),
        comment="Recorded (and committed) just before the API call: set and unfinished means in doubt.",
    ),
    Column("finished_at", DateTime(timezone=True), comment="When it became succeeded, failed or withdrawn."),
    Column(
        "failure_reason",
        Text,
        comment="Why it failed: 'rejected' (a 4xx), 'conflict', 'exhausted' (retries used up), 'withdrawn'.",
    ),
    Column("last_error", Text, comment="The API's message, or the transport error, of the last attempt."),
    CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status"),
    schema=STATE_SCHEMA,
    comment="Write intents: local decisions that syncd replays to SimplyMeet, exactly once in effect.",
)

Index("ix_write_intents_due", write_intents.c.next_attempt_at, postgresql_where=text("status = 'pending'"))
Index("ix_write_intents_event", write_intents.c.event_id, write_intents.c.id)
# The claim walks pending intents in id order; without this it walks every finished one too.
Index("ix_write_intents_pending_id", write_intents.c.id, postgresql_where=text("status = 'pending'"))

intent_attempts = Table(
    "intent_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "intent_id",
        BigInteger,
        ForeignKey(write_intents.c.id, ondelete="CASCADE"),
        nullable=False,
        comment="The intent this attempt belongs to.",
    ),
    Column("attempt", Integer, nullable=False, comment="1 for the first call, 2 for the first retry, ..."),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("request", JSONB, comment="Method, path and body sent (never the API key)."),
    Column("status_code", Integer, comment="HTTP status of the answer; NULL when none came."),
    Column("answer_excerpt", Text, comment="The first characters of the answer."),
    Column("duration_ms", Integer),
    Column(
        "outcome",
        Text,
        comment="succeeded, rejected, transient, in_doubt, settled_applied, settled_not_applied, conflict.",
    ),
    Column("error", Text),
    schema=STATE_SCHEMA,
    comment="Every attempt to replay a write intent: the audit trail.",
)

Index("ix_intent_attempts_intent", intent_attempts.c.intent_id, intent_attempts.c.attempt)


# --- errors ---------------------------------------------------------------------------------------


class IntentError(Exception):
    """An operator's request that cannot be done; the message is one line naming what and why."""


class IntentRefused(IntentError):
    """The validation trigger refused the intent: `message` says what, `detail` and `hint` help."""

    def __init__(self, message: str, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message if not detail else f"{message} ({detail})")
        self.message, self.detail, self.hint = message, detail, hint


class IntentNotFound(IntentError):
    pass


class IntentStatusError(IntentError):
    """The intent is not in a status that allows this (retry a pending one, withdraw a sent one)."""


class IdempotencyKeyReused(IntentError):
    """The key already names a different intent: one key, one decision."""


class RoleMissing(IntentError):
    pass


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteIntent:
    id: int
    kind: str
    event_id: int
    payload: dict[str, Any]
    idempotency_key: str | None
    expected_updated_at: dt.datetime | None
    allow_past: bool
    status: str
    attempts: int
    created_at: dt.datetime
    updated_at: dt.datetime
    next_attempt_at: dt.datetime
    sent_at: dt.datetime | None
    finished_at: dt.datetime | None
    failure_reason: str | None
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _INTENT_FIELDS}


_INTENT_FIELDS = tuple(WriteIntent.__dataclass_fields__)
_INTENT_COLUMNS = [write_intents.c[name] for name in _INTENT_FIELDS]


def _intent(row: Any) -> WriteIntent:
    return WriteIntent(**{name: row[name] for name in _INTENT_FIELDS})


def get_intent(conn: Connection, intent_id: int) -> WriteIntent | None:
    row = conn.execute(select(*_INTENT_COLUMNS).where(write_intents.c.id == intent_id)).mappings().first()
    return None if row is None else _intent(row)


def list_intents(conn: Connection, status: str | None = None, limit: int = 50) -> list[WriteIntent]:
    """The newest intents first (optionally of one status): what an operator looks at."""
    if status is not None and status not in STATUSES:
        raise IntentError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
    query = select(*_INTENT_COLUMNS).order_by(write_intents.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(write_intents.c.status == status)
    return [_intent(row) for row in conn.execute(query).mappings()]


# --- writing --------------------------------------------------------------------------------------


def enqueue(
    conn: Connection,
    kind: str,
    event_id: int,
    payload: dict[str, Any],
    idempotency_key: str | None = None,
    expected_updated_at: dt.datetime | None = None,
    *,
    allow_past: bool = False,
    plain_zone: dt.tzinfo | None = None,
) -> int:
    """Insert one intent and return its id; a refusal (Python's, or the trigger's) becomes IntentRefused.

    With an idempotency key already in the queue, returns that intent's id when it is the same
    decision (kind, event, payload) and raises IdempotencyKeyReused when it is not. `plain_zone`:
    the zone of plain date-times, when the caller knows it (see `check_intent`).
    """
    now = conn.execute(select(func.now())).scalar_one()  # the trigger's "now", for the same answer
    refusal = check_intent(
        kind, event_id, payload, idempotency_key, allow_past=allow_past, now=now, plain_zone=plain_zone
    )
    if refusal is not None:
        raise IntentRefused(refusal.message, refusal.detail, refusal.hint)
    statement = (
        insert(write_intents)
        .values(
            kind=kind,
            event_id=event_id,
            payload=payload,
            idempotency_key=idempotency_key,
            expected_updated_at=expected_updated_at,
            allow_past=allow_past,
        )
        .on_conflict_do_nothing(index_elements=[write_intents.c.idempotency_key])
        .returning(write_intents.c.id)
    )
    try:
        with conn.begin_nested():  # a refusal must not spoil the caller's transaction
            inserted = conn.execute(statement).scalar_one_or_none()
    except IntegrityError as exc:
        raise _refusal(exc) from None
    if inserted is not None:
        log.info("intent.enqueued", intent_id=inserted, kind=kind, event_id=event_id)
        return int(inserted)
    existing = conn.execute(
        select(
            write_intents.c.id, write_intents.c.kind, write_intents.c.event_id, write_intents.c.payload
        ).where(write_intents.c.idempotency_key == idempotency_key)
    ).one()
    if (existing.kind, existing.event_id, existing.payload) != (kind, event_id, payload):
        raise IdempotencyKeyReused(
            f"idempotency key {idempotency_key!r} already names intent {existing.id} "
            f"({existing.kind} on event {existing.event_id}), a different decision: use a new key"
        )
    log.info("intent.duplicate", intent_id=existing.id, kind=kind, event_id=event_id)
    return int(existing.id)


def _refusal(exc: IntegrityError) -> IntentError | IntegrityError:
    original = exc.orig
    if isinstance(original, psycopg.errors.CheckViolation):
        diag = original.diag
        message = diag.message_primary or str(original)
        if message.startswith(REFUSED_PREFIX):
            return IntentRefused(message, diag.message_detail, diag.message_hint)
    return exc


def retry(conn: Connection, intent_id: int) -> WriteIntent:
    """A failed intent becomes pending again, due now, with a fresh attempt budget.

    If it was ever sent, the replay reads the event back before sending again (no double invite).

    Only failed ones: a pending or in-flight intent is already on its way, a succeeded one is done,
    a withdrawn one was cancelled on purpose (enqueue it anew). The audit trail keeps every attempt.
    """
    row = (
        conn.execute(
            update(write_intents)
            .where(write_intents.c.id == intent_id, write_intents.c.status == "failed")
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=func.now(),
                finished_at=None,
                failure_reason=None,
                # sent_at stays: a call that may have reached the API is settled by reading back first.
                claimed_pid=None,
                claimed_backend_start=None,
            )
            .returning(*_INTENT_COLUMNS)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _cannot(conn, intent_id, "retry", "only failed intents can be retried")
    log.info("intent.retried", intent_id=intent_id, kind=row["kind"], event_id=row["event_id"])
    return _intent(row)


def withdraw(conn: Connection, intent_id: int) -> WriteIntent:
    """A pending intent will not be replayed: status 'withdrawn', failure_reason 'withdrawn'.

    Only pending ones: an in-flight intent may already have reached the API.
    """
    row = (
        conn.execute(
            update(write_intents)
            .where(write_intents.c.id == intent_id, write_intents.c.status == "pending")
            .values(status="withdrawn", failure_reason="withdrawn", finished_at=func.now())
            .returning(*_INTENT_COLUMNS)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _cannot(conn, intent_id, "withdraw", "only pending intents can be withdrawn")
    log.info("intent.withdrawn", intent_id=intent_id, kind=row["kind"], event_id=row["event_id"])
    return _intent(row)


def _cannot(conn: Connection, intent_id: int, action: str, rule: str) -> IntentError:
    current = get_intent(conn, intent_id)
    if current is None:
        return IntentNotFound(f"there is no intent {intent_id}")
    return IntentStatusError(f"cannot {action} intent {intent_id}: it is {current.status}; {rule}")


# --- least privilege ------------------------------------------------------------------------------


def grant_reader(conn: Connection, role: str) -> list[str]:
    """SELECT on the mirror and on the analysts' views (docs/analytics.md), now and for tables and
    views later migrations add; EXECUTE on the views' functions; nothing in schema syncd.

    Returns what was granted, one line each. The default privileges cover objects created by the
    role running this (the one that runs `syncd db upgrade`).
    """
    mirror, bi = sql.Identifier(MIRROR_SCHEMA), sql.Identifier(BI_SCHEMA)
    grantee = sql.Identifier(_existing_role(conn, role))
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {}, {} TO {}").format(mirror, bi, grantee),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {}, {} TO {}").format(mirror, bi, grantee),
        # A view's caller needs EXECUTE on the functions it calls (PUBLIC has it unless revoked).
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(bi, grantee),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {}, {} GRANT SELECT ON TABLES TO {}").format(
            mirror, bi, grantee
        ),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT EXECUTE ON FUNCTIONS TO {}").format(bi, grantee),
    ]
    return _run_grants(conn, role, "reader", statements)


def grant_writer(conn: Connection, role: str) -> list[str]:
    """INSERT intents (only the columns a CRM decides) and read their status and attempts; nothing else.

    The sequence behind `id` needs USAGE for the default to work. No UPDATE or DELETE: a CRM
    changes its mind with a new intent, or an operator withdraws one.
    """
    grantee = sql.Identifier(_existing_role(conn, role))
    intents = sql.Identifier(STATE_SCHEMA, write_intents.name)
    attempts = sql.Identifier(STATE_SCHEMA, intent_attempts.name)
    sequence = conn.execute(
        text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": f"{STATE_SCHEMA}.{write_intents.name}"}
    ).scalar_one()
    schema_name, sequence_name = str(sequence).split(".", 1)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(STATE_SCHEMA), grantee),
        sql.SQL("GRANT INSERT ({}) ON {} TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, WRITABLE_COLUMNS)), intents, grantee
        ),
        sql.SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(
            sql.Identifier(schema_name.strip('"'), sequence_name.strip('"')), grantee
        ),
        sql.SQL("GRANT SELECT ON {}, {} TO {}").format(intents, attempts, grantee),
    ]
    return _run_grants(conn, role, "writer", statements)


def _existing_role(conn: Connection, role: str) -> str:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if found is None:
        raise RoleMissing(
            f"role {role!r} does not exist: create it first (e.g. CREATE ROLE ... LOGIN), "
            "syncd grants rights but never creates roles"
        )
    return role


def _run_grants(conn: Connection, role: str, grant: str, statements: list[sql.Composed]) -> list[str]:
    # psycopg composes the identifiers (quoting them); the statements run in the caller's transaction.
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    done = []
    with raw.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            done.append(statement.as_string(raw))
    log.info("db.granted", role=role, grant=grant, statements=len(done))
    return done
