"""Each version of an event's JSON stored once: `event_history` and `changes` become views.

Until now every event's JSON was kept three times: `simplymeet.events.raw`, the open version's row in
`simplymeet.event_history` (raw and every typed column again) and `syncd.changes.data`. From here:

- the versions live in `syncd.event_versions`. A closed version's row holds the event as it was
  (typed columns and raw, filled from the trigger's `old_rows` when the version closes); the open
  version's row is a skeleton (its id, valid_from, recorded_at; raw NULL) whose columns are the
  events row itself. A physical DELETE of an events row fills its open skeleton first.
- `simplymeet.event_history` is a view over it with the same columns as the table it replaces: the
  open version's columns come from `simplymeet.events`.
- the feed's rows live in `syncd.change_log`; an event's change names its version (`version_id`)
  instead of copying the JSON (`data` NULL), and `syncd.changes` is a view with the same columns
  as the table it replaces, `data` resolved through the version. Other resources keep their copy.
- the events' two history triggers and two feed triggers become one pair (`changes_insert`,
  `changes_update`, one function): the versions are written first, then the feed rows naming them,
  in the statement that applied the change, ending with the same NOTIFY.

Existing rows are kept: open versions become skeletons (their columns are the events row's), and
change rows recorded before keep their `data`. Grants held on the two tables are given on the views.
The SQL (views and functions) is generated from the tables' columns at upgrade time and frozen here.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HISTORY_META = ("version_id", "valid_from", "valid_to", "recorded_at")
CHANGE_COLUMNS = ("id", "occurred_at", "resource", "object_id", "kind", "kinds", "fields", "data", "origin")

# The events' feed and history, one statement trigger per operation. TG_ARGV is kept ('event', 'id')
# so the triggers read like every other resource's; this function knows it serves events.
EVENT_FUNCTION = r"""
CREATE FUNCTION syncd.record_event_changes() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    newest bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH opened AS (
            INSERT INTO syncd.event_versions (id, valid_from, valid_to, recorded_at)
            SELECT n.id, least(coalesce(n.updated_at, n.synced_at), n.synced_at), NULL, n.synced_at
            FROM new_rows AS n
            WHERE n.deleted_at IS NULL
            RETURNING id, version_id
        ), written AS (
            INSERT INTO syncd.change_log
                (occurred_at, resource, object_id, kind, kinds, fields, data, version_id, origin)
            SELECT n.synced_at, 'events', n.id::text, 'event.created', ARRAY['event.created'], NULL,
                   CASE WHEN v.version_id IS NULL THEN n.raw END, v.version_id, syncd.change_origin()
            FROM new_rows AS n LEFT JOIN opened AS v USING (id)
            ORDER BY n.id
            RETURNING id)
        SELECT max(id) FROM written INTO newest;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH pairs AS (
            SELECT n.id, n.synced_at, n.deleted_at, n.updated_at, o.deleted_at IS NOT NULL AS was_deleted,
                   o.raw AS old_raw, n.raw AS new_raw,
                   o.raw IS DISTINCT FROM n.raw AS raw_changed
            FROM old_rows AS o JOIN new_rows AS n USING (id)
        ), changed AS (
            SELECT *,
                   CASE WHEN NOT was_deleted AND deleted_at IS NOT NULL THEN 'deleted'
                        WHEN was_deleted AND deleted_at IS NULL THEN 'created'
                        WHEN deleted_at IS NULL AND raw_changed THEN 'updated'
                   END AS what
            FROM pairs
            WHERE raw_changed OR was_deleted <> (deleted_at IS NOT NULL)
        ), closed AS (
            -- The open version ends where the next begins: the API's updatedAt when it is later than
            -- the version's start and not in the future, else when syncd saw the change. It is
            -- filled with the event as it was (old_rows holds raw as stored: not compressed again).
            UPDATE syncd.event_versions AS h
            SET valid_to = CASE
                    WHEN c.deleted_at IS NOT NULL THEN greatest(c.deleted_at, h.valid_from)
                    WHEN c.updated_at > h.valid_from AND c.updated_at <= c.synced_at THEN c.updated_at
                    ELSE greatest(c.synced_at, h.valid_from)
                END,
                ({columns}) = ({o_columns})
            FROM changed AS c JOIN old_rows AS o USING (id)
            WHERE h.id = c.id AND h.valid_to IS NULL
            RETURNING h.id, h.version_id, h.valid_to
        ), opened AS (
            INSERT INTO syncd.event_versions (id, valid_from, valid_to, recorded_at)
            SELECT c.id,
                   coalesce(closed.valid_to,
                            CASE WHEN c.was_deleted THEN c.synced_at
                                 ELSE least(coalesce(c.updated_at, c.synced_at), c.synced_at) END),
                   NULL,
                   c.synced_at
            FROM changed AS c LEFT JOIN closed USING (id)
            WHERE c.deleted_at IS NULL
            RETURNING id, version_id
        ), typed AS (
            SELECT c.*, CASE WHEN what = 'updated' THEN syncd.event_change_kinds(old_raw, new_raw)
                             ELSE '{{}}'::text[] END AS domain,
                   -- A deletion names the version it closed (the last one known); else the new one.
                   CASE WHEN what = 'deleted' AND NOT raw_changed THEN closed.version_id
                        WHEN what <> 'deleted' THEN opened.version_id END AS version_id
            FROM changed AS c LEFT JOIN closed USING (id) LEFT JOIN opened USING (id)
            WHERE what IS NOT NULL
        ), written AS (
            INSERT INTO syncd.change_log
                (occurred_at, resource, object_id, kind, kinds, fields, data, version_id, origin)
            SELECT CASE WHEN what = 'deleted' THEN deleted_at ELSE synced_at END,
                   'events',
                   id::text,
                   coalesce(domain[1], 'event.' || what),
                   ARRAY['event.' || what] || domain,
                   CASE WHEN what <> 'deleted' THEN nullif(syncd.jsonb_diff(old_raw, new_raw), '{{}}') END,
                   CASE WHEN version_id IS NULL THEN new_raw END,
                   version_id,
                   syncd.change_origin()
            FROM typed
            ORDER BY id
            RETURNING id)
        SELECT max(id) FROM written INTO newest;
    ELSE
        -- A row deleted outright (syncd only marks deletions): its open version keeps its columns.
        UPDATE syncd.event_versions AS h
        SET ({columns}) = ({o_columns})
        FROM old_rows AS o
        WHERE h.id = o.id AND h.valid_to IS NULL AND h.raw IS NULL;
    END IF;
    IF newest IS NOT NULL THEN
        PERFORM pg_notify('syncd_changes', newest::text);
    END IF;
    RETURN NULL;
