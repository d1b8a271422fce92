"""Migrations, driven from syncd's own code: upgrade, where the database stands, and drift checks."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from syncd.db import models  # noqa: F401  # registers every table on the MetaData
from syncd.db.errors import SchemaBehind  # raised here, defined where the CLI can import it cheaply
from syncd.db.schema import SCHEMAS, metadata


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(str(files("syncd.migrations")))))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": "syncd"})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to `revision`; returns (before, after). Safe when two processes race."""
    before = current_revision(engine)
    with engine.begin() as conn:
        # One migrator at a time: a second `syncd db upgrade` waits, then finds nothing to do.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('syncd.migrations'))")
        command.upgrade(alembic_config(conn), revision)
    after = current_revision(engine)
    assert after is not None
    return before, after


def require_current(engine: Engine) -> str:
    """The database's revision, or SchemaBehind when it is not at this code's head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing (empty database)'}, this syncd needs {head}: "
            "run `syncd db upgrade`"
        )
    return current


def schema_drift(engine: Engine) -> list[Any]:
    """Differences between the declared MetaData and the migrated database (empty when they agree)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, parent: type_ != "schema" or name in SCHEMAS,
                "compare_type": True,
                "compare_server_default": True,
                "version_table_schema": "syncd",
            },
        )
        return list(compare_metadata(context, metadata))
