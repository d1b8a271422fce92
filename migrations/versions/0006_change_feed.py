"""The change feed: `syncd.changes`, `simplymeet.event_history`, and the triggers that write both.

Statement-level AFTER triggers with transition tables on every top-level mirror table record each
insert, update and deletion mark in `syncd.changes`, in the transaction that applied it, and end with
`NOTIFY syncd_changes`; on `simplymeet.events` two more keep `event_history` (one row per version).
A write that changed neither `raw` nor `deleted_at` records nothing. Events already mirrored get
their current version in `event_history` here.

The PL/pgSQL is frozen here, as a migration must be: later changes come as new revisions. The table
list is the resources of this revision (a test checks every resource has its triggers).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Mirror table: (the object name that prefixes its kinds, its key columns).
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "users": ("user", ("id",)),
    "organizations": ("organization", ("id",)),
    "event_types": ("event_type", ("id",)),
    "event_type_tags": ("event_type_tag", ("event_type_id", "id")),
    "event_type_availability": ("event_type_availability", ("event_type_id", "date")),
    "user_event_type_tags": ("user_event_type_tag", ("id",)),
    "polls": ("poll", ("id",)),
    "events": ("event", ("id",)),
    "cancellation_policies": ("cancellation_policy", ("type",)),
    "acl_rules": ("acl_rule", ("resource",)),
    "integrations": ("integration", ("scope", "key")),
}
HISTORY_META = ("version_id", "valid_from", "valid_to", "recorded_at")

FUNCTIONS = r"""
CREATE FUNCTION syncd.change_origin() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(nullif(current_setting('syncd.origin', true), ''), 'sync')
$fn$;

-- {"field": {"old": ..., "new": ...}} for every top-level key whose value differs.
CREATE FUNCTION syncd.jsonb_diff(old jsonb, new jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT coalesce(jsonb_object_agg(key, jsonb_build_object('old', old -> key, 'new', new -> key)), '{}')
    FROM (
        SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(old) = 'object' THEN old ELSE '{}' END)
        UNION
        SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(new) = 'object' THEN new ELSE '{}' END)
    ) AS keys(key)
    WHERE (old -> key) IS DISTINCT FROM (new -> key)
$fn$;

-- What an update of an event was, most specific first (the generic event.updated is not listed).
CREATE FUNCTION syncd.event_change_kinds(old jsonb, new jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT array_remove(ARRAY[
        CASE WHEN new ->> 'state' = 'canceled' AND (old ->> 'state') IS DISTINCT FROM 'canceled'
             THEN 'event.cancelled' END,
        CASE WHEN new ->> 'state' = 'no_show' AND (old ->> 'state') IS DISTINCT FROM 'no_show'
             THEN 'event.no_show' END,
        CASE WHEN (old -> 'scheduledAt') IS DISTINCT FROM (new -> 'scheduledAt')
               OR (old -> 'endDate') IS DISTINCT FROM (new -> 'endDate')
             THEN 'event.rescheduled' END,
        CASE WHEN EXISTS (
                SELECT 1
                FROM jsonb_array_elements(CASE WHEN jsonb_typeof(new -> 'participants') = 'array'
                                               THEN new -> 'participants' ELSE '[]' END) AS added(item)
                WHERE NOT EXISTS (
                    SELECT 1
                    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(old -> 'participants') = 'array'
                                                   THEN old -> 'participants' ELSE '[]' END) AS known(item)
                    -- The same participant when the email is the same (else the whole object).
                    WHERE coalesce(nullif(known.item -> 'email', 'null'), known.item)
                        = coalesce(nullif(added.item -> 'email', 'null'), added.item)
                ))
             THEN 'event.participants_added' END,
        CASE WHEN (old -> 'notes') IS DISTINCT FROM (new -> 'notes') THEN 'event.notes_changed' END
    ], NULL)
$fn$;

