"""Database URLs: accept what users write, hand SQLAlchemy the psycopg 3 driver, never show a secret.

A URL may carry secrets in three places: the userinfo password (`user:secret@host`) and the
`password=` / `passfile=` query options (and libpq's other secret options). One function masks
them all for display (`render_masked`), one lists their values for the log redactor (`url_secrets`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_ACCEPTED = ("postgresql", "postgresql+psycopg", "postgres")
_EXPECTED = "expected postgresql://user@host:port/dbname?option=value"
MASK = "***"

# libpq options whose values are credentials: a command line must never carry them.
CREDENTIAL_OPTIONS = frozenset({"password", "sslpassword", "oauth_client_secret"})
# Also masked: the password file's path says where the secret lives (and may name it).
SECRET_OPTIONS = CREDENTIAL_OPTIONS | {"passfile"}
# SQLAlchemy joins repeated `host=` options into libpq's multi-host list; other repeats are mistakes.
_REPEATABLE = frozenset({"host"})


class DatabaseUrlError(ValueError):
    """The URL cannot be used; the message never contains the URL itself (it may hold a password)."""


@cache
def libpq_options() -> frozenset[str]:
    """The connection options the linked libpq knows (what psycopg would accept at connect time)."""
    from psycopg import pq

    return frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())


def parse_database_url(raw: str) -> URL:
    # Imported here: settings use this module, and `syncd --help` should not wait for SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw.strip())
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL ({_EXPECTED})") from None
    except ValueError:  # SQLAlchemy's int() of the port: its text may be anything, so not echoed
        raise DatabaseUrlError(f"has a malformed host or port ({_EXPECTED})") from None
    if url.drivername not in _ACCEPTED:
        raise DatabaseUrlError(
            f"scheme {url.drivername!r} is not supported (use postgresql:// or postgresql+psycopg://)"
        )
    if not url.database:
        raise DatabaseUrlError(f"names no database ({_EXPECTED})")
    if "@" in f"{url.host}{url.database}":  # `user:p@ss@host`: the password's own @ must be written %40
        raise DatabaseUrlError("has an '@' after the host: percent-encode '@' in the password as %40")
    for name, value in url.query.items():
        # An option's name is no secret; its value may be, so it is never quoted.
        if name not in libpq_options():
            raise DatabaseUrlError(f"has unknown option {name!r} (libpq connection options only)")
        if isinstance(value, tuple) and name not in _REPEATABLE:
            raise DatabaseUrlError(f"gives option {name!r} more than once")
    return url.set(drivername="postgresql+psycopg")


def normalize_database_url(raw: str) -> str:
    """The URL as SQLAlchemy wants it, with the psycopg 3 driver named."""
    return parse_database_url(raw).render_as_string(hide_password=False)


def render_masked(url: URL) -> str:
    """The URL for display: the userinfo password and every secret option's value replaced by ***."""
    shown = url.set(query={}).render_as_string(hide_password=True)
    options = [
        f"{quote_plus(name)}={MASK if name in SECRET_OPTIONS else quote_plus(value)}"
        for name in sorted(url.query)
        for value in _values(url.query[name])
    ]
    return f"{shown}?{'&'.join(options)}" if options else shown


def mask_database_url(raw: str) -> str:
    try:
        return render_masked(parse_database_url(raw))
    except DatabaseUrlError:
        return "(invalid URL)"


def url_secrets(raw: str, *, options: frozenset[str] = SECRET_OPTIONS) -> list[str]:
    """The secret values in a URL, as written and as a URL encodes them (for the log redactor)."""
    try:
        url = parse_database_url(raw)
    except DatabaseUrlError:
        return []
    values = [url.password] if url.password else []
    values += [value for name in sorted(url.query) if name in options for value in _values(url.query[name])]
    found: list[str] = []
    for value in values:
        for form in (value, quote(value, safe=""), quote_plus(value)):
            if form and form not in found:
                found.append(form)
    return found


def has_credentials(raw: str) -> bool:
    """Whether the URL holds a password (in userinfo or an option): such a URL must not be a flag."""
    return bool(url_secrets(raw, options=CREDENTIAL_OPTIONS))


def describe_target(url: URL) -> str:
    """host:port/dbname or the socket directory: what an operator needs to find the server, no secrets."""
    host = url.host or str(url.query.get("host", "localhost"))
    port = f":{url.port}" if url.port else ""
    return f"{host}{port}/{url.database}"


def _values(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)