END
$fn$;
"""

EVENT_TRIGGERS = (
    "CREATE TRIGGER changes_insert AFTER INSERT ON simplymeet.events "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION syncd.record_event_changes('event', 'id')",
    "CREATE TRIGGER changes_update AFTER UPDATE ON simplymeet.events "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION syncd.record_event_changes('event', 'id')",
    "CREATE TRIGGER history_delete AFTER DELETE ON simplymeet.events "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION syncd.record_event_changes('event', 'id')",
)

# The generic feed function of 0006, now writing syncd.change_log (same body otherwise).
RECORD_CHANGES = r"""
CREATE OR REPLACE FUNCTION syncd.record_changes() RETURNS trigger
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
                INSERT INTO syncd.{log} (occurred_at, resource, object_id, kind, kinds, fields, data, origin)
                SELECT n.synced_at, %1$L, %2$s, %3$L, ARRAY[%3$L], NULL, t.raw, syncd.change_origin()
                FROM new_rows AS n JOIN %5$I.%1$I AS t USING (%6$s)
                ORDER BY %4$s
                RETURNING id)
            SELECT max(id) FROM written $q$,
            TG_TABLE_NAME, object_id, object_name || '.created', sort_key, TG_TABLE_SCHEMA, key_list)
        INTO newest;
    ELSE
        domain := CASE WHEN object_name = 'event' THEN 'syncd.event_change_kinds(old_raw, new_raw)'
                       ELSE '''{{}}''::text[]' END;
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
                SELECT *, CASE WHEN what = 'updated' THEN %3$s ELSE '{{}}'::text[] END AS domain
                FROM pairs
                WHERE what IS NOT NULL
            ), written AS (
                INSERT INTO syncd.{log} (occurred_at, resource, object_id, kind, kinds, fields, data, origin)
                SELECT CASE WHEN what = 'deleted' THEN deleted_at ELSE synced_at END,
                       %1$L,
                       object_id,
                       coalesce(domain[1], %6$L || '.' || what),
                       ARRAY[%6$L || '.' || what] || domain,
                       CASE WHEN what <> 'deleted'
                            THEN nullif(syncd.jsonb_diff(old_raw, new_raw), '{{}}') END,
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

HISTORY_VIEW = """
CREATE VIEW simplymeet.event_history AS
SELECT h.version_id, {view_columns}, h.valid_from, h.valid_to, h.recorded_at
FROM syncd.event_versions AS h
LEFT JOIN simplymeet.events AS e ON h.raw IS NULL AND e.id = h.id
"""

# One table in FROM, `data` a scalar subquery: the view stays automatically updatable, so DELETE
# and UPDATE of its other columns (pruning by hand) work as on the table it replaces.
CHANGES_VIEW = """
CREATE VIEW syncd.changes AS
SELECT c.id, c.occurred_at, c.resource, c.object_id, c.kind, c.kinds, c.fields,
       CASE WHEN c.version_id IS NULL THEN c.data ELSE (
           SELECT coalesce(h.raw, e.raw)
           FROM syncd.event_versions AS h
           LEFT JOIN simplymeet.events AS e ON h.raw IS NULL AND e.id = h.id
           WHERE h.version_id = c.version_id) END AS data,
       c.origin
FROM syncd.change_log AS c
"""

VERSIONS_COMMENT = (
    "Every version of every event, the storage behind the view simplymeet.event_history (query the "
    "view). A closed version holds the event as it was; the open one (valid_to NULL, raw NULL) "
    "takes its columns from simplymeet.events."
)
LOG_COMMENT = (
    "The change feed's rows, the storage behind the view syncd.changes (query the view): an event's "
    "change names its version (version_id) instead of copying the object."
)
VERSION_ID_COMMENT = (
    "An event's change: the version (syncd.event_versions) whose raw is the object; data is NULL then."
)
DATA_COMMENT = "The object as the API answered it after the change; NULL when version_id names it."
RAW_COMMENT = "The object exactly as the API answered it; NULL for the open version (see simplymeet.events)."


def _columns(schema: str, table: str) -> list[str]:
    names = op.get_bind().exec_driver_sql(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
    )
    return [str(name) for (name,) in names]


def _comments(schema: str, relation: str) -> tuple[str | None, dict[str, str]]:
    bind = op.get_bind()
    table = bind.exec_driver_sql(f"SELECT obj_description('{schema}.{relation}'::regclass, 'pg_class')")
    columns = bind.exec_driver_sql(
        f"SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
        f"WHERE a.attrelid = '{schema}.{relation}'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
    )
    return table.scalar(), {str(name): str(text) for name, text in columns if text is not None}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _comment_on(kind: str, name: str, comment: str | None, columns: dict[str, str]) -> None:
    if comment is not None:
        op.execute(f"COMMENT ON {kind} {name} IS {_literal(comment)}")
    for column, text in columns.items():
        op.execute(f'COMMENT ON COLUMN {name}."{column}" IS {_literal(text)}')


def _grants(schema: str, relation: str) -> list[tuple[str, str]]:
    """(grantee, privilege) held on a relation by roles other than its owner."""
    rows = op.get_bind().exec_driver_sql(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END, "
        "a.privilege_type FROM pg_class c, aclexplode(c.relacl) a "
        f"WHERE c.oid = '{schema}.{relation}'::regclass AND a.grantee <> c.relowner"
    )
    return [(str(grantee), str(privilege)) for grantee, privilege in rows]


def _regrant(grants: list[tuple[str, str]], name: str) -> None:
    for grantee, privilege in grants:
        if privilege == "SELECT":
            op.execute(f"GRANT SELECT ON {name} TO {grantee}")


def _event_sql(template: str, columns: list[str]) -> str:
    quoted = [f'"{c}"' for c in columns]
    content = [c for c in quoted if c != '"id"']  # what a closing version is filled with
    return template.format(
        columns=", ".join(content),
        o_columns=", ".join(f"o.{c}" for c in content),
        view_columns=", ".join(
            'h."id"'
            if c == '"id"'
            else f"coalesce(h.raw, e.raw) AS {c}"
            if c == '"raw"'
            else f"CASE WHEN h.raw IS NULL THEN e.{c} ELSE h.{c} END AS {c}"
            for c in quoted
        ),
        log="change_log",
    )


def upgrade() -> None:
    history_comment, history_columns = _comments("simplymeet", "event_history")
    changes_comment, changes_columns = _comments("syncd", "changes")
    history_grants = _grants("simplymeet", "event_history")
    changes_grants = _grants("syncd", "changes")

    # The events' four triggers give way to one function (history first, then the feed naming it).
    for trigger in ("changes_insert", "changes_update", "history_insert", "history_update"):
        op.execute(f"DROP TRIGGER {trigger} ON simplymeet.events")
    op.execute("DROP FUNCTION syncd.record_event_history()")

    # The stores: the same tables, moved and renamed (their rows kept).
    op.execute("ALTER TABLE simplymeet.event_history SET SCHEMA syncd")
    op.execute("ALTER TABLE syncd.event_history RENAME TO event_versions")
    op.execute("ALTER TABLE syncd.event_versions RENAME CONSTRAINT pk_event_history TO pk_event_versions")
    op.execute("ALTER INDEX syncd.ix_event_history_current RENAME TO ix_event_versions_current")
    op.execute("ALTER INDEX syncd.ix_event_history_id_valid_from RENAME TO ix_event_versions_id_valid_from")
    op.execute("ALTER SEQUENCE syncd.event_history_version_id_seq RENAME TO event_versions_version_id_seq")
    op.execute("ALTER TABLE syncd.event_versions ALTER COLUMN raw DROP NOT NULL")
    op.execute(f"COMMENT ON TABLE syncd.event_versions IS {_literal(VERSIONS_COMMENT)}")
    op.execute(f"COMMENT ON COLUMN syncd.event_versions.raw IS {_literal(RAW_COMMENT)}")
    version_columns = [c for c in _columns("syncd", "event_versions") if c not in HISTORY_META]
    # The open versions become skeletons: the events rows hold their columns.
    content = [f'"{c}"' for c in version_columns if c != "id"]
    nulls = ", ".join("NULL" for _ in content)
    op.execute(
        f"UPDATE syncd.event_versions SET ({', '.join(content)}) = ROW({nulls}) WHERE valid_to IS NULL"
    )

    op.execute("ALTER TABLE syncd.changes RENAME TO change_log")
    op.execute("ALTER TABLE syncd.change_log RENAME CONSTRAINT pk_changes TO pk_change_log")
    op.execute("ALTER INDEX syncd.ix_changes_resource_object_id RENAME TO ix_change_log_resource_object_id")
    op.execute("ALTER SEQUENCE syncd.changes_id_seq RENAME TO change_log_id_seq")
    op.execute("ALTER TABLE syncd.change_log ADD COLUMN version_id bigint")
    op.execute(f"COMMENT ON TABLE syncd.change_log IS {_literal(LOG_COMMENT)}")
    op.execute(f"COMMENT ON COLUMN syncd.change_log.version_id IS {_literal(VERSION_ID_COMMENT)}")
    op.execute(f"COMMENT ON COLUMN syncd.change_log.data IS {_literal(DATA_COMMENT)}")

    op.execute(RECORD_CHANGES.format(log="change_log"))
    op.execute(_event_sql(EVENT_FUNCTION, version_columns))
    for statement in EVENT_TRIGGERS:
        op.execute(statement)

    op.execute(_event_sql(HISTORY_VIEW, version_columns))
    _comment_on("VIEW", "simplymeet.event_history", history_comment, history_columns)
    op.execute(CHANGES_VIEW)
    _comment_on("VIEW", "syncd.changes", changes_comment, changes_columns)
    _regrant(history_grants, "simplymeet.event_history")
    _regrant(changes_grants, "syncd.changes")


# The history function of 0006, for the downgrade (its columns read from the table at that time).
HISTORY_FUNCTION_0006 = r"""
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


def downgrade() -> None:
    history_comment, history_columns = _comments("simplymeet", "event_history")
    changes_comment, changes_columns = _comments("syncd", "changes")
    history_grants = _grants("simplymeet", "event_history")
    changes_grants = _grants("syncd", "changes")
    op.execute("DROP VIEW syncd.changes")
    op.execute("DROP VIEW simplymeet.event_history")
    for trigger in ("changes_insert", "changes_update", "history_delete"):
        op.execute(f"DROP TRIGGER {trigger} ON simplymeet.events")
    op.execute("DROP FUNCTION syncd.record_event_changes()")
    op.execute(RECORD_CHANGES.format(log="changes"))

    version_columns = [c for c in _columns("syncd", "event_versions") if c not in HISTORY_META]
    quoted = [f'"{c}"' for c in version_columns if c != "id"]
    # Every version whole again, every change row with its object.
    op.execute(
        f"UPDATE syncd.event_versions AS h SET ({', '.join(quoted)}) = "
        f"({', '.join(f'e.{c}' for c in quoted)}) FROM simplymeet.events AS e "
        "WHERE h.raw IS NULL AND e.id = h.id"
    )
    op.execute("DELETE FROM syncd.event_versions WHERE raw IS NULL")  # an events row gone: nothing to keep
    op.execute(
        "UPDATE syncd.change_log AS c SET data = h.raw FROM syncd.event_versions AS h "
        "WHERE c.version_id = h.version_id AND c.data IS NULL"
    )
    op.execute("ALTER TABLE syncd.change_log DROP COLUMN version_id")
    op.execute("ALTER SEQUENCE syncd.change_log_id_seq RENAME TO changes_id_seq")
    op.execute("ALTER INDEX syncd.ix_change_log_resource_object_id RENAME TO ix_changes_resource_object_id")
    op.execute("ALTER TABLE syncd.change_log RENAME CONSTRAINT pk_change_log TO pk_changes")
    op.execute("ALTER TABLE syncd.change_log RENAME TO changes")
    _comment_on("TABLE", "syncd.changes", changes_comment, changes_columns)

    op.execute("ALTER TABLE syncd.event_versions ALTER COLUMN raw SET NOT NULL")
    op.execute("ALTER SEQUENCE syncd.event_versions_version_id_seq RENAME TO event_history_version_id_seq")
    op.execute("ALTER INDEX syncd.ix_event_versions_id_valid_from RENAME TO ix_event_history_id_valid_from")
    op.execute("ALTER INDEX syncd.ix_event_versions_current RENAME TO ix_event_history_current")
    op.execute("ALTER TABLE syncd.event_versions RENAME CONSTRAINT pk_event_versions TO pk_event_history")
    op.execute("ALTER TABLE syncd.event_versions RENAME TO event_history")
    op.execute("ALTER TABLE syncd.event_history SET SCHEMA simplymeet")
    _comment_on("TABLE", "simplymeet.event_history", history_comment, history_columns)

    columns = [f'"{c}"' for c in version_columns]
    op.execute(
        HISTORY_FUNCTION_0006.format(
            columns=", ".join(columns),
            n_columns=", ".join("t.raw" if c == '"raw"' else f"n.{c}" for c in columns),
            c_columns=", ".join("c.stored_raw" if c == '"raw"' else f"c.{c}" for c in columns),
        )
    )
    for operation in ("INSERT", "UPDATE"):
        transition = (
            "NEW TABLE AS new_rows"
            if operation == "INSERT"
            else "OLD TABLE AS old_rows NEW TABLE AS new_rows"
        )
        op.execute(
            f"CREATE TRIGGER changes_{operation.lower()} AFTER {operation} ON simplymeet.events "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_changes('event', 'id')"
        )
        op.execute(
            f"CREATE TRIGGER history_{operation.lower()} AFTER {operation} ON simplymeet.events "
            f"REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION syncd.record_event_history()"
        )
    _regrant(history_grants, "simplymeet.event_history")
    _regrant(changes_grants, "syncd.changes")
