"""Alembic environment: one MetaData (syncd.db.schema), a connection handed in by syncd when it has one."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from syncd.db import models  # noqa: F401  # registers every table on the MetaData
from syncd.db.schema import SCHEMAS, metadata

VERSION_TABLE = "alembic_version"


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our two schemas are ours to compare; the public schema may hold anything.
    if type_ == "schema":
        return name in SCHEMAS
    return True


def _run(connection: Connection) -> None:
    # The version table lives in the syncd schema, which must exist before alembic looks for it.
    connection.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS syncd")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        version_table_schema="syncd",
        include_schemas=True,
        include_name=_include_name,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Run by the `alembic` command itself: resolve the database the same way syncd does.
    from syncd.db.engine import open_database
    from syncd.logs import configure_logging
    from syncd.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format, secrets=settings.secrets())
    with open_database(settings) as database, database.engine.begin() as conn:
        _run(conn)


if context.is_offline_mode():
    raise SystemExit(
        "offline (--sql) migrations are not supported: syncd migrations run against a live database"
    )
run_migrations_online()
