"""Bad intents are refused AT THE INSERT (and at an UPDATE), with a message that names the problem."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.intent_kinds import check_intent
from tests.helpers import url_for_env

pytestmark = pytest.mark.integration


def _libpq(url: URL) -> str:
    return url_for_env(url.set(drivername="postgresql"))


def _insert(database_url: URL, kind: str, event_id: int, payload: Any) -> int:
    with psycopg.connect(_libpq(database_url)) as conn:
        row = conn.execute(
            "INSERT INTO syncd.write_intents (kind, event_id, payload) VALUES (%s, %s, %s::jsonb) RETURNING id",
            (kind, event_id, json.dumps(payload)),
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_a_plain_insert_fills_the_defaults(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                """VALUES ('notes', 42, '{"notes": "call back"}')"""
            )
        )
        conn.execute(text("INSERT INTO syncd.write_intents (kind, event_id) VALUES ('no_show', 43)"))
        rows = conn.execute(text("SELECT * FROM syncd.write_intents ORDER BY id")).mappings().all()
    assert [(r["kind"], r["event_id"], r["payload"]) for r in rows] == [
        ("notes", 42, {"notes": "call back"}),
        ("no_show", 43, {}),
    ]
    first = rows[0]
    assert first["id"] < rows[1]["id"]
    assert first["status"] == "pending"
    assert first["attempts"] == 0
    assert first["created_at"] is not None
    assert first["updated_at"] == first["created_at"]
    assert first["next_attempt_at"] == first["created_at"]
    for column in (
        "idempotency_key",
        "claimed_pid",
        "sent_at",
        "finished_at",
        "failure_reason",
        "last_error",
    ):
        assert first[column] is None


GOOD: list[tuple[str, dict[str, Any]]] = [
    ("cancel", {"reason": "customer asked"}),
    ("cancel", {}),
    ("cancel", {"reason": None}),
    ("cancel", {"reason": ""}),
    ("reschedule", {"start": "2031-03-01 10:00:00", "end": "2031-03-01 10:30:00"}),
    ("reschedule", {"start": "2031-03-01T10:00:00+01:00", "end": "2031-03-01T09:30:00Z"}),
    ("reschedule", {"start": "2031-03-01T10:00:00.5+0100", "end": "2031-03-01T10:00:01+01", "userId": 3}),
    ("reschedule", {"start": "2028-02-29 23:59:59", "end": "2028-03-01 00:00:00", "eventTypeId": 7}),
    ("reschedule", {"start": "2031-03-01 10:00:00", "end": "2031-03-01 11:00:00", "eventTypeId": None}),
    ("notes", {"notes": ""}),
    ("notes", {"notes": "line one\nline two"}),
    ("invite", {"emails": ["ann@example.com"]}),
    ("invite", {"emails": ["ann@example.com", "bob.b+crm@mail.example.org"], "message": "Welcome"}),
    ("no_show", {}),
    ("delete", {}),
    ("resend_notification", {}),
]


@pytest.mark.parametrize(("kind", "payload"), GOOD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(GOOD)])
def test_good_intents_are_accepted(database_url: URL, kind: str, payload: dict[str, Any]) -> None:
    assert check_intent(kind, 987654321, payload) is None
    assert _insert(database_url, kind, 987654321, payload) > 0  # an event the mirror does not know


BAD: list[tuple[str, int, Any, str]] = [
    ("frobnicate", 1, {}, 'unknown kind "frobnicate"'),
    ("Cancel", 1, {}, 'unknown kind "Cancel"'),
    ("cancel", 0, {}, "event_id must be a positive SimplyMeet event id, got 0"),
    ("cancel", -5, {}, "event_id must be a positive SimplyMeet event id, got -5"),
    ("cancel", 1, [], "cancel payload must be a JSON object, got array"),
    ("notes", 1, "hello", "notes payload must be a JSON object, got string"),
    ("cancel", 1, {"reason": 5}, 'cancel payload "reason" must be a string, got number'),
    ("cancel", 1, {"reasons": "x"}, 'cancel payload has unexpected key "reasons"'),
    ("no_show", 1, {"reason": "x"}, 'no_show payload has unexpected key "reason"'),
    ("delete", 1, {"id": 1}, 'delete payload has unexpected key "id"'),
    ("notes", 1, {}, 'notes payload is missing "notes"'),
    ("notes", 1, {"notes": None}, 'notes payload is missing "notes"'),
    ("notes", 1, {"notes": ["a"]}, 'notes payload "notes" must be a string, got array'),
    ("notes", 1, {"text": "a"}, 'notes payload has unexpected key "text"'),
    ("invite", 1, {}, 'invite payload is missing "emails"'),
    ("invite", 1, {"emails": "ann@example.com"}, 'invite payload "emails" must be a non-empty array'),
    ("invite", 1, {"emails": []}, 'invite payload "emails" must be a non-empty array'),
    (
        "invite",
        1,
        {"emails": ["ann@example.com", 7]},
        'invite payload "emails[1]" must be a string, got number',
    ),
    (
        "invite",
        1,
        {"emails": ["ann@example.com", "bob@"]},
        'invite payload "emails[1]" is not an e-mail address: "bob@"',
    ),
    ("invite", 1, {"emails": ["Ann <ann@example.com>"]}, 'is not an e-mail address: "Ann <ann@example.com>"'),
    ("invite", 1, {"emails": ["ann@example"]}, 'invite payload "emails[0]" is not an e-mail address'),
    ("invite", 1, {"emails": ["a@b.c"], "message": 1}, 'invite payload "message" must be a string'),
    ("invite", 1, {"emails": ["a@b.c"], "cc": []}, 'invite payload has unexpected key "cc"'),
    ("reschedule", 1, {"start": "2031-03-01 10:00:00"}, 'reschedule payload is missing "end"'),
    ("reschedule", 1, {"end": "2031-03-01 10:00:00"}, 'reschedule payload is missing "start"'),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 11:00:00", "event_type_id": 3},
        'reschedule payload has unexpected key "event_type_id"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00", "end": "2031-03-01 11:00:00"},
        'reschedule payload "start" is not a date-time: "2031-03-01 10:00"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01T10:00:00", "end": "2031-03-01T11:00:00"},
        'reschedule payload "start" is not a date-time: "2031-03-01T10:00:00"',
    ),
    (
        "reschedule",
        1,
        {"start": "tomorrow", "end": "2031-03-01 11:00:00"},
        'reschedule payload "start" is not a date-time: "tomorrow"',
    ),
    (
        "reschedule",
        1,
        {"start": 1767225600, "end": "2031-03-01 11:00:00"},
        'reschedule payload "start" must be a date-time string, got number',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-02-30 10:00:00", "end": "2031-03-01 11:00:00"},
        'reschedule payload "start" is not a real date-time: "2031-02-30 10:00:00"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2026-13-01T11:00:00Z"},
        'reschedule payload "end" is not a real date-time: "2026-13-01T11:00:00Z"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 24:00:00", "end": "2031-03-02 11:00:00"},
        'reschedule payload "start" is not a valid time of day',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 10:59:60"},
        'reschedule payload "end" is not a valid time of day',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 10:00:00"},
        'reschedule payload "end" must be after "start"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01T10:00:00+01:00", "end": "2031-03-01T09:00:00Z"},
        'reschedule payload "end" must be after "start"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01T11:00:00Z"},
        'reschedule payload "start" and "end" must use the same form',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 11:00:00", "eventTypeId": "5"},
        'reschedule payload "eventTypeId" must be a positive integer, got string',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 11:00:00", "userId": 2.5},
        'reschedule payload "userId" must be a positive integer, got number',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01 10:00:00", "end": "2031-03-01 11:00:00", "userId": 0},
        'reschedule payload "userId" must be a positive integer, got number',
    ),
    # The declared limits (syncd.intent_kinds); tests/integration/intents_queue/test_limits_agree.py
    # walks their edges.
    ("notes", 1, {"notes": "x" * 10_001}, 'notes payload "notes" has 10001 characters, at most 10000'),
    ("cancel", 1, {"reason": "é" * 1_001}, 'cancel payload "reason" has 1001 characters, at most 1000'),
    (
        "invite",
        1,
        {"emails": [f"a{n}@example.com" for n in range(101)]},
        'invite payload "emails" has 101 addresses, at most 100 are allowed',
    ),
    (
        "invite",
        1,
        {"emails": ["a" * 243 + "@example.com"]},
        'invite payload "emails[0]" has 255 characters, at most 254 are allowed',
    ),
    (
        "reschedule",
        1,
        {"start": "0001-01-01 10:00:00", "end": "0001-01-01 11:00:00"},
        'reschedule payload "start" is outside the accepted years: "0001-01-01 10:00:00"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01T10:00:00+15:00", "end": "2031-03-01T11:00:00+15:00"},
        'reschedule payload "start" has an impossible UTC offset: "2031-03-01T10:00:00+15:00"',
    ),
    (
        "reschedule",
        1,
        {"start": "2031-03-01T10:00:00.1234567Z", "end": "2031-03-01T11:00:00Z"},
        'reschedule payload "start" is not a date-time: "2031-03-01T10:00:00.1234567Z"',
    ),
    (
        "invite",
        1,
        {"emails": [f"{n:03}" + "😀" * 200 + "@example.com" for n in range(81)]},
        "invite payload is 66351 bytes as JSON, at most 65536 are allowed",
    ),
]


@pytest.mark.parametrize(
    ("kind", "event_id", "payload", "message"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)]
)
def test_bad_intents_are_refused_at_the_insert(
    database_url: URL, kind: str, event_id: int, payload: Any, message: str
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as refused:
        _insert(database_url, kind, event_id, payload)
    primary = refused.value.diag.message_primary or ""
    assert primary.startswith("write intent refused: ")
    assert message in primary
    # Python's check refuses it in the same words (test_limits_agree.py generates many more cases).
    python = check_intent(kind, event_id, payload)
    assert python is not None
    assert (python.message, python.detail, python.hint) == (
        primary,
        refused.value.diag.message_detail,
        refused.value.diag.message_hint,
    )
    assert refused.value.diag.table_name == "write_intents"
    assert refused.value.diag.schema_name == "syncd"
    with psycopg.connect(_libpq(database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM syncd.write_intents").fetchone() == (0,)


def test_refusals_explain_the_shape_and_list_the_known_kinds(database_url: URL) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as unknown:
        _insert(database_url, "uncancel", 1, {})
    assert unknown.value.diag.message_detail == (
        "known kinds: cancel, reschedule, notes, invite, no_show, delete, resend_notification"
    )
    with pytest.raises(psycopg.errors.CheckViolation) as extra:
        _insert(database_url, "reschedule", 1, {"start": "2031-03-01 10:00:00", "ends": "x"})
    assert extra.value.diag.message_detail == "reschedule takes {start, end, eventTypeId?, userId?}"
    assert "camelCase" in (extra.value.diag.message_hint or "")
    with pytest.raises(psycopg.errors.CheckViolation) as bad_date:
        _insert(database_url, "reschedule", 1, {"start": "01/03/2026", "end": "2031-03-01 11:00:00"})
    assert "ISO 8601" in (bad_date.value.diag.message_detail or "")


def test_a_null_kind_or_payload_is_refused_by_not_null(database_url: URL) -> None:
    with pytest.raises(psycopg.errors.NotNullViolation):
        _insert(database_url, None, 1, {})  # type: ignore[arg-type]
    with psycopg.connect(_libpq(database_url)) as conn, pytest.raises(psycopg.errors.NotNullViolation):
        conn.execute("INSERT INTO syncd.write_intents (kind, event_id, payload) VALUES ('no_show', 1, NULL)")


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("kind = 'explode'", 'unknown kind "explode"'),
        ("""payload = '{"notes": 1}'""", 'notes payload "notes" must be a string'),
        ("event_id = 0", "event_id must be a positive"),
        ("kind = 'invite'", 'invite payload has unexpected key "notes"'),
    ],
)
def test_bad_updates_are_refused_too(database_url: URL, assignment: str, message: str) -> None:
    intent = _insert(database_url, "notes", 1, {"notes": "ok"})
    with (
        psycopg.connect(_libpq(database_url)) as conn,
        pytest.raises(psycopg.errors.CheckViolation) as refused,
    ):
        conn.execute(f"UPDATE syncd.write_intents SET {assignment} WHERE id = %s", (intent,))
    assert message in (refused.value.diag.message_primary or "")


def test_updates_that_leave_the_intent_alone_are_not_checked_again(database_url: URL) -> None:
    intent = _insert(database_url, "notes", 1, {"notes": "ok"})
    with psycopg.connect(_libpq(database_url)) as conn:
        before = conn.execute(
            "SELECT updated_at FROM syncd.write_intents WHERE id = %s", (intent,)
        ).fetchone()
    with psycopg.connect(_libpq(database_url)) as conn:
        conn.execute(
            "UPDATE syncd.write_intents SET attempts = 1, status = 'in_flight' WHERE id = %s", (intent,)
        )
        after = conn.execute(
            "SELECT updated_at, attempts FROM syncd.write_intents WHERE id = %s", (intent,)
        ).fetchone()
    assert before is not None
    assert after is not None
    assert after[1] == 1
    assert after[0] > before[0]  # the touch trigger keeps updated_at current
