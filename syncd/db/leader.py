"""The leader lock of `syncd run`: one session-level advisory lock, held on a dedicated connection.

The lock dies with the session, so a leader killed with -9 (or cut off from the database) frees it
at once and a follower takes it on its next try.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import Connection, text

# One bigint key: pg_locks shows it as classid 0, objid LEADER_KEY, objsubid 1.
LEADER_KEY = 0x73796E63  # "sync"


def try_lead(conn: psycopg.Connection[Any]) -> bool:
    """Take the lead if nobody holds it (or if this session already does); never waits."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_KEY,)).fetchone()
    return bool(row and row[0])


def still_connected(conn: psycopg.Connection[Any]) -> None:
    """Raises psycopg.Error when the session (and with it the lock) is gone."""
    conn.execute("SELECT 1").fetchone()


@dataclass(frozen=True)
class Leader:
    pid: int
    application_name: str
    client_addr: str | None
    backend_start: dt.datetime


def who_leads(conn: Connection) -> Leader | None:
    """The session holding the lead in this database, from pg_locks and pg_stat_activity."""
    row = conn.execute(
        text(
            "SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key "
            "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"key": LEADER_KEY},
    ).first()
    if row is None:
        return None
    return Leader(int(row.pid), str(row.application_name), row.client_addr, row.backend_start)
