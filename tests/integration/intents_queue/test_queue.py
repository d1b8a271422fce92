"""The queue's admin statements: enqueue, idempotency keys, list, retry, withdraw, NOTIFY, updated_at."""

from __future__ import annotations

import datetime as dt
import json

import psycopg
import pytest
from sqlalchemy import Engine, text, update
from sqlalchemy.engine import URL

from syncd.db import intents
from syncd.db.intents import (
    NOTIFY_CHANNEL,
    PAYLOADS,
    IdempotencyKeyReused,
    IntentNotFound,
    IntentRefused,
    IntentStatusError,
    enqueue,
    list_intents,
    retry,
    withdraw,
    write_intents,
)
from tests.helpers import url_for_env

pytestmark = pytest.mark.integration


def _libpq(url: URL) -> str:
    return url_for_env(url.set(drivername="postgresql"))


def _set_status(engine: Engine, intent_id: int, status: str, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(write_intents).where(write_intents.c.id == intent_id).values(status=status, **values)
        )


def test_enqueue_returns_the_id_and_stores_the_intent(engine: Engine) -> None:
    guard = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        first = enqueue(conn, "cancel", 42, {"reason": "double booked"}, expected_updated_at=guard)
        second = enqueue(conn, "no_show", 43, {})
        found = list_intents(conn)
    assert second > first
    assert [(i.id, i.kind, i.event_id, i.status) for i in found] == [
        (second, "no_show", 43, "pending"),
        (first, "cancel", 42, "pending"),
    ]
    assert found[1].payload == {"reason": "double booked"}
    assert found[1].expected_updated_at == guard


