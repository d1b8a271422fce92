from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine, inspect, text
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
