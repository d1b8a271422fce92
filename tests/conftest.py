"""Shared fixtures: one PostgreSQL server per run, one migrated template, a fresh database per test.

The server is `SYNCD_TEST_DATABASE_URL` when set (any database on it the user may CREATE DATABASE
from), else an embedded server in a temporary directory. `.ci/run` runs the suite both ways.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import structlog
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from syncd.db import migrate
from syncd.db.embedded import start_embedded, stop_embedded
from syncd.db.engine import make_engine
from syncd.db.url import parse_database_url
from tests.webhook_receiver import Receiver


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one ring; a test without one is a mistake, not a default."""
    rings = {"unit", "integration", "acceptance"}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()} & rings
        if len(marks) != 1:
            raise pytest.UsageError(f"{item.nodeid} must be marked with exactly one of {sorted(rings)}")


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[URL]:
    """A URL on the test server with rights to create databases."""
    configured = os.environ.get("SYNCD_TEST_DATABASE_URL")
    if configured:
        yield parse_database_url(configured)
        return
    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, server and all.
    data_dir = Path(tempfile.mkdtemp(prefix="syncd-test-pg-"))
    server = start_embedded(data_dir)
    yield server.url(database="postgres")
    stop_embedded(server, delete=True)  # as root its data is under /var/lib/syncd, not in data_dir
    shutil.rmtree(data_dir, ignore_errors=True)


def _libpq(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: URL) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_libpq(url), autocommit=True)


@pytest.fixture(scope="session")
def template_database(pg_admin_url: URL) -> Iterator[str]:
    """A database migrated to head once per run; tests copy it (CREATE DATABASE ... TEMPLATE)."""
    name = f"syncd_template_{uuid.uuid4().hex[:8]}"
    with _admin(pg_admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    engine = make_engine(pg_admin_url.set(database=name))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    yield name
    with _admin(pg_admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_database_url(pg_admin_url: URL) -> Iterator[URL]:
    """A fresh database with nothing in it (for migration tests)."""
    name = f"syncd_test_{uuid.uuid4().hex[:10]}"
    with _admin(pg_admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield pg_admin_url.set(database=name)
    with _admin(pg_admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(pg_admin_url: URL, template_database: str) -> Iterator[URL]:
    """A fresh, migrated database for this test alone."""
    name = f"syncd_test_{uuid.uuid4().hex[:10]}"
    with _admin(pg_admin_url) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_database)
            )
        )
    yield pg_admin_url.set(database=name)
    with _admin(pg_admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, for this test alone."""
    server = Receiver()
    server.start()
    yield server
    server.close()


@pytest.fixture
def engine(database_url: URL) -> Iterator[Engine]:
    engine = make_engine(database_url, application_name="syncd-test")
    yield engine
    engine.dispose()
