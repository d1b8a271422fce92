"""Migrations, driven from syncd's own code: upgrade, where the database stands, and drift checks.

alembic is imported only where a migration runs or the schema is compared: `require_current`, on
the path of every `syncd sync`, reads the version table with one query and the head revision from
the scripts' `revision` lines (about 0.3 s of imports saved per command).
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, text

from syncd.db.errors import SchemaBehind  # raised here, defined where the CLI can import it cheaply

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "syncd.alembic_version"
_REVISION = re.compile(r"^revision(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=]*)?=\s*(?:['\"]([^'\"]+)['\"]|None)", re.MULTILINE)


def _script_location() -> Path:
    return Path(str(files("syncd.migrations")))


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations directory has no revision"
    return head


@cache
def script_head() -> str:
    """The head revision read from the scripts' `revision` / `down_revision` lines, without alembic.

    The chain is linear (one head); anything else is left to alembic's own reading, which
    `head_revision` does (a test checks the two agree)."""
    revisions: dict[str, str | None] = {}
    for script in sorted((_script_location() / "versions").glob("*.py")):
        source = script.read_text(encoding="utf-8")
        found, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if found is not None and down is not None:
            revisions[found.group(1)] = down.group(1)
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else head_revision()


def stored_revision(engine: Engine) -> str | None:
    """The database's revision, by one query on alembic's version table (None when there is none)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": VERSION_TABLE}).scalar() is None:
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return rows[0] if len(rows) == 1 else current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table_schema": "syncd"})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Apply migrations up to `revision`; returns (before, after). Safe when two processes race."""
    from alembic import command

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
    current, head = stored_revision(engine), script_head()
    if current != head:
        raise SchemaBehind(
            f"the database schema is at {current or 'nothing (empty database)'}, this syncd needs {head}: "
            "run `syncd db upgrade`"
        )
    return current


def schema_drift(engine: Engine) -> list[Any]:
    """Differences between the declared MetaData and the migrated database (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from syncd.db import models  # noqa: F401  # registers every table on the MetaData
    from syncd.db.schema import SCHEMAS, metadata

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
