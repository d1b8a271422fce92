"""Database URLs: accept what users write, hand SQLAlchemy the psycopg 3 driver, never show a password."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_ACCEPTED = ("postgresql", "postgresql+psycopg", "postgres")


class DatabaseUrlError(ValueError):
    """The URL cannot be used; the message never contains the URL itself (it may hold a password)."""


def parse_database_url(raw: str) -> URL:
    # Imported here: settings use this module, and `syncd --help` should not wait for SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise DatabaseUrlError(
            "not a database URL (expected postgresql://user:password@host:port/dbname)"
        ) from None
    if url.drivername not in _ACCEPTED:
        raise DatabaseUrlError(
            f"scheme {url.drivername!r} is not supported (use postgresql:// or postgresql+psycopg://)"
        )
    if not url.database:
        raise DatabaseUrlError("names no database (expected postgresql://user:password@host:port/dbname)")
    return url.set(drivername="postgresql+psycopg")


def normalize_database_url(raw: str) -> str:
    """The URL as SQLAlchemy wants it, with the psycopg 3 driver named."""
    return parse_database_url(raw).render_as_string(hide_password=False)


def mask_database_url(raw: str) -> str:
    try:
        return parse_database_url(raw).render_as_string(hide_password=True)
    except DatabaseUrlError:
        return "(invalid URL)"


def database_password(raw: str) -> str | None:
    try:
        return parse_database_url(raw).password
    except DatabaseUrlError:
        return None


def describe_target(url: URL) -> str:
    """host:port/dbname or the socket directory: what an operator needs to find the server, no secrets."""
    host = url.host or str(url.query.get("host", "localhost"))
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database}"
