from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.engine import URL

from syncd.db import migrate
from syncd.db.engine import make_engine
from syncd.db.schema import SCHEMAS
from tests.helpers import REPO_ROOT, clean_env, url_for_env

pytestmark = pytest.mark.integration


def test_upgrade_creates_both_schemas_and_is_idempotent(empty_database_url: URL) -> None:
    engine = make_engine(empty_database_url)
    try:
        assert migrate.current_revision(engine) is None
        before, after = migrate.upgrade(engine)
        assert (before, after) == (None, migrate.head_revision())
        assert set(SCHEMAS) <= set(inspect(engine).get_schema_names())
        assert migrate.upgrade(engine) == (after, after)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(engine: Engine) -> None:
    """`alembic check`: the declared MetaData and the migrated database have no difference."""
    assert migrate.schema_drift(engine) == []


def test_drift_is_detected(engine: Engine) -> None:
    """The check above can fail: a table the models do not declare shows up as drift."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE syncd.stray (id bigint PRIMARY KEY)"))
    assert any(diff[0] == "remove_table" for diff in migrate.schema_drift(engine))


def test_require_current_refuses_a_database_behind(empty_database_url: URL) -> None:
    engine = make_engine(empty_database_url)
    try:
        with pytest.raises(migrate.SchemaBehind, match="syncd db upgrade"):
            migrate.require_current(engine)
        migrate.upgrade(engine)
        assert migrate.require_current(engine) == migrate.head_revision()
    finally:
        engine.dispose()


def test_downgrade_then_upgrade(empty_database_url: URL) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            from alembic import command

            command.downgrade(migrate.alembic_config(conn), "base")
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert migrate.schema_drift(engine) == []
    finally:
        engine.dispose()


def test_alembic_command_from_repo_root(empty_database_url: URL) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": url_for_env(empty_database_url)})
    alembic = [sys.executable, "-m", "alembic"]
    upgraded = subprocess.run(
        [*alembic, "upgrade", "head"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr
    checked = subprocess.run([*alembic, "check"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + checked.stdout


def test_0013_keeps_the_history_and_the_feed_of_a_mirror_written_before(empty_database_url: URL) -> None:
    """Upgrading a database with events, versions and changes: the views answer what the tables did,
    open versions become skeletons, and the next change closes them with the event as it was."""
    from alembic import command

    engine = make_engine(empty_database_url)

    def snapshot(conn: Connection) -> tuple[list[Any], list[Any]]:
        history = conn.execute(text("SELECT * FROM simplymeet.event_history ORDER BY version_id")).all()
        feed_rows = conn.execute(text("SELECT * FROM syncd.changes ORDER BY id")).all()
        return [tuple(r) for r in history], [tuple(r) for r in feed_rows]

    def write(conn: Connection, event_id: int, notes: str) -> None:
        raw = json.dumps({"id": event_id, "notes": notes, "state": "active", "pad": "x" * 4000})
        conn.execute(
            text(
                "INSERT INTO simplymeet.events (id, notes, raw, content_hash, first_synced_at, synced_at) "
                "VALUES (:id, :notes, CAST(:raw AS jsonb), :notes, now(), now()) "
                "ON CONFLICT (id) DO UPDATE SET notes = excluded.notes, raw = excluded.raw, "
                "content_hash = excluded.content_hash, synced_at = excluded.synced_at"
            ),
            {"id": event_id, "notes": notes, "raw": raw},
        )

    try:
        with engine.begin() as conn:
            command.upgrade(migrate.alembic_config(conn), "0012")
        for step, notes in enumerate(("first", "second")):
            with engine.begin() as conn:  # one transaction per step: now() moves on
                for event_id in (1, 2, 3):
                    write(conn, event_id, f"{notes} {event_id}" if event_id != 3 or step == 0 else "first 3")
        with engine.begin() as conn:
            conn.execute(text("UPDATE simplymeet.events SET deleted_at = now() WHERE id = 2"))
            before = snapshot(conn)
        assert (len(before[0]), len(before[1])) == (5, 6)  # 1 and 2 have two versions; 2 is deleted
        migrate.upgrade(engine)
        with engine.begin() as conn:
            assert snapshot(conn) == before
            skeletons = conn.execute(
                text("SELECT id FROM syncd.event_versions WHERE raw IS NULL ORDER BY id")
            ).scalars()
            assert list(skeletons) == [1, 3]  # the open versions: their columns are the events rows'
        with engine.begin() as conn:
            write(conn, 3, "third 3")
        with engine.begin() as conn:
            history, changes = snapshot(conn)
        assert history[: len(before[0])] != before[0]  # event 3's version is closed now ...
        closed = [row for row in history if row[1] == 3]
        assert [row[-2] is None for row in closed] == [False, True]  # ... valid_to set, a new one open
        assert [row[-4]["notes"] for row in closed] == ["first 3", "third 3"]
        assert changes[: len(before[1])] == before[1]
        assert changes[-1][-2]["notes"] == "third 3"
    finally:
        engine.dispose()
