"""Write-back: the intent queue, its audit trail, and the triggers that refuse bad intents and announce new ones.

The PL/pgSQL is frozen here, as a migration must be: later changes come as new revisions.
`VALIDATE_FUNCTION` and the trigger texts are module constants so tests can read them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every refusal is SQLSTATE 23514 (check_violation), so a client catches it like a CHECK constraint,
# and starts with this text, so a person reading a log knows at once what refused the row.
REFUSED = "write intent refused"

# Per kind: the payload keys in the API request DTO's order, their type, and whether they are required.
# Optional keys may be absent or JSON null. Keep in step with syncd.db.intents.PAYLOADS.
VALIDATE_FUNCTION = r"""
CREATE FUNCTION syncd.write_intents_validate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    spec jsonb;
    shape text;
    item jsonb;
    key text;
    kind_of text;
    value jsonb;
    element jsonb;
    position integer;
    given text;
    plain_form constant text := '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$';
    iso_form constant text :=
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{1,9})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$';
    email_form constant text := '^[^@\s]+@[^@\s]+\.[^@\s.]+$';
    forms jsonb := '{}';
    instants jsonb := '{}';
    stamp timestamptz;
    local_stamp timestamp;
BEGIN
    spec := CASE NEW.kind
        WHEN 'cancel' THEN '[["reason", "string", false]]'
        WHEN 'reschedule' THEN
            '[["start", "datetime", true], ["end", "datetime", true], ["eventTypeId", "id", false], ["userId", "id", false]]'
        WHEN 'notes' THEN '[["notes", "string", true]]'
        WHEN 'invite' THEN '[["emails", "emails", true], ["message", "string", false]]'
        WHEN 'no_show' THEN '[]'
        WHEN 'delete' THEN '[]'
        WHEN 'resend_notification' THEN '[]'
    END::jsonb;

    IF NEW.kind IS NULL THEN
        RETURN NEW;  -- the NOT NULL constraint says it better
    END IF;
    IF spec IS NULL THEN
        RAISE EXCEPTION '%: unknown kind "%"', 'write intent refused', NEW.kind
            USING ERRCODE = 'check_violation', COLUMN = 'kind', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = 'known kinds: cancel, reschedule, notes, invite, no_show, delete, resend_notification',
                  HINT = 'kind is lower case, with underscores (no_show, resend_notification)';
    END IF;

    IF NEW.event_id IS NOT NULL AND NEW.event_id <= 0 THEN
        RAISE EXCEPTION '%: event_id must be a positive SimplyMeet event id, got %', 'write intent refused',
                NEW.event_id
            USING ERRCODE = 'check_violation', COLUMN = 'event_id', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
    END IF;

    SELECT '{' || coalesce(string_agg(s ->> 0 || CASE WHEN (s ->> 2)::boolean THEN '' ELSE '?' END, ', '), '') || '}'
        INTO shape FROM jsonb_array_elements(spec) AS s;

    IF NEW.payload IS NULL THEN
        RETURN NEW;  -- the NOT NULL constraint says it better
    END IF;
    IF jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION '%: % payload must be a JSON object, got %', 'write intent refused', NEW.kind,
                jsonb_typeof(NEW.payload)
            USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = format('%s takes %s', NEW.kind, shape);
    END IF;

    SELECT k INTO key FROM jsonb_object_keys(NEW.payload) AS k
        WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(spec) AS s WHERE s ->> 0 = k)
        ORDER BY k LIMIT 1;
    IF key IS NOT NULL THEN
        RAISE EXCEPTION '%: % payload has unexpected key "%"', 'write intent refused', NEW.kind, key
            USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA,
                  DETAIL = format('%s takes %s', NEW.kind, shape),
                  HINT = 'keys are the API request DTO''s, in camelCase (eventTypeId, userId)';
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(spec) LOOP
        key := item ->> 0;
        kind_of := item ->> 1;
        value := NEW.payload -> key;
        IF value IS NULL OR jsonb_typeof(value) = 'null' THEN
            IF (item ->> 2)::boolean THEN
                RAISE EXCEPTION '%: % payload is missing "%"', 'write intent refused', NEW.kind, key
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('%s takes %s', NEW.kind, shape);
            END IF;
            CONTINUE;
        END IF;
        given := left(value::text, 60);

        IF kind_of = 'string' AND jsonb_typeof(value) <> 'string' THEN
            RAISE EXCEPTION '%: % payload "%" must be a string, got % %', 'write intent refused', NEW.kind, key,
                    jsonb_typeof(value), given
                USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                      SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('%s takes %s', NEW.kind, shape);

        ELSIF kind_of = 'id' THEN
            IF jsonb_typeof(value) <> 'number' OR value::text !~ '^[0-9]{1,18}$' OR value::text::bigint <= 0 THEN
                RAISE EXCEPTION '%: % payload "%" must be a positive integer, got % %', 'write intent refused',
                        NEW.kind, key, jsonb_typeof(value), given
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('%s takes %s', NEW.kind, shape),
                          HINT = 'a JSON number such as 5, not a string "5"';
            END IF;

        ELSIF kind_of = 'emails' THEN
            IF jsonb_typeof(value) <> 'array' OR jsonb_array_length(value) = 0 THEN
                RAISE EXCEPTION '%: % payload "%" must be a non-empty array of e-mail addresses, got %',
                        'write intent refused', NEW.kind, key, given
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('%s takes %s', NEW.kind, shape),
                          HINT = 'e.g. {"emails": ["ann@example.com"]}';
            END IF;
            FOR element, position IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(value) WITH ORDINALITY AS a(e, o)
            LOOP
                IF jsonb_typeof(element) <> 'string' THEN
                    RAISE EXCEPTION '%: % payload "%[%]" must be a string, got % %', 'write intent refused',
                            NEW.kind, key, position, jsonb_typeof(element), left(element::text, 60)
                        USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                              SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('%s takes %s', NEW.kind, shape);
                END IF;
                IF (element #>> '{}') !~ email_form THEN
                    RAISE EXCEPTION '%: % payload "%[%]" is not an e-mail address: %', 'write intent refused',
                            NEW.kind, key, position, left(element::text, 80)
                        USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                              SCHEMA = TG_TABLE_SCHEMA, DETAIL = 'an address is local@domain.tld, without spaces',
                              HINT = 'one address per array element, no display names ("Ann <ann@x.com>")';
                END IF;
            END LOOP;

        ELSIF kind_of = 'datetime' THEN
            IF jsonb_typeof(value) <> 'string' THEN
                RAISE EXCEPTION '%: % payload "%" must be a date-time string, got % %', 'write intent refused',
                        NEW.kind, key, jsonb_typeof(value), given
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA,
                          HINT = 'Y-m-d H:i:s (e.g. 2026-03-01 10:00:00) or ISO 8601 with an offset (2026-03-01T10:00:00+01:00)';
            END IF;
            given := value #>> '{}';
            IF given ~ plain_form THEN
                forms := forms || jsonb_build_object(key, 'plain');
            ELSIF given ~ iso_form THEN
                forms := forms || jsonb_build_object(key, 'iso');
            ELSE
                RAISE EXCEPTION '%: % payload "%" is not a date-time: "%"', 'write intent refused', NEW.kind, key,
                        left(given, 60)
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA,
                          DETAIL = 'accepted: Y-m-d H:i:s (in the zone syncd sends, UTC by default) or ISO 8601 with an offset or Z',
                          HINT = 'e.g. 2026-03-01 10:00:00 or 2026-03-01T10:00:00+01:00';
            END IF;
            -- The casts below would roll hour 24 and second 60 over to the next day; the API's readers refuse them.
            IF substr(given, 12, 2)::integer > 23 OR substr(given, 15, 2)::integer > 59
                    OR substr(given, 18, 2)::integer > 59 THEN
                RAISE EXCEPTION '%: % payload "%" is not a valid time of day: "%"', 'write intent refused',
                        NEW.kind, key, left(given, 60)
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA, DETAIL = 'hours 00-23, minutes and seconds 00-59';
            END IF;
            BEGIN
                IF forms ->> key = 'plain' THEN
                    local_stamp := given::timestamp;
                    instants := instants || jsonb_build_object(key, extract(epoch FROM local_stamp));
                ELSE
                    stamp := upper(replace(given, ',', '.'))::timestamptz;
                    instants := instants || jsonb_build_object(key, extract(epoch FROM stamp));
                END IF;
            EXCEPTION WHEN data_exception THEN
                RAISE EXCEPTION '%: % payload "%" is not a real date-time: "%"', 'write intent refused', NEW.kind,
                        key, left(given, 60)
                    USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                          SCHEMA = TG_TABLE_SCHEMA, DETAIL = format('PostgreSQL says: %s', SQLERRM);
            END;
        END IF;
    END LOOP;

    IF NEW.kind = 'reschedule' THEN
        IF forms ->> 'start' <> forms ->> 'end' THEN
            RAISE EXCEPTION '%: reschedule payload "start" and "end" must use the same form', 'write intent refused'
                USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                      SCHEMA = TG_TABLE_SCHEMA,
                      DETAIL = format('start is %s, end is %s', NEW.payload ->> 'start', NEW.payload ->> 'end'),
                      HINT = 'both Y-m-d H:i:s, or both ISO 8601 with an offset: a plain time''s zone is syncd''s setting';
        END IF;
        IF (instants ->> 'end')::numeric <= (instants ->> 'start')::numeric THEN
            RAISE EXCEPTION '%: reschedule payload "end" must be after "start"', 'write intent refused'
                USING ERRCODE = 'check_violation', COLUMN = 'payload', TABLE = TG_TABLE_NAME,
                      SCHEMA = TG_TABLE_SCHEMA,
                      DETAIL = format('start is %s, end is %s', NEW.payload ->> 'start', NEW.payload ->> 'end');
        END IF;
    END IF;
    RETURN NEW;
END
$fn$
"""

NOTIFY_FUNCTION = r"""
CREATE FUNCTION syncd.write_intents_notify() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- A wake-up only, delivered at commit: the replay engine polls as a backstop.
    PERFORM pg_notify('syncd_intents', NEW.id::text);
    RETURN NULL;
END
$fn$
"""

TOUCH_FUNCTION = r"""
CREATE FUNCTION syncd.write_intents_touch() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$
"""

TRIGGERS = (
    "CREATE TRIGGER write_intents_validate BEFORE INSERT OR UPDATE OF kind, payload, event_id "
    "ON syncd.write_intents FOR EACH ROW EXECUTE FUNCTION syncd.write_intents_validate()",
    "CREATE TRIGGER write_intents_notify_insert AFTER INSERT ON syncd.write_intents "
    "FOR EACH ROW WHEN (NEW.status = 'pending') EXECUTE FUNCTION syncd.write_intents_notify()",
    "CREATE TRIGGER write_intents_notify_pending AFTER UPDATE OF status ON syncd.write_intents "
    "FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending') "
    "EXECUTE FUNCTION syncd.write_intents_notify()",
    "CREATE TRIGGER write_intents_touch BEFORE UPDATE ON syncd.write_intents "
    "FOR EACH ROW EXECUTE FUNCTION syncd.write_intents_touch()",
)

_STATUSES = ("pending", "in_flight", "succeeded", "failed", "withdrawn")
_KINDS = ("cancel", "reschedule", "notes", "invite", "no_show", "delete", "resend_notification")


def upgrade() -> None:
    op.create_table(
        "write_intents",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False, comment="Order of insertion."),
        sa.Column("kind", sa.Text(), nullable=False, comment=f"What to do: {', '.join(_KINDS)}."),
        sa.Column("event_id", sa.BigInteger(), nullable=False, comment="The SimplyMeet event it applies to."),
        sa.Column(
            "payload",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
            comment="The API request DTO's keys: cancel {reason?}, reschedule {start, end, eventTypeId?, userId?}, "
            "notes {notes}, invite {emails, message?}; {} for no_show, delete, resend_notification.",
        ),
        sa.Column(
            "idempotency_key", sa.Text(), nullable=True, comment="Optional: the same key twice is one intent."
        ),
        sa.Column(
            "expected_updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Optional conflict guard: fail with reason 'conflict' if the event changed upstream since.",
        ),
        sa.Column(
            "status",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment=f"One of {', '.join(_STATUSES)}.",
        ),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False, comment="Calls made so far."),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Not replayed before this instant (backoff after a transient failure).",
        ),
        sa.Column(
            "claimed_pid",
            sa.Integer(),
            nullable=True,
            comment="Backend pid of the database session replaying it (in_flight only).",
        ),
        sa.Column(
            "claimed_backend_start",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="That session's backend_start: together with the pid, names one live session.",
        ),
        sa.Column(
            "sent_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Recorded (and committed) just before the API call: set and unfinished means in doubt.",
        ),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it became succeeded, failed or withdrawn.",
        ),
        sa.Column(
            "failure_reason",
            sa.Text(),
            nullable=True,
            comment="Why it failed: 'rejected' (a 4xx), 'conflict', 'exhausted' (retries used up), 'withdrawn'.",
        ),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="The API's message, or the transport error, of the last attempt.",
        ),
        sa.CheckConstraint(
            f"status IN ({', '.join(repr(s) for s in _STATUSES)})", name=op.f("ck_write_intents_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_intents")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_write_intents_idempotency_key")),
        schema="syncd",
        comment="Write intents: local decisions that syncd replays to SimplyMeet, exactly once in effect.",
    )
    op.create_index(
        "ix_write_intents_due",
        "write_intents",
        ["next_attempt_at"],
        unique=False,
        schema="syncd",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_write_intents_event", "write_intents", ["event_id", "id"], unique=False, schema="syncd"
    )
    op.create_table(
        "intent_attempts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column(
            "intent_id", sa.BigInteger(), nullable=False, comment="The intent this attempt belongs to."
        ),
        sa.Column(
            "attempt",
            sa.Integer(),
            nullable=False,
            comment="1 for the first call, 2 for the first retry, ...",
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "request",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Method, path and body sent (never the API key).",
        ),
        sa.Column(
            "status_code",
            sa.Integer(),
            nullable=True,
            comment="HTTP status of the answer; NULL when none came.",
        ),
        sa.Column("answer_excerpt", sa.Text(), nullable=True, comment="The first characters of the answer."),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Text(),
            nullable=True,
            comment="succeeded, rejected, transient, in_doubt, settled_applied, settled_not_applied, conflict.",
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["intent_id"],
            ["syncd.write_intents.id"],
            name=op.f("fk_intent_attempts_intent_id_write_intents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intent_attempts")),
        schema="syncd",
        comment="Every attempt to replay a write intent: the audit trail.",
    )
    op.create_index(
        "ix_intent_attempts_intent", "intent_attempts", ["intent_id", "attempt"], unique=False, schema="syncd"
    )
    # Straight to the driver: text() would read `:name` in the PL/pgSQL as bind parameters.
    bind = op.get_bind()
    for statement in (VALIDATE_FUNCTION, NOTIFY_FUNCTION, TOUCH_FUNCTION, *TRIGGERS):
        bind.exec_driver_sql(statement, execution_options={"no_parameters": True})


def downgrade() -> None:
    op.drop_index("ix_intent_attempts_intent", table_name="intent_attempts", schema="syncd")
    op.drop_table("intent_attempts", schema="syncd")
    op.drop_index("ix_write_intents_event", table_name="write_intents", schema="syncd")
    op.drop_index(
        "ix_write_intents_due",
        table_name="write_intents",
        schema="syncd",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("write_intents", schema="syncd")  # its triggers go with it
    for function in ("write_intents_touch", "write_intents_notify", "write_intents_validate"):
        op.execute(f"DROP FUNCTION syncd.{function}()")
