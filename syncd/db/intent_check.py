"""The INSERT trigger's check of a write intent, rendered as PL/pgSQL from `syncd.intent_kinds`.

A migration freezes the rendering as literal text (migrations do not change after the fact); a unit
test keeps the newest such migration equal to `render_validate_function()`, so a change to the
declaration needs a new migration. The checks mirror `syncd.intent_kinds.check_intent` one for one,
in the same order and with the same messages; an integration property test holds the two to it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from syncd.intent_kinds import (
    DATETIME_DETAIL,
    DATETIME_HINT,
    EMAIL_DETAIL,
    EMAIL_FORM,
    EMAIL_HINT,
    EMAILS_HINT,
    ID_HINT,
    INTENT_KINDS,
    ISO_FORM,
    KIND_HINT,
    KNOWN_KINDS_DETAIL,
    MAX_EMAIL_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_OFFSET_HOURS,
    MAX_PAYLOAD_BYTES,
    OFFSET_DETAIL,
    PAST_DETAIL,
    PLAIN_FORM,
    PLAIN_PAST_DETAIL,
    REAL_DATE_DETAIL,
    REFUSED,
    SAME_FORM_HINT,
    SIZE_DETAIL,
    TIME_OF_DAY_DETAIL,
    UNEXPECTED_KEY_HINT,
    WIDEST_OFFSET,
    YEARS,
    YEARS_DETAIL,
)

# Every RAISE: SQLSTATE 23514 (check_violation, as a CHECK constraint) and the error's location fields.
_USING = "ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA"

_TEMPLATE = r"""
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
@SPECS@
    END::jsonb;
    shape := CASE NEW.kind
@SHAPES@
    END;
    span := CASE NEW.kind
@SPANS@
    END;
    past_field := CASE NEW.kind