-- AFTER INSERT / AFTER UPDATE ... FOR EACH STATEMENT on a mirror table, with transition tables.
-- TG_ARGV[0]: the object name (the kinds' prefix); TG_ARGV[1]: the key columns, comma-separated.
CREATE FUNCTION syncd.record_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    object_name constant text := TG_ARGV[0];
    object_id text;   -- SQL: the key as text, composite keys joined with '/'
    sort_key text;    -- SQL: the key columns of n
    key_list text;    -- the key columns, for USING (...)
    domain text;      -- SQL: the domain kinds of an update
    newest bigint;
BEGIN
    SELECT 'concat_ws(''/'', ' || string_agg(format('n.%I', c), ', ') || ')',
           string_agg(format('n.%I', c), ', '),
           string_agg(format('%I', c), ', ')
      INTO object_id, sort_key, key_list
      FROM unnest(string_to_array(TG_ARGV[1], ',')) AS c;
    IF TG_OP = 'INSERT' THEN
        EXECUTE format($q$
            WITH written AS (
                INSERT INTO syncd.changes (occurred_at, resource, object_id, kind, kinds, fields, data, origin)
                SELECT n.synced_at, %1$L, %2$s, %3$L, ARRAY[%3$L], NULL, t.raw, syncd.change_origin()
                FROM new_rows AS n JOIN %5$I.%1$I AS t USING (%6$s)
                ORDER BY %4$s
                RETURNING id)
            SELECT max(id) FROM written $q$,
            TG_TABLE_NAME, object_id, object_name || '.created', sort_key, TG_TABLE_SCHEMA, key_list)
        INTO newest;
    ELSE
        domain := CASE WHEN object_name = 'event' THEN 'syncd.event_change_kinds(old_raw, new_raw)'
                       ELSE '''{}''::text[]' END;
        EXECUTE format($q$
            WITH pairs AS (
                SELECT o.raw AS old_raw, t.raw AS new_raw, n.synced_at, n.deleted_at,
                       %2$s AS object_id, ROW(%4$s) AS sort_key,
                       CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'deleted'
                            WHEN o.deleted_at IS NOT NULL AND n.deleted_at IS NULL THEN 'created'
                            WHEN n.deleted_at IS NULL AND o.raw IS DISTINCT FROM n.raw THEN 'updated'
                       END AS what
                FROM old_rows AS o JOIN new_rows AS n USING (%5$s) JOIN %7$I.%1$I AS t USING (%5$s)
            ), typed AS (
                SELECT *, CASE WHEN what = 'updated' THEN %3$s ELSE '{}'::text[] END AS domain
                FROM pairs
                WHERE what IS NOT NULL
            ), written AS (
                INSERT INTO syncd.changes (occurred_at, resource, object_id, kind, kinds, fields, data, origin)
                SELECT CASE WHEN what = 'deleted' THEN deleted_at ELSE synced_at END,
                       %1$L,
                       object_id,
                       coalesce(domain[1], %6$L || '.' || what),
                       ARRAY[%6$L || '.' || what] || domain,
                       CASE WHEN what <> 'deleted'
                            THEN nullif(syncd.jsonb_diff(old_raw, new_raw), '{}') END,
                       new_raw,
                       syncd.change_origin()
                FROM typed
                ORDER BY sort_key
                RETURNING id)
            SELECT max(id) FROM written $q$,
            TG_TABLE_NAME, object_id, domain, sort_key, key_list, object_name, TG_TABLE_SCHEMA)
        INTO newest;
    END IF;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('syncd_changes', newest::text);
    END IF;
    RETURN NULL;
END
$fn$;
"""

# The history function names every column of event_history: read from the new table at upgrade time.
HISTORY_FUNCTION = r"""
CREATE FUNCTION syncd.record_event_history() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO simplymeet.event_history ({columns}, valid_from, valid_to, recorded_at)
        SELECT {n_columns}, least(coalesce(n.updated_at, n.synced_at), n.synced_at), NULL, n.synced_at
        FROM new_rows AS n JOIN simplymeet.events AS t USING (id)
        WHERE n.deleted_at IS NULL;
    ELSE
        WITH changed AS (
            SELECT n.*, t.raw AS stored_raw, o.deleted_at IS NOT NULL AS was_deleted
            FROM old_rows AS o JOIN new_rows AS n USING (id) JOIN simplymeet.events AS t USING (id)
            WHERE o.raw IS DISTINCT FROM n.raw OR o.deleted_at IS DISTINCT FROM n.deleted_at
        ), closed AS (
            -- The open version ends where the next begins: the API's updatedAt when it is later than
            -- the version's start and not in the future, else when syncd saw the change.
            UPDATE simplymeet.event_history AS h
            SET valid_to = CASE
                    WHEN c.deleted_at IS NOT NULL THEN greatest(c.deleted_at, h.valid_from)
                    WHEN c.updated_at > h.valid_from AND c.updated_at <= c.synced_at THEN c.updated_at
                    ELSE greatest(c.synced_at, h.valid_from)
                END
            FROM changed AS c
            WHERE h.id = c.id AND h.valid_to IS NULL
            RETURNING h.id, h.valid_to
        )
        INSERT INTO simplymeet.event_history ({columns}, valid_from, valid_to, recorded_at)
        SELECT {c_columns},
               coalesce(closed.valid_to,
                        CASE WHEN c.was_deleted THEN c.synced_at
                             ELSE least(coalesce(c.updated_at, c.synced_at), c.synced_at) END),
               NULL,
               c.synced_at
        FROM changed AS c LEFT JOIN closed USING (id)
        WHERE c.deleted_at IS NULL;
    END IF;
    RETURN NULL;
END
$fn$;
"""

SEED_HISTORY = """
INSERT INTO simplymeet.event_history ({columns}, valid_from, valid_to, recorded_at)
SELECT {s_columns}, least(coalesce(n.updated_at, n.synced_at), n.synced_at), NULL, n.synced_at
FROM simplymeet.events AS n
WHERE n.deleted_at IS NULL
"""

HISTORY_TRIGGERS = (
    "CREATE TRIGGER history_insert AFTER INSERT ON simplymeet.events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_event_history()",
    "CREATE TRIGGER history_update AFTER UPDATE ON simplymeet.events "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_event_history()",
)
DROPPED_FUNCTIONS = (
    "record_event_history()",
    "record_changes()",
    "event_change_kinds(jsonb, jsonb)",
    "jsonb_diff(jsonb, jsonb)",
    "change_origin()",
)


def change_triggers(table: str, object_name: str, key: tuple[str, ...]) -> list[str]:
    args = f"'{object_name}', '{','.join(key)}'"
    return [
        f"CREATE TRIGGER changes_insert AFTER INSERT ON simplymeet.{table} "
        f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_changes({args})",
        f"CREATE TRIGGER changes_update AFTER UPDATE ON simplymeet.{table} "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_changes({args})",
    ]


def _history_sql(template: str) -> str:
    names = op.get_bind().exec_driver_sql(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'simplymeet' AND table_name = 'event_history' ORDER BY ordinal_position"
    )
    columns = [f'"{name}"' for (name,) in names if name not in HISTORY_META]
    # `raw` is read from the table, where it is stored compressed already (the transition tables
    # hold it decompressed: copying it from there would compress it once more).
    return template.format(
        columns=", ".join(columns),
        s_columns=", ".join(f"n.{c}" for c in columns),
        n_columns=", ".join("t.raw" if c == '"raw"' else f"n.{c}" for c in columns),
        c_columns=", ".join("c.stored_raw" if c == '"raw"' else f"c.{c}" for c in columns),
    )


def upgrade() -> None:
    op.create_table(
        "event_history",
        sa.Column(
            "version_id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="This version's own id.",
        ),
        sa.Column("id", sa.BigInteger(), nullable=False, comment="EventDTO.id: Event ID"),
        sa.Column("uuid", sa.Text(), nullable=True, comment="EventDTO.uuid: Event UUID"),
        sa.Column(
            "user_id", sa.BigInteger(), nullable=True, comment="EventDTO.user.id: Event owner (UserDTO)"
        ),
        sa.Column(
            "event_type_id",
            sa.BigInteger(),
            nullable=True,
            comment="EventDTO.eventType.id: Event type (EventTypeDTO)",
        ),
        sa.Column(
            "invitee_id",
            sa.BigInteger(),
            nullable=True,
            comment="InviteeDTO.invitee.id: The unique identifier of the invitee.",
        ),
        sa.Column(
            "invitee_email",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.email: The email address of the invitee.",
        ),
        sa.Column(
            "invitee_full_name",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.fullName: The full name of the invitee.",
        ),
        sa.Column(
            "invitee_timezone",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.timezone: The timezone of the invitee.",
        ),
        sa.Column(
            "invitee_phone_number",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.phoneNumber: The phone number of the invitee.",
        ),
        sa.Column(
            "invitee_locale",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.locale: The locale of the invitee.",
        ),
        sa.Column(
            "invitee_cancellation_policy",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.cancellationPolicy: The cancellation policy of the invitee.",
        ),
        sa.Column(
            "invitee_uuid",
            sa.Text(),
            nullable=True,
            comment="InviteeDTO.invitee.uuid: The UUID of the invitee",
        ),
        sa.Column(
            "cancellation_id",
            sa.BigInteger(),
            nullable=True,
            comment="CancellationDTO.cancellation.id: The unique identifier of the cancellation.",
        ),
        sa.Column(
            "cancellation_canceler",
            sa.Text(),
            nullable=True,
            comment="CancellationDTO.cancellation.canceler: The user of the cancellation.",
        ),
        sa.Column(
            "cancellation_reason",
            sa.Text(),
            nullable=True,
            comment="CancellationDTO.cancellation.reason: The reason of the cancellation.",
        ),
        sa.Column(
            "payment_provider", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.provider: provider"
        ),
        sa.Column(
            "payment_amount", sa.Numeric(), nullable=True, comment="EventPaymentDTO.payment.amount: amount"
        ),
        sa.Column(
            "payment_currency", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.currency: currency"
        ),
        sa.Column(
            "payment_status", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.status: status"
        ),
        sa.Column(
            "payment_system", sa.Text(), nullable=True, comment="EventPaymentDTO.payment.system: system"
        ),
        sa.Column(
            "payment_reference_id",
            sa.BigInteger(),
            nullable=True,
            comment="EventPaymentDTO.payment.referenceId: referenceId",
        ),
        sa.Column(
            "payment_overwrite_personal",
            sa.Boolean(),
            nullable=True,
            comment="EventPaymentDTO.payment.overwritePersonal: overwritePersonal",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.createdAt: When the event was created.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.updatedAt: When the event was last updated.",
        ),
        sa.Column(
            "scheduled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.scheduledAt: When the event is scheduled (its start).",
        ),
        sa.Column(
            "end_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.endDate: When the event ends.",
        ),
        sa.Column(
            "canceled_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventDTO.canceledAt: When the event was canceled.",
        ),
        sa.Column("state", sa.Text(), nullable=True, comment="EventDTO.state: Event state"),
        sa.Column("notes", sa.Text(), nullable=True, comment="EventDTO.notes: Event notes"),
        sa.Column("details", sa.Text(), nullable=True, comment="EventDTO.details: Event details"),
        sa.Column("location", sa.Text(), nullable=True, comment="EventDTO.location: Event location"),
        sa.Column(
            "location_type", sa.Text(), nullable=True, comment="EventDTO.locationType: Event location type"
        ),
        sa.Column(
            "online_event_id", sa.Text(), nullable=True, comment="EventDTO.onlineEventId: Online event ID"
        ),
        sa.Column(
            "sent_email_reminder",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.sentEmailReminder: Sent email reminder",
        ),
        sa.Column(
            "last_sent_invitee_email_reminder",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.lastSentInviteeEmailReminder: Last sent invitee email reminder",
        ),
        sa.Column(
            "last_sent_invitee_email_follow_up",
            sa.Integer(),
            nullable=True,
            comment="EventDTO.lastSentInviteeEmailFollowUp: Last sent invitee email follow up",
        ),
        sa.Column("duration", sa.Integer(), nullable=True, comment="EventDTO.duration: Event duration"),
        sa.Column(
            "related_event_ids",
            sa.ARRAY(sa.BigInteger()),
            nullable=True,
            comment="EventDTO.relatedEventIds: Related event IDs",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="EventDTO.name: Event name"),
        sa.Column("description", sa.Text(), nullable=True, comment="EventDTO.description: Event description"),
        sa.Column(
            "raw",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The object exactly as the API answered it.",
        ),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="From when this version was true: the API's updatedAt when it is later than the previous version's start and not in the future, else when syncd saw the change.",
        ),
        sa.Column(
            "valid_to",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Until when (exclusive): the next version's valid_from, or when the event was found deleted; NULL for the current version.",
        ),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When syncd wrote this version.",
        ),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_event_history")),
        schema="simplymeet",
        comment="Every version of every event (a type 2 slowly changing dimension): the event as it was between valid_from and valid_to. As of a time T: valid_from <= T AND (valid_to IS NULL OR T < valid_to).",
    )
    op.create_index(
        "ix_event_history_current",
        "event_history",
        ["id"],
        unique=True,
        schema="simplymeet",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index(
        "ix_event_history_id_valid_from",
        "event_history",
        ["id", "valid_from"],
        unique=False,
        schema="simplymeet",
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False, comment="Feed order."),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When syncd applied it (the row's synced_at; deleted_at for a deletion).",
        ),
        sa.Column("resource", sa.Text(), nullable=False, comment="The mirror table: events, users, ..."),
        sa.Column(
            "object_id", sa.Text(), nullable=False, comment="The row's key; a composite key joined with '/'."
        ),
        sa.Column(
            "kind",
            sa.Text(),
            nullable=False,
            comment="The most specific kind: event.cancelled, user.updated, ...",
        ),
        sa.Column(
            "kinds",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            comment="Every kind that applies, the generic one first ({event.updated,event.rescheduled}).",
        ),
        sa.Column(
            "fields",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment='Updates: {"apiField": {"old": ..., "new": ...}} over the top-level fields of raw.',
        ),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="The object as the API answered it after the change (a deletion: the last one known).",
        ),
        sa.Column(
            "origin",
            sa.Text(),
            nullable=False,
            comment="Who applied it: 'sync', or 'replay:<intent ids>' for a write-back's read-back.",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
        schema="syncd",
        comment="The change feed: every change applied to a top-level mirror row, written by triggers in the same transaction (announced with NOTIFY syncd_changes).",
    )
    op.create_index(
        "ix_changes_resource_object_id",
        "changes",
        ["resource", "object_id", "id"],
        unique=False,
        schema="syncd",
    )
    op.execute(FUNCTIONS)
    op.execute(_history_sql(HISTORY_FUNCTION))
    for table, (object_name, key) in TABLES.items():
        for statement in change_triggers(table, object_name, key):
            op.execute(statement)
    for statement in HISTORY_TRIGGERS:
        op.execute(statement)
    op.execute(_history_sql(SEED_HISTORY))


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER changes_insert ON simplymeet.{table}")
        op.execute(f"DROP TRIGGER changes_update ON simplymeet.{table}")
    op.execute("DROP TRIGGER history_insert ON simplymeet.events")
    op.execute("DROP TRIGGER history_update ON simplymeet.events")
    for function in DROPPED_FUNCTIONS:
        op.execute(f"DROP FUNCTION syncd.{function}")
    op.drop_index("ix_changes_resource_object_id", table_name="changes", schema="syncd")
    op.drop_table("changes", schema="syncd")
    op.drop_index("ix_event_history_id_valid_from", table_name="event_history", schema="simplymeet")
    op.drop_index(
        "ix_event_history_current",
        table_name="event_history",
        schema="simplymeet",
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.drop_table("event_history", schema="simplymeet")
