"""A reschedule into the past is refused at the INSERT, unless the intent says `allow_past`.

Adds `syncd.write_intents.allow_past` (boolean, NOT NULL, default false) and replaces the validation
function with the rendering of the declaration that knows it (`IntentKind.not_in_past`): an INSERT
of a reschedule whose `start` is before `now()` is refused with the message Python's
`check_intent` gives. A `Y-m-d H:i:s` start is in syncd's zone, which the database does not know:
it is refused when past in every zone (before now less 14:59). An UPDATE is not checked for this,
and rows already queued are not checked again. A CRM that writes intents gets INSERT on the new
column (`syncd db grant --writer` again).

The PL/pgSQL is `syncd.db.intent_check.render_validate_function()` as it was when this revision
was written, frozen here as a migration must be; a unit test keeps the newest such revision equal
to the rendering, so a changed declaration comes with a new revision.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALIDATE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION syncd.write_intents_validate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
-- Rendered by syncd.db.intent_check from the declaration in syncd.intent_kinds; Python checks the same.
DECLARE
    spec jsonb;
    shape text;
    span text[];
    past_field text;
    item jsonb;
    key text;
    kind_of text;
    limit_of integer;
    value jsonb;
    element jsonb;
    position integer;
    given text;
    zone_text text;
    forms jsonb := '{}';
    instants jsonb := '{}';
    size integer;
BEGIN
    IF NEW.kind IS NULL THEN
        RETURN NEW;  -- the NOT NULL constraint says it better
    END IF;
    -- Per kind: [key, type, required, limit] in the API request DTO's order; the limit is a string's
    -- most characters, an e-mail list's most addresses.
    spec := CASE NEW.kind
        WHEN 'cancel' THEN '[["reason", "string", false, 1000]]'
        WHEN 'reschedule' THEN '[["start", "datetime", true, null], ["end", "datetime", true, null], ["eventTypeId", "id", false, null], ["userId", "id", false, null]]'
        WHEN 'notes' THEN '[["notes", "string", true, 10000]]'
        WHEN 'invite' THEN '[["emails", "emails", true, 100], ["message", "string", false, 2000]]'
        WHEN 'no_show' THEN '[]'
        WHEN 'delete' THEN '[]'
        WHEN 'resend_notification' THEN '[]'
    END::jsonb;
    shape := CASE NEW.kind
        WHEN 'cancel' THEN 'cancel takes {reason?}'
        WHEN 'reschedule' THEN 'reschedule takes {start, end, eventTypeId?, userId?}'
        WHEN 'notes' THEN 'notes takes {notes}'
        WHEN 'invite' THEN 'invite takes {emails, message?}'
        WHEN 'no_show' THEN 'no_show takes {}'
        WHEN 'delete' THEN 'delete takes {}'
        WHEN 'resend_notification' THEN 'resend_notification takes {}'
    END;
    span := CASE NEW.kind
        WHEN 'reschedule' THEN ARRAY['start', 'end']
    END;
    past_field := CASE NEW.kind
        WHEN 'reschedule' THEN 'start'
    END;
    IF spec IS NULL THEN
        RAISE EXCEPTION 'write intent refused: unknown kind %', left(to_jsonb(NEW.kind)::text, 60)
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'kind', DETAIL = 'known kinds: cancel, reschedule, notes, invite, no_show, delete, resend_notification', HINT = 'kind is lower case, with underscores (no_show, resend_notification)';
    END IF;

    IF NEW.event_id IS NOT NULL AND NEW.event_id <= 0 THEN
        RAISE EXCEPTION 'write intent refused: event_id must be a positive SimplyMeet event id, got %', NEW.event_id
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'event_id';
    END IF;

    IF length(NEW.idempotency_key) > 255 THEN
        RAISE EXCEPTION 'write intent refused: idempotency_key has % characters, at most 255 are allowed',
                length(NEW.idempotency_key)
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'idempotency_key';
    END IF;

    IF NEW.payload IS NULL THEN
        RETURN NEW;  -- the NOT NULL constraint says it better
    END IF;
    IF jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION 'write intent refused: % payload must be a JSON object, got %', NEW.kind, jsonb_typeof(NEW.payload)
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape;
    END IF;

    -- The first by code point (COLLATE "C"), whatever the database's collation: Python sorts the same way.
    SELECT k INTO key FROM jsonb_object_keys(NEW.payload) AS k
        WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(spec) AS s WHERE s ->> 0 = k)
        ORDER BY k COLLATE "C" LIMIT 1;
    IF key IS NOT NULL THEN
        RAISE EXCEPTION 'write intent refused: % payload has unexpected key %', NEW.kind, left(to_jsonb(key)::text, 60)
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape, HINT = 'keys are the API request DTO''s, in camelCase (eventTypeId, userId)';
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(spec) LOOP
        key := item ->> 0;
        kind_of := item ->> 1;
        limit_of := (item ->> 3)::integer;
        value := NEW.payload -> key;
        IF value IS NULL OR jsonb_typeof(value) = 'null' THEN
            IF (item ->> 2)::boolean THEN
                RAISE EXCEPTION 'write intent refused: % payload is missing "%"', NEW.kind, key
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape;
            END IF;
            CONTINUE;
        END IF;

        IF kind_of = 'string' THEN
            IF jsonb_typeof(value) <> 'string' THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" must be a string, got %', NEW.kind, key, jsonb_typeof(value)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape;
            END IF;
            IF length(value #>> '{}') > limit_of THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" has % characters, at most % are allowed', NEW.kind, key,
                        length(value #>> '{}'), limit_of
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload';
            END IF;

        ELSIF kind_of = 'id' THEN
            -- jsonb writes a number without leading zeros: 1 to 18 digits is a positive bigint.
            IF value::text !~ '^[1-9][0-9]{0,17}$' THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" must be a positive integer, got %', NEW.kind, key,
                        jsonb_typeof(value)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape, HINT = 'a JSON number such as 5, not a string "5"';
            END IF;

        ELSIF kind_of = 'emails' THEN
            IF jsonb_typeof(value) <> 'array' THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" must be a non-empty array of e-mail addresses, got %',
                        NEW.kind, key, jsonb_typeof(value)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape, HINT = 'e.g. {"emails": ["ann@example.com"]}';
            END IF;
            IF jsonb_array_length(value) = 0 THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" must be a non-empty array of e-mail addresses, got an empty array',
                        NEW.kind, key
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape, HINT = 'e.g. {"emails": ["ann@example.com"]}';
            END IF;
            IF jsonb_array_length(value) > limit_of THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" has % addresses, at most % are allowed', NEW.kind, key,
                        jsonb_array_length(value), limit_of
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload';
            END IF;
            FOR element, position IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(value) WITH ORDINALITY AS a(e, o)
            LOOP
                IF jsonb_typeof(element) <> 'string' THEN
                    RAISE EXCEPTION 'write intent refused: % payload "%[%]" must be a string, got %', NEW.kind, key, position,
                            jsonb_typeof(element)
                        USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = shape;
                END IF;
                IF length(element #>> '{}') > 254 THEN
                    RAISE EXCEPTION 'write intent refused: % payload "%[%]" has % characters, at most 254 are allowed',
                            NEW.kind, key, position, length(element #>> '{}')
                        USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload';
                END IF;
                IF (element #>> '{}') !~ '^(?:[^@\x01-\x20\x7f]+@[^@\x01-\x20\x7f]+\.[^@\x01-\x20\x7f.]+)$' THEN
                    RAISE EXCEPTION 'write intent refused: % payload "%[%]" is not an e-mail address: %', NEW.kind, key, position,
                            left(element::text, 60)
                        USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'an address is local@domain.tld, without spaces', HINT = 'one address per array element, no display names ("Ann <ann@x.com>")';
                END IF;
            END LOOP;

        ELSIF kind_of = 'datetime' THEN
            IF jsonb_typeof(value) <> 'string' THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" must be a date-time string, got %', NEW.kind, key,
                        jsonb_typeof(value)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', HINT = 'Y-m-d H:i:s (e.g. 2026-03-01 10:00:00) or ISO 8601 with an offset (2026-03-01T10:00:00+01:00)';
            END IF;
            given := value #>> '{}';
            IF given ~ '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2})$' THEN
                forms := forms || jsonb_build_object(key, 'plain');
            ELSIF given ~ '^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}([.,][0-9]{1,6})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?))$' THEN
                forms := forms || jsonb_build_object(key, 'iso');
            ELSE
                RAISE EXCEPTION 'write intent refused: % payload "%" is not a date-time: %', NEW.kind, key, left(value::text, 60)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'accepted: Y-m-d H:i:s (in the zone syncd sends, UTC by default) or ISO 8601 with an offset or Z, at most 6 decimals', HINT = 'Y-m-d H:i:s (e.g. 2026-03-01 10:00:00) or ISO 8601 with an offset (2026-03-01T10:00:00+01:00)';
            END IF;
            -- Checked on the text: the casts below would roll hour 24 and second 60 over to the next day.
            IF substr(given, 12, 2)::integer > 23 OR substr(given, 15, 2)::integer > 59
                    OR substr(given, 18, 2)::integer > 59 THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" is not a valid time of day: %', NEW.kind, key,
                        left(value::text, 60)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'hours 00-23, minutes and seconds 00-59';
            END IF;
            IF substr(given, 1, 4)::integer NOT BETWEEN 2000 AND 2100 THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" is outside the accepted years: %', NEW.kind, key,
                        left(value::text, 60)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'years 2000-2100';
            END IF;
            zone_text := CASE WHEN forms ->> key = 'iso' THEN substring(given FROM '[+-][0-9]{2}(?::?[0-9]{2})?$') END;
            IF zone_text IS NOT NULL AND (substr(zone_text, 2, 2)::integer > 14
                    OR (length(zone_text) > 3 AND right(zone_text, 2)::integer > 59)) THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" has an impossible UTC offset: %', NEW.kind, key,
                        left(value::text, 60)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'offsets from -14:59 to +14:59';
            END IF;
            BEGIN
                IF forms ->> key = 'plain' THEN
                    instants := instants || jsonb_build_object(key, extract(epoch FROM given::timestamp));
                ELSE
                    instants := instants || jsonb_build_object(
                        key, extract(epoch FROM upper(replace(given, ',', '.'))::timestamptz));
                END IF;
            EXCEPTION WHEN data_exception THEN
                RAISE EXCEPTION 'write intent refused: % payload "%" is not a real date-time: %', NEW.kind, key,
                        left(value::text, 60)
                    USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'months 01-12, days 01 to the month''s last';
            END;
        END IF;
    END LOOP;

    IF span IS NOT NULL AND forms ? span[1] AND forms ? span[2] THEN
        IF forms ->> span[1] <> forms ->> span[2] THEN
            RAISE EXCEPTION 'write intent refused: % payload "%" and "%" must use the same form', NEW.kind, span[1], span[2]
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload',
                      DETAIL = format('%s is %s, %s is %s', span[1], NEW.payload ->> span[1], span[2],
                                      NEW.payload ->> span[2]),
                      HINT = 'both Y-m-d H:i:s, or both ISO 8601 with an offset: a plain time''s zone is syncd''s setting';
        END IF;
        IF (instants ->> span[2])::numeric <= (instants ->> span[1])::numeric THEN
            RAISE EXCEPTION 'write intent refused: % payload "%" must be after "%"', NEW.kind, span[2], span[1]
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload',
                      DETAIL = format('%s is %s, %s is %s', span[1], NEW.payload ->> span[1], span[2],
                                      NEW.payload ->> span[2]);
        END IF;
    END IF;

    -- Not into the past at the INSERT, unless allowed. A plain time's zone is syncd's setting, which
    -- this function does not know: it is past only when it is past in every zone.
    IF past_field IS NOT NULL AND TG_OP = 'INSERT' AND NEW.allow_past IS NOT TRUE AND forms ? past_field THEN
        IF forms ->> past_field = 'plain'
                AND (instants ->> past_field)::numeric + 53940 < extract(epoch FROM now()) THEN
            RAISE EXCEPTION 'write intent refused: % payload "%" is in the past: %', NEW.kind, past_field,
                    left((NEW.payload -> past_field)::text, 60)
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'a Y-m-d H:i:s time counts as past when it is past in every zone (before now less 14:59); set allow_past to queue it anyway';
        END IF;
        IF forms ->> past_field = 'iso' AND (instants ->> past_field)::numeric < extract(epoch FROM now()) THEN
            RAISE EXCEPTION 'write intent refused: % payload "%" is in the past: %', NEW.kind, past_field,
                    left((NEW.payload -> past_field)::text, 60)
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'set allow_past to queue it anyway (syncd intent reschedule --allow-past)';
        END IF;
    END IF;

    -- Last, once every value is text, a whole number or a list of text: Python measures the same form.
    size := octet_length(NEW.payload::text);
    IF size > 65536 THEN
        RAISE EXCEPTION 'write intent refused: % payload is % bytes as JSON, at most 65536 are allowed',
                NEW.kind, size
            USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA, COLUMN = 'payload', DETAIL = 'measured as octet_length(payload::text): the UTF-8 bytes of the jsonb text form';
    END IF;
    RETURN NEW;
END
$fn$
"""

ADD_COLUMN = "ALTER TABLE syncd.write_intents ADD COLUMN allow_past boolean DEFAULT false NOT NULL"
COMMENT = (
    "COMMENT ON COLUMN syncd.write_intents.allow_past IS "
    "'true: a reschedule may start in the past (refused at the INSERT otherwise).'"
)


def upgrade() -> None:
    # Straight to the driver: text() would read `:name` in the PL/pgSQL as bind parameters.
    bind = op.get_bind()
    for statement in (ADD_COLUMN, COMMENT, VALIDATE_FUNCTION):
        bind.exec_driver_sql(statement, execution_options={"no_parameters": True})


def downgrade() -> None:
    bind = op.get_bind()
    for statement in (
        _revision_0008().VALIDATE_FUNCTION,
        "ALTER TABLE syncd.write_intents DROP COLUMN allow_past",
    ):
        bind.exec_driver_sql(statement, execution_options={"no_parameters": True})


def _revision_0008() -> ModuleType:
    """0008's frozen function, as it was."""
    path = Path(__file__).with_name("0008_intent_limits.py")
    spec = importlib.util.spec_from_file_location("syncd_migration_0008", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