@PASTS@
    END;
    IF spec IS NULL THEN
        RAISE EXCEPTION '@REFUSED@: unknown kind %', left(to_jsonb(NEW.kind)::text, 60)
            USING @USING@, COLUMN = 'kind', DETAIL = @KNOWN_KINDS@, HINT = @KIND_HINT@;
    END IF;

    IF NEW.event_id IS NOT NULL AND NEW.event_id <= 0 THEN
        RAISE EXCEPTION '@REFUSED@: event_id must be a positive SimplyMeet event id, got %', NEW.event_id
            USING @USING@, COLUMN = 'event_id';
    END IF;

    IF length(NEW.idempotency_key) > @MAX_KEY@ THEN
        RAISE EXCEPTION '@REFUSED@: idempotency_key has % characters, at most @MAX_KEY@ are allowed',
                length(NEW.idempotency_key)
            USING @USING@, COLUMN = 'idempotency_key';
    END IF;

    IF NEW.payload IS NULL THEN
        RETURN NEW;  -- the NOT NULL constraint says it better
    END IF;
    IF jsonb_typeof(NEW.payload) <> 'object' THEN
        RAISE EXCEPTION '@REFUSED@: % payload must be a JSON object, got %', NEW.kind, jsonb_typeof(NEW.payload)
            USING @USING@, COLUMN = 'payload', DETAIL = shape;
    END IF;

    -- The first by code point (COLLATE "C"), whatever the database's collation: Python sorts the same way.
    SELECT k INTO key FROM jsonb_object_keys(NEW.payload) AS k
        WHERE NOT EXISTS (SELECT FROM jsonb_array_elements(spec) AS s WHERE s ->> 0 = k)
        ORDER BY k COLLATE "C" LIMIT 1;
    IF key IS NOT NULL THEN
        RAISE EXCEPTION '@REFUSED@: % payload has unexpected key %', NEW.kind, left(to_jsonb(key)::text, 60)
            USING @USING@, COLUMN = 'payload', DETAIL = shape, HINT = @UNEXPECTED_KEY_HINT@;
    END IF;

    FOR item IN SELECT * FROM jsonb_array_elements(spec) LOOP
        key := item ->> 0;
        kind_of := item ->> 1;
        limit_of := (item ->> 3)::integer;
        value := NEW.payload -> key;
        IF value IS NULL OR jsonb_typeof(value) = 'null' THEN
            IF (item ->> 2)::boolean THEN
                RAISE EXCEPTION '@REFUSED@: % payload is missing "%"', NEW.kind, key
                    USING @USING@, COLUMN = 'payload', DETAIL = shape;
            END IF;
            CONTINUE;
        END IF;

        IF kind_of = 'string' THEN
            IF jsonb_typeof(value) <> 'string' THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" must be a string, got %', NEW.kind, key, jsonb_typeof(value)
                    USING @USING@, COLUMN = 'payload', DETAIL = shape;
            END IF;
            IF length(value #>> '{}') > limit_of THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" has % characters, at most % are allowed', NEW.kind, key,
                        length(value #>> '{}'), limit_of
                    USING @USING@, COLUMN = 'payload';
            END IF;

        ELSIF kind_of = 'id' THEN
            -- jsonb writes a number without leading zeros: 1 to 18 digits is a positive bigint.
            IF value::text !~ '^[1-9][0-9]{0,17}$' THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" must be a positive integer, got %', NEW.kind, key,
                        jsonb_typeof(value)
                    USING @USING@, COLUMN = 'payload', DETAIL = shape, HINT = @ID_HINT@;
            END IF;

        ELSIF kind_of = 'emails' THEN
            IF jsonb_typeof(value) <> 'array' THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" must be a non-empty array of e-mail addresses, got %',
                        NEW.kind, key, jsonb_typeof(value)
                    USING @USING@, COLUMN = 'payload', DETAIL = shape, HINT = @EMAILS_HINT@;
            END IF;
            IF jsonb_array_length(value) = 0 THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" must be a non-empty array of e-mail addresses, got an empty array',
                        NEW.kind, key
                    USING @USING@, COLUMN = 'payload', DETAIL = shape, HINT = @EMAILS_HINT@;
            END IF;
            IF jsonb_array_length(value) > limit_of THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" has % addresses, at most % are allowed', NEW.kind, key,
                        jsonb_array_length(value), limit_of
                    USING @USING@, COLUMN = 'payload';
            END IF;
            FOR element, position IN SELECT e, (o - 1)::integer FROM jsonb_array_elements(value) WITH ORDINALITY AS a(e, o)
            LOOP
                IF jsonb_typeof(element) <> 'string' THEN
                    RAISE EXCEPTION '@REFUSED@: % payload "%[%]" must be a string, got %', NEW.kind, key, position,
                            jsonb_typeof(element)
                        USING @USING@, COLUMN = 'payload', DETAIL = shape;
                END IF;
                IF length(element #>> '{}') > @MAX_EMAIL@ THEN
                    RAISE EXCEPTION '@REFUSED@: % payload "%[%]" has % characters, at most @MAX_EMAIL@ are allowed',
                            NEW.kind, key, position, length(element #>> '{}')
                        USING @USING@, COLUMN = 'payload';
                END IF;
                IF (element #>> '{}') !~ @EMAIL_FORM@ THEN
                    RAISE EXCEPTION '@REFUSED@: % payload "%[%]" is not an e-mail address: %', NEW.kind, key, position,
                            left(element::text, 60)
                        USING @USING@, COLUMN = 'payload', DETAIL = @EMAIL_DETAIL@, HINT = @EMAIL_HINT@;
                END IF;
            END LOOP;

        ELSIF kind_of = 'datetime' THEN
            IF jsonb_typeof(value) <> 'string' THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" must be a date-time string, got %', NEW.kind, key,
                        jsonb_typeof(value)
                    USING @USING@, COLUMN = 'payload', HINT = @DATETIME_HINT@;
            END IF;
            given := value #>> '{}';
            IF given ~ @PLAIN_FORM@ THEN
                forms := forms || jsonb_build_object(key, 'plain');
            ELSIF given ~ @ISO_FORM@ THEN
                forms := forms || jsonb_build_object(key, 'iso');
            ELSE
                RAISE EXCEPTION '@REFUSED@: % payload "%" is not a date-time: %', NEW.kind, key, left(value::text, 60)
                    USING @USING@, COLUMN = 'payload', DETAIL = @DATETIME_DETAIL@, HINT = @DATETIME_HINT@;
            END IF;
            -- Checked on the text: the casts below would roll hour 24 and second 60 over to the next day.
            IF substr(given, 12, 2)::integer > 23 OR substr(given, 15, 2)::integer > 59
                    OR substr(given, 18, 2)::integer > 59 THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" is not a valid time of day: %', NEW.kind, key,
                        left(value::text, 60)
                    USING @USING@, COLUMN = 'payload', DETAIL = @TIME_OF_DAY_DETAIL@;
            END IF;
            IF substr(given, 1, 4)::integer NOT BETWEEN @FIRST_YEAR@ AND @LAST_YEAR@ THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" is outside the accepted years: %', NEW.kind, key,
                        left(value::text, 60)
                    USING @USING@, COLUMN = 'payload', DETAIL = @YEARS_DETAIL@;
            END IF;
            zone_text := CASE WHEN forms ->> key = 'iso' THEN substring(given FROM '[+-][0-9]{2}(?::?[0-9]{2})?$') END;
            IF zone_text IS NOT NULL AND (substr(zone_text, 2, 2)::integer > @MAX_OFFSET_HOURS@
                    OR (length(zone_text) > 3 AND right(zone_text, 2)::integer > 59)) THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" has an impossible UTC offset: %', NEW.kind, key,
                        left(value::text, 60)
                    USING @USING@, COLUMN = 'payload', DETAIL = @OFFSET_DETAIL@;
            END IF;
            BEGIN
                IF forms ->> key = 'plain' THEN
                    instants := instants || jsonb_build_object(key, extract(epoch FROM given::timestamp));
                ELSE
                    instants := instants || jsonb_build_object(
                        key, extract(epoch FROM upper(replace(given, ',', '.'))::timestamptz));
                END IF;
            EXCEPTION WHEN data_exception THEN
                RAISE EXCEPTION '@REFUSED@: % payload "%" is not a real date-time: %', NEW.kind, key,
                        left(value::text, 60)
                    USING @USING@, COLUMN = 'payload', DETAIL = @REAL_DATE_DETAIL@;
            END;
        END IF;
    END LOOP;

    IF span IS NOT NULL AND forms ? span[1] AND forms ? span[2] THEN
        IF forms ->> span[1] <> forms ->> span[2] THEN
            RAISE EXCEPTION '@REFUSED@: % payload "%" and "%" must use the same form', NEW.kind, span[1], span[2]
                USING @USING@, COLUMN = 'payload',
                      DETAIL = format('%s is %s, %s is %s', span[1], NEW.payload ->> span[1], span[2],
                                      NEW.payload ->> span[2]),
                      HINT = @SAME_FORM_HINT@;
        END IF;
        IF (instants ->> span[2])::numeric <= (instants ->> span[1])::numeric THEN
            RAISE EXCEPTION '@REFUSED@: % payload "%" must be after "%"', NEW.kind, span[2], span[1]
                USING @USING@, COLUMN = 'payload',
                      DETAIL = format('%s is %s, %s is %s', span[1], NEW.payload ->> span[1], span[2],
                                      NEW.payload ->> span[2]);
        END IF;
    END IF;

    -- Not into the past at the INSERT, unless allowed. A plain time's zone is syncd's setting, which
    -- this function does not know: it is past only when it is past in every zone.
    IF past_field IS NOT NULL AND TG_OP = 'INSERT' AND NEW.allow_past IS NOT TRUE AND forms ? past_field THEN
        IF forms ->> past_field = 'plain'
                AND (instants ->> past_field)::numeric + @WIDEST_OFFSET_S@ < extract(epoch FROM now()) THEN
            RAISE EXCEPTION '@REFUSED@: % payload "%" is in the past: %', NEW.kind, past_field,
                    left((NEW.payload -> past_field)::text, 60)
                USING @USING@, COLUMN = 'payload', DETAIL = @PLAIN_PAST_DETAIL@;
        END IF;
        IF forms ->> past_field = 'iso' AND (instants ->> past_field)::numeric < extract(epoch FROM now()) THEN
            RAISE EXCEPTION '@REFUSED@: % payload "%" is in the past: %', NEW.kind, past_field,
                    left((NEW.payload -> past_field)::text, 60)
                USING @USING@, COLUMN = 'payload', DETAIL = @PAST_DETAIL@;
        END IF;
    END IF;

    -- Last, once every value is text, a whole number or a list of text: Python measures the same form.
    size := octet_length(NEW.payload::text);
    IF size > @MAX_PAYLOAD_BYTES@ THEN
        RAISE EXCEPTION '@REFUSED@: % payload is % bytes as JSON, at most @MAX_PAYLOAD_BYTES@ are allowed',
                NEW.kind, size
            USING @USING@, COLUMN = 'payload', DETAIL = @SIZE_DETAIL@;
    END IF;
    RETURN NEW;
END
$fn$
"""


def render_validate_function() -> str:
    """`CREATE OR REPLACE FUNCTION syncd.write_intents_validate()`, from the declared kinds and limits."""
    specs, shapes, spans, pasts = [], [], [], []
    for kind in INTENT_KINDS.values():
        spec = [[f.name, f.type, f.required, f.max_chars or f.max_items] for f in kind.fields]
        specs.append(f"        WHEN {_literal(kind.name)} THEN {_literal(json.dumps(spec))}")
        shapes.append(
            f"        WHEN {_literal(kind.name)} THEN {_literal(f'{kind.name} takes {kind.shape}')}"
        )
        if kind.span is not None:
            spans.append(
                f"        WHEN {_literal(kind.name)} THEN ARRAY[{', '.join(map(_literal, kind.span))}]"
            )
        if kind.not_in_past is not None:
            pasts.append(f"        WHEN {_literal(kind.name)} THEN {_literal(kind.not_in_past)}")
    values = {
        "SPECS": "\n".join(specs),
        "SHAPES": "\n".join(shapes),
        "SPANS": "\n".join(spans),
        "PASTS": "\n".join(pasts),
        "WIDEST_OFFSET_S": str(int(WIDEST_OFFSET.total_seconds())),
        "PLAIN_PAST_DETAIL": _literal(PLAIN_PAST_DETAIL),
        "PAST_DETAIL": _literal(PAST_DETAIL),
        "REFUSED": REFUSED,
        "USING": _USING,
        "KNOWN_KINDS": _literal(KNOWN_KINDS_DETAIL),
        "KIND_HINT": _literal(KIND_HINT),
        "MAX_KEY": str(MAX_IDEMPOTENCY_KEY_CHARS),
        "UNEXPECTED_KEY_HINT": _literal(UNEXPECTED_KEY_HINT),
        "ID_HINT": _literal(ID_HINT),
        "EMAILS_HINT": _literal(EMAILS_HINT),
        "MAX_EMAIL": str(MAX_EMAIL_CHARS),
        "EMAIL_FORM": _anchored(EMAIL_FORM),
        "EMAIL_DETAIL": _literal(EMAIL_DETAIL),
        "EMAIL_HINT": _literal(EMAIL_HINT),
        "DATETIME_HINT": _literal(DATETIME_HINT),
        "DATETIME_DETAIL": _literal(DATETIME_DETAIL),
        "PLAIN_FORM": _anchored(PLAIN_FORM),
        "ISO_FORM": _anchored(ISO_FORM),
        "TIME_OF_DAY_DETAIL": _literal(TIME_OF_DAY_DETAIL),
        "FIRST_YEAR": str(YEARS[0]),
        "LAST_YEAR": str(YEARS[1]),
        "YEARS_DETAIL": _literal(YEARS_DETAIL),
        "MAX_OFFSET_HOURS": str(MAX_OFFSET_HOURS),
        "OFFSET_DETAIL": _literal(OFFSET_DETAIL),
        "REAL_DATE_DETAIL": _literal(REAL_DATE_DETAIL),
        "SAME_FORM_HINT": _literal(SAME_FORM_HINT),
        "MAX_PAYLOAD_BYTES": str(MAX_PAYLOAD_BYTES),
        "SIZE_DETAIL": _literal(SIZE_DETAIL),
    }
    rendered = _TEMPLATE
    for name, value in values.items():
        rendered = rendered.replace(f"@{name}@", value)
    assert not re.search(r"@[A-Z_]+@", rendered), "a placeholder was left unfilled"
    return rendered


def _literal(text: str) -> str:
    """A standard SQL string literal (standard_conforming_strings: backslashes are themselves)."""
    return "'" + text.replace("'", "''") + "'"


def _anchored(pattern: str) -> str:
    return _literal(f"^(?:{pattern})$")


_MIGRATION = '''"""@TITLE@

Replaces the write-intent validation function with the rendering of the declaration in
`syncd.intent_kinds` as it is now (generated by `make intent-migration`): the INSERT trigger then
refuses exactly what Python's `check_intent` refuses. The PL/pgSQL is frozen here as a migration must
be; a unit test keeps the newest such revision equal to `render_validate_function()`.

Revision ID: @REVISION@
Revises: @DOWN@
Create Date: @DATE@
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "@REVISION@"
down_revision: str | None = "@DOWN@"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALIDATE_FUNCTION = r"""@FUNCTION@"""


def upgrade() -> None:
    # Straight to the driver: text() would read `:name` in the PL/pgSQL as bind parameters.
    op.get_bind().exec_driver_sql(VALIDATE_FUNCTION, execution_options={"no_parameters": True})


def downgrade() -> None:
    previous = _revision("@PREVIOUS_FILE@").VALIDATE_FUNCTION
    op.get_bind().exec_driver_sql(previous, execution_options={"no_parameters": True})


def _revision(filename: str) -> ModuleType:
    """The revision that froze the function before this one, as it was."""
    path = Path(__file__).with_name(filename)
    spec = importlib.util.spec_from_file_location("syncd_migration_" + filename.split("_")[0], path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
'''


def render_migration(versions: Path, title: str, today: str) -> tuple[Path, str]:
    """A new Alembic revision after the newest in `versions` that freezes today's rendering; its
    downgrade restores the function of the newest revision that froze one."""
    files = sorted(p for p in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
    if not files:
        raise ValueError(f"{versions}: no migrations found")
    newest = files[-1]
    previous = [p for p in files if "VALIDATE_FUNCTION = " in p.read_text(encoding="utf-8")]
    if not previous:
        raise ValueError(f"{versions}: no migration freezes the validation function yet")
    down = newest.name.split("_")[0]
    revision = f"{int(down) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:40] or "intent_kinds"
    values = {
        "TITLE": title.rstrip(".") + ".",
        "REVISION": revision,
        "DOWN": down,
        "DATE": today,
        "FUNCTION": render_validate_function(),
        "PREVIOUS_FILE": previous[-1].name,
    }
    text = _MIGRATION
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return versions / f"{revision}_{slug}.py", text


def main(argv: list[str] | None = None) -> int:
    """`python -m syncd.db.intent_check "Title of the change"`: write the next revision."""
    import datetime as dt
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].strip():
        print(
            'usage: python -m syncd.db.intent_check "what changed in syncd/intent_kinds.py"', file=sys.stderr
        )
        return 2
    versions = Path(__file__).resolve().parents[2] / "migrations" / "versions"
    path, text = render_migration(versions, args[0].strip(), dt.date.today().isoformat())
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
