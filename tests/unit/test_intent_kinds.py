"""The intent kinds' declaration: the trigger's frozen SQL is its rendering, and Python's check speaks for it."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from syncd.api.endpoints import ENDPOINTS
from syncd.db.intent_check import render_validate_function
from syncd.intent_kinds import (
    INTENT_KINDS,
    MAX_PAYLOAD_BYTES,
    Field,
    check_intent,
    jsonb_text,
    limits_table,
    payload_bytes,
)

pytestmark = pytest.mark.unit

VERSIONS = Path(__file__).parents[2] / "migrations" / "versions"


def _newest_validate_function() -> str:
    """VALIDATE_FUNCTION of the newest revision that defines one."""
    for path in sorted(VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"), reverse=True):
        module = importlib.import_module(f"syncd.migrations.versions.{path.stem}")
        if hasattr(module, "VALIDATE_FUNCTION"):
            return str(module.VALIDATE_FUNCTION)
    raise AssertionError("no migration defines VALIDATE_FUNCTION")


def test_the_newest_migration_holds_the_trigger_the_declaration_renders() -> None:
    # A change to syncd.intent_kinds needs a new migration with the new rendering.
    assert _newest_validate_function() == render_validate_function()


def test_the_rendering_carries_every_declared_limit() -> None:
    sql = render_validate_function()
    for kind in INTENT_KINDS.values():
        spec = [[f.name, f.type, f.required, f.max_chars or f.max_items] for f in kind.fields]
        assert f"WHEN '{kind.name}' THEN '{json.dumps(spec)}'" in sql
    assert f"size > {MAX_PAYLOAD_BYTES} THEN" in sql
    assert "length(NEW.idempotency_key) > 255 THEN" in sql
    assert "NOT BETWEEN 2000 AND 2100 THEN" in sql


def test_a_field_declares_exactly_the_limits_of_its_type() -> None:
    with pytest.raises(ValueError, match="field notes: a string needs max_chars"):
        Field("notes", "string", True)
    with pytest.raises(ValueError, match="field emails: an e-mail list needs max_items"):
        Field("emails", "emails", True)
    with pytest.raises(ValueError, match="field start: a string needs max_chars, nothing else takes it"):
        Field("start", "datetime", True, max_chars=10)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({}, "{}"),
        ({"b": 1, "aa": None, "a": "x"}, '{"a": "x", "b": 1, "aa": null}'),  # shorter keys first
        ({"é": 1, "z": 2}, '{"z": 2, "é": 1}'),  # then by UTF-8 bytes
        (["a", "b"], '["a", "b"]'),
        ('say "hi"\\\n\t\x01\x7fé😀', '"say \\"hi\\"\\\\\\n\\t\\u0001\x7fé😀"'),
    ],
)
def test_jsonb_text_is_postgresqls_text_form(value: object, text: str) -> None:
    assert jsonb_text(value) == text


def test_payload_bytes_counts_utf8_bytes_of_that_form() -> None:
    assert payload_bytes({"notes": "é😀"}) == len('{"notes": "é😀"}'.encode())
    assert payload_bytes({"notes": "é😀"}) == 19  # é is 2 bytes, 😀 4


def test_the_payload_limit_is_on_bytes_not_characters() -> None:
    # 100 addresses of 254 four-byte characters pass each field's limit, not the payload's.
    emails = [f"{n:03}" + "😀" * 239 + "@example.com" for n in range(100)]
    refusal = check_intent("invite", 1, {"emails": emails})
    assert refusal is not None
    assert refusal.message.startswith("write intent refused: invite payload is ")
    assert refusal.message.endswith(f" bytes as JSON, at most {MAX_PAYLOAD_BYTES} are allowed")


@pytest.mark.parametrize(
    ("kind", "event_id", "payload", "key", "message"),
    [
        ("notes", 1, {"notes": "a\x00b"}, None, "text cannot hold a NUL character or an unpaired surrogate"),
        ("notes", 1, {"notes": "\ud800"}, None, "text cannot hold a NUL character or an unpaired surrogate"),
        (
            "notes",
            2**63,
            {"notes": "x"},
            None,
            f"event_id must be a positive SimplyMeet event id, got {2**63}",
        ),
        (
            "notes",
            1,
            {"notes": "x"},
            "k" * 256,
            "idempotency_key has 256 characters, at most 255 are allowed",
        ),
        ("notes", 1, {"notes": "x"}, "\n" * 3, None),
        ("cancel", 1, {"reason": True}, None, 'cancel payload "reason" must be a string, got boolean'),
        (
            "reschedule",
            1,
            {"start": "x", "end": "y", "userId": True},
            None,
            'payload "start" is not a date-time',
        ),
        (
            "reschedule",
            1,
            {"start": "2026-03-01 10:00:00", "end": "2026-03-01 11:00:00", "userId": True},
            None,
            'reschedule payload "userId" must be a positive integer, got boolean',
        ),
        ("notes", 1, {"notes\n": "x"}, None, 'notes payload has unexpected key "notes\\n"'),
    ],
)
def test_python_refuses_what_postgresql_could_not_hold_or_would_refuse(
    kind: str, event_id: int, payload: object, key: str | None, message: str | None
) -> None:
    refusal = check_intent(kind, event_id, payload, key)
    if message is None:
        assert refusal is None
    else:
        assert refusal is not None
        assert message in refusal.message
        assert "\n" not in refusal.message  # one line, whatever the input


def test_the_write_back_page_shows_the_declared_limits() -> None:
    page = (Path(__file__).parents[2] / "docs" / "write-back.md").read_text(encoding="utf-8")
    assert limits_table() in page


NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def _reschedule(start: str, end: str = "2031-01-01 00:00:00") -> dict[str, str]:
    if "T" in start:
        end = "2031-01-01T00:00:00Z"
    return {"start": start, "end": end}


@pytest.mark.parametrize(
    ("start", "zone", "refused"),
    [
        ("2026-12-01T11:59:59Z", None, True),  # an instant: exactly
        ("2026-12-01T12:00:00Z", None, False),  # now is not the past
        ("2026-12-01T13:59:59+02:00", None, True),
        ("2026-12-01 00:00:00", None, False),  # plain: 12 hours ago in UTC, still ahead somewhere
        ("2026-11-30 21:00:59", None, True),  # plain: past in every zone (before now less 14:59)
        ("2026-11-30 21:01:00", None, False),
        ("2026-12-01 11:00:00", dt.UTC, True),  # the zone known (the command line): exactly
        ("2026-12-01 11:00:00", ZoneInfo("America/New_York"), False),  # 16:00 UTC
    ],
)
def test_a_reschedule_into_the_past_is_refused_unless_allowed(
    start: str, zone: dt.tzinfo | None, refused: bool
) -> None:
    refusal = check_intent("reschedule", 1, _reschedule(start), now=NOW, plain_zone=zone)
    if not refused:
        assert refusal is None
        return
    assert refusal is not None
    assert refusal.message == f'write intent refused: reschedule payload "start" is in the past: "{start}"'
    assert "allow_past" in str(refusal.detail)
    assert ("every zone" in str(refusal.detail)) == (" " in start and zone is None)
    assert (
        check_intent("reschedule", 1, _reschedule(start), allow_past=True, now=NOW, plain_zone=zone) is None
    )


def test_the_past_is_checked_after_the_span_and_only_for_the_declared_field() -> None:
    backwards = check_intent(
        "reschedule", 1, _reschedule("2020-01-01 10:00:00", "2020-01-01 09:00:00"), now=NOW
    )
    assert backwards is not None
    assert backwards.message.endswith('"end" must be after "start"')
    assert [k.name for k in INTENT_KINDS.values() if k.not_in_past] == ["reschedule"]
    sql = render_validate_function()
    assert "WHEN 'reschedule' THEN 'start'" in sql
    assert "TG_OP = 'INSERT' AND NEW.allow_past IS NOT TRUE" in sql
    assert f"+ {14 * 3600 + 59 * 60} < extract(epoch FROM now())" in sql


def test_the_command_line_spelling_is_declared_beside_the_kind() -> None:
    spelled = {kind.name: kind.command_name for kind in INTENT_KINDS.values()}
    assert spelled["no_show"] == "no-show"
    assert spelled["resend_notification"] == "resend"
    assert spelled["cancel"] == "cancel"
    page = (Path(__file__).parents[2] / "docs" / "write-back.md").read_text(encoding="utf-8")
    for kind, command in spelled.items():
        # The kinds table: the database's kind, then the command that queues it.
        assert f"| `{kind}` | `syncd intent {command}` |" in page, kind


def test_the_kinds_tables_come_from_the_declaration() -> None:
    """Each kind's row names its command, its API call (from the endpoint table) and its read-back."""
    page = (Path(__file__).parents[2] / "docs" / "write-back.md").read_text(encoding="utf-8")
    for kind in INTENT_KINDS.values():
        endpoint = ENDPOINTS[kind.endpoint]
        [row] = [line for line in page.splitlines() if line.startswith(f"| `{kind.name}` | `syncd intent ")]
        assert row.endswith(f"| `{endpoint.method} {endpoint.path}` |"), row
        assert f"| `{kind.name}` | {kind.settled_when} |" in page, kind.name
        if kind.list_endpoint is not None:
            assert ENDPOINTS[kind.list_endpoint].path.endswith("-list")
        if kind.batch_by is not None:
            assert kind.batch_by in {f.name for f in kind.fields}


def test_the_generated_migration_freezes_the_rendering_after_the_newest_revision() -> None:
    from syncd.db.intent_check import render_migration

    versions = Path(__file__).parents[2] / "migrations" / "versions"
    newest = sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))[-1]
    path, text = render_migration(versions, "Adds the kind uncancel", "2026-12-01")
    revision = f"{int(newest.name[:4]) + 1:04d}"
    assert path == versions / f"{revision}_adds_the_kind_uncancel.py"
    namespace: dict[str, object] = {}
    exec(compile(text, str(path), "exec"), namespace)  # noqa: S102  # our own generated source
    assert namespace["revision"] == revision
    assert namespace["down_revision"] == newest.name[:4]
    assert namespace["VALIDATE_FUNCTION"] == render_validate_function()
    froze = [
        p
        for p in sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))
        if "VALIDATE_FUNCTION = " in p.read_text()
    ]
    assert f'_revision("{froze[-1].name}")' in text  # the downgrade restores the function frozen before
