"""Engines and the database a command works on: the configured URL, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import structlog
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from syncd.db.embedded import EmbeddedServer, start_embedded
from syncd.db.errors import DatabaseUnavailable  # raised here, defined where the CLI can import it cheaply
from syncd.db.url import describe_target, parse_database_url, render_masked
from syncd.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Database:
    engine: Engine
    url: URL
    embedded: EmbeddedServer | None

    @property
    def target(self) -> str:
        return describe_target(self.url)

    def psql_hint(self) -> str:
        if self.embedded is not None:
            return self.embedded.psql_command()
        return f'psql "{render_masked(self.url.set(drivername="postgresql"))}"'


def make_engine(url: URL, *, application_name: str = "syncd") -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"application_name": application_name, "connect_timeout": 10},
    )


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to the database at {describe_target(engine.url)}: {_reason(exc)}"
        ) from None


def _reason(exc: OperationalError) -> str:
    """The driver's first line, which says why (refused, auth failed, no such database)."""
    original = exc.orig
    message = str(original) if isinstance(original, psycopg.Error) else str(exc)
    first = next((line.strip() for line in message.splitlines() if line.strip()), "unknown error")
    return first.removeprefix("connection failed: ")


@contextmanager
def open_database(settings: Settings, *, application_name: str = "syncd") -> Iterator[Database]:
    """The database this command works on, checked reachable; the engine is disposed on exit."""
    embedded = None
    if settings.database_url is None:
        embedded = start_embedded(settings.data_dir)
        url = embedded.url()
    else:
        url = parse_database_url(settings.database_url.get_secret_value())
    engine = make_engine(url, application_name=application_name)
    try:
        check_connection(engine)
        yield Database(engine=engine, url=url, embedded=embedded)
    finally:
        engine.dispose()
