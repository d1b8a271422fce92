"""Least privilege: a writer (CRM) inserts intents and reads their status; a reader (BI) reads the mirror."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from syncd.db.intents import RoleMissing, grant_reader, grant_writer
from tests.helpers import url_for_env

pytestmark = pytest.mark.integration

Denied = psycopg.errors.InsufficientPrivilege


def _libpq(url: URL) -> str:
    return url_for_env(url.set(drivername="postgresql"))


@pytest.fixture
def roles(database_url: URL) -> Iterator[dict[str, str]]:
    """Two NOLOGIN roles with unique names (roles are cluster-wide); one name needs quoting."""
    suffix = uuid.uuid4().hex[:8]
    names = {"writer": f'crm "writer"; {suffix}', "reader": f"syncd_test_reader_{suffix}"}
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        for name in names.values():
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield names
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        for name in names.values():
            # Its grants in this database go first; the database itself is dropped after the test.
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _as(conn: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))


def test_the_writer_inserts_intents_and_reads_their_status_only(
    engine: Engine, database_url: URL, roles: dict[str, str]
) -> None:
    with engine.begin() as conn:
        done = grant_writer(conn, roles["writer"])
    assert any("INSERT" in line for line in done)
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        _as(conn, roles["writer"])
        row = conn.execute(
            "INSERT INTO syncd.write_intents (kind, event_id, payload, idempotency_key) "
            """VALUES ('cancel', 11, '{"reason": "r"}', 'k') """
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
        ).fetchone()
        assert row is not None
        status = conn.execute(
            "SELECT status, attempts FROM syncd.write_intents WHERE id = %s", row
        ).fetchone()
        assert status == ("pending", 0)
        assert conn.execute("SELECT count(*) FROM syncd.intent_attempts").fetchone() == (0,)

        for forbidden in (
            "SELECT count(*) FROM simplymeet.events",
            "SELECT count(*) FROM syncd.sync_runs",
            "UPDATE syncd.write_intents SET status = 'withdrawn'",
            "DELETE FROM syncd.write_intents",
            # Bookkeeping columns are syncd's: no intent is born succeeded or already due later.
            "INSERT INTO syncd.write_intents (kind, event_id, status) VALUES ('no_show', 1, 'succeeded')",
            "INSERT INTO syncd.write_intents (kind, event_id, next_attempt_at) VALUES ('no_show', 1, now())",
            "INSERT INTO syncd.intent_attempts (intent_id, attempt) VALUES (1, 1)",
            "TRUNCATE syncd.write_intents",
        ):
            with pytest.raises(Denied):
                conn.execute(forbidden)


def test_the_reader_reads_the_mirror_and_nothing_else(
    engine: Engine, database_url: URL, roles: dict[str, str]
) -> None:
    with engine.begin() as conn:
        grant_reader(conn, roles["reader"])
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        # A table a later migration adds is readable too (default privileges).
        conn.execute("CREATE TABLE simplymeet.added_later (id bigint)")
        _as(conn, roles["reader"])
        assert conn.execute("SELECT count(*) FROM simplymeet.events").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM simplymeet.added_later").fetchone() == (0,)
        for forbidden in (
            "INSERT INTO syncd.write_intents (kind, event_id) VALUES ('no_show', 1)",
            "SELECT count(*) FROM syncd.write_intents",
            "DELETE FROM simplymeet.events",
            "UPDATE simplymeet.events SET notes = 'x'",
        ):
            with pytest.raises(Denied):
                conn.execute(forbidden)
        conn.execute("RESET ROLE")
        conn.execute("DROP TABLE simplymeet.added_later")


def test_the_reader_reads_the_analysts_views(
    engine: Engine, database_url: URL, roles: dict[str, str]
) -> None:
    """Views for BI (docs/analytics.md), now and later ones; EXECUTE on their functions even where
    PUBLIC has lost it (a hardened database)."""
    views = ("bookings", "weekly_bookings_by_event_type", "cancellation_rates", "no_show_rates")
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute("REVOKE EXECUTE ON FUNCTION simplymeet_bi.known_zone(text) FROM PUBLIC")
        _as(conn, roles["reader"])
        with pytest.raises(Denied):
            conn.execute("SELECT count(*) FROM simplymeet_bi.bookings")
    with engine.begin() as conn:
        grant_reader(conn, roles["reader"])
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        conn.execute("CREATE VIEW simplymeet_bi.added_later AS SELECT 1 AS one")
        _as(conn, roles["reader"])
        for view in (*views, "added_later"):
            conn.execute(sql.SQL("SELECT * FROM simplymeet_bi.{}").format(sql.Identifier(view))).fetchall()
        assert conn.execute("SELECT simplymeet_bi.known_zone('Asia/Tokyo')").fetchone() == ("Asia/Tokyo",)
        with pytest.raises(Denied):
            conn.execute("CREATE VIEW simplymeet_bi.mine AS SELECT 1")
        conn.execute("RESET ROLE")
        conn.execute("DROP VIEW simplymeet_bi.added_later")


def test_grants_are_idempotent(engine: Engine, roles: dict[str, str]) -> None:
    with engine.begin() as conn:
        assert grant_writer(conn, roles["writer"]) == grant_writer(conn, roles["writer"])
        grant_reader(conn, roles["reader"])
        grant_reader(conn, roles["reader"])


def test_a_missing_role_is_named_and_not_created(engine: Engine) -> None:
    name = f"syncd_no_such_role_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn, pytest.raises(RoleMissing, match=f"role '{name}' does not exist"):
        grant_writer(conn, name)
    with engine.begin() as conn, pytest.raises(RoleMissing):
        grant_reader(conn, "public")