def test_a_refused_intent_raises_and_leaves_the_transaction_usable(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(
            IntentRefused, match='invite payload "emails\\[0\\]" is not an e-mail address'
        ) as refused:
            enqueue(conn, "invite", 1, {"emails": ["not-an-address"]})
        assert refused.value.detail is not None
        assert enqueue(conn, "invite", 1, {"emails": ["ann@example.com"]}) > 0
    with engine.connect() as conn:
        assert [i.payload for i in list_intents(conn)] == [{"emails": ["ann@example.com"]}]


def test_the_same_idempotency_key_is_one_intent(engine: Engine) -> None:
    with engine.begin() as conn:
        first = enqueue(conn, "notes", 7, {"notes": "hi"}, idempotency_key="crm-123")
    with engine.begin() as conn:
        assert enqueue(conn, "notes", 7, {"notes": "hi"}, idempotency_key="crm-123") == first
        with pytest.raises(IdempotencyKeyReused, match="'crm-123' already names intent"):
            enqueue(conn, "notes", 7, {"notes": "something else"}, idempotency_key="crm-123")
        assert len(list_intents(conn)) == 1


def test_sql_duplicates_conflict_or_do_nothing(database_url: URL) -> None:
    """What a CRM writes: ON CONFLICT (idempotency_key) DO NOTHING; a plain duplicate is refused."""
    insert = (
        "INSERT INTO syncd.write_intents (kind, event_id, payload, idempotency_key) "
        """VALUES ('cancel', 5, '{"reason": "r"}', 'k-1')"""
    )
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute(insert)
        done = conn.execute(insert + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id").fetchall()
        assert done == []
        with pytest.raises(psycopg.errors.UniqueViolation, match="uq_write_intents_idempotency_key"):
            conn.execute(insert)
        assert conn.execute("SELECT count(*) FROM syncd.write_intents").fetchone() == (1,)
        # Without keys, two identical decisions are two intents: the key is what says "the same".
        conn.execute("INSERT INTO syncd.write_intents (kind, event_id) VALUES ('no_show', 5)")
        conn.execute("INSERT INTO syncd.write_intents (kind, event_id) VALUES ('no_show', 5)")
        assert conn.execute("SELECT count(*) FROM syncd.write_intents").fetchone() == (3,)


def test_list_filters_by_status_and_limits(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = [enqueue(conn, "notes", n, {"notes": str(n)}) for n in range(1, 6)]
    _set_status(engine, ids[0], "failed", failure_reason="rejected", last_error="400 notes: too long")
    with engine.connect() as conn:
        assert [i.id for i in list_intents(conn, limit=2)] == [ids[4], ids[3]]
        failed = list_intents(conn, status="failed")
        assert [(i.id, i.failure_reason, i.last_error) for i in failed] == [
            (ids[0], "rejected", "400 notes: too long")
        ]
        assert list_intents(conn, status="succeeded") == []
        with pytest.raises(intents.IntentError, match="unknown status 'done'"):
            list_intents(conn, status="done")


def test_retry_puts_a_failed_intent_back_with_a_fresh_budget(engine: Engine) -> None:
    with engine.begin() as conn:
        intent_id = enqueue(conn, "cancel", 9, {})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    _set_status(
        engine,
        intent_id,
        "failed",
        attempts=5,
        failure_reason="exhausted",
        last_error="503 try later",
        finished_at=later,
        next_attempt_at=later,
        sent_at=later,
    )
    with engine.begin() as conn:
        again = retry(conn, intent_id)
    assert again.status == "pending"
    assert again.attempts == 0
    assert again.failure_reason is None
    assert again.finished_at is None
    assert again.sent_at == later  # it may have reached the API: the replay reads back before resending
    assert again.next_attempt_at < later
    assert again.last_error == "503 try later"  # kept for the operator; the next attempt replaces it


@pytest.mark.parametrize("status", ["pending", "in_flight", "succeeded", "withdrawn"])
def test_only_failed_intents_can_be_retried(engine: Engine, status: str) -> None:
    with engine.begin() as conn:
        intent_id = enqueue(conn, "cancel", 9, {})
    if status != "pending":
        _set_status(engine, intent_id, status)
    with engine.begin() as conn, pytest.raises(IntentStatusError, match=f"it is {status}; only failed"):
        retry(conn, intent_id)


def test_withdraw_takes_a_pending_intent_out(engine: Engine) -> None:
    with engine.begin() as conn:
        intent_id = enqueue(conn, "invite", 9, {"emails": ["a@b.co"]})
        gone = withdraw(conn, intent_id)
    assert (gone.status, gone.failure_reason) == ("withdrawn", "withdrawn")
    assert gone.finished_at is not None
    with engine.begin() as conn, pytest.raises(IntentStatusError, match="it is withdrawn; only pending"):
        withdraw(conn, intent_id)
    with engine.begin() as conn, pytest.raises(IntentStatusError, match="it is withdrawn; only failed"):
        retry(conn, intent_id)


@pytest.mark.parametrize("status", ["in_flight", "succeeded", "failed"])
def test_only_pending_intents_can_be_withdrawn(engine: Engine, status: str) -> None:
    with engine.begin() as conn:
        intent_id = enqueue(conn, "cancel", 9, {})
    _set_status(engine, intent_id, status)
    with (
        engine.begin() as conn,
        pytest.raises(IntentStatusError, match=f"intent {intent_id}: it is {status}"),
    ):
        withdraw(conn, intent_id)


def test_unknown_ids_are_named(engine: Engine) -> None:
    with engine.begin() as conn:
        with pytest.raises(IntentNotFound, match="there is no intent 999"):
            retry(conn, 999)
        with pytest.raises(IntentNotFound, match="there is no intent 999"):
            withdraw(conn, 999)


def _notifications(conn: psycopg.Connection[tuple[object, ...]], expected: int) -> list[str]:
    got = []
    for notice in conn.notifies(timeout=5, stop_after=expected):
        assert notice.channel == NOTIFY_CHANNEL
        got.append(notice.payload)
    return got


def test_notify_on_insert_and_on_return_to_pending(database_url: URL, engine: Engine) -> None:
    with psycopg.connect(_libpq(database_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with psycopg.connect(_libpq(database_url), autocommit=True) as crm:
            row = crm.execute(
                """INSERT INTO syncd.write_intents (kind, event_id, payload) VALUES ('notes', 3, '{"notes": "x"}') """
                "RETURNING id"
            ).fetchone()
        assert row is not None
        assert _notifications(listener, 1) == [str(row[0])]

        _set_status(engine, row[0], "failed", failure_reason="rejected")  # no wake-up for this
        with engine.begin() as conn:
            retry(conn, row[0])
        assert _notifications(listener, 1) == [str(row[0])]


def test_notify_is_sent_at_commit_only(database_url: URL) -> None:
    with psycopg.connect(_libpq(database_url), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with psycopg.connect(_libpq(database_url)) as crm:
            crm.execute("INSERT INTO syncd.write_intents (kind, event_id) VALUES ('delete', 3)")
            crm.rollback()
            crm.execute("INSERT INTO syncd.write_intents (kind, event_id) VALUES ('delete', 4)")
            crm.commit()
        payloads = _notifications(listener, 1)
        assert len(payloads) == 1
        with psycopg.connect(_libpq(database_url)) as check:
            assert check.execute(
                "SELECT event_id FROM syncd.write_intents WHERE id = %s", (int(payloads[0]),)
            ).fetchone() == (4,)


def test_payload_shapes_agree_with_the_trigger(database_url: URL) -> None:
    """PAYLOADS (Python) and the trigger's table (PL/pgSQL) describe the same keys."""
    for kind, keys in PAYLOADS.items():
        shape = "{" + ", ".join(key + ("" if required else "?") for key, required in keys) + "}"
        with (
            psycopg.connect(_libpq(database_url)) as conn,
            pytest.raises(psycopg.errors.CheckViolation) as refused,
        ):
            conn.execute(
                "INSERT INTO syncd.write_intents (kind, event_id, payload) VALUES (%s, 1, %s::jsonb)",
                (kind, json.dumps({"zzz_unexpected": 1})),
            )
        assert refused.value.diag.message_detail == f"{kind} takes {shape}"


def test_updated_at_follows_every_update(engine: Engine) -> None:
    with engine.begin() as conn:
        intent_id = enqueue(conn, "cancel", 1, {})
        created = conn.execute(text("SELECT updated_at FROM syncd.write_intents")).scalar_one()
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE syncd.write_intents SET last_error = 'x' WHERE id = :id"), {"id": intent_id}
        )
        touched = conn.execute(text("SELECT updated_at FROM syncd.write_intents")).scalar_one()
    assert touched > created
