"""Read-only queries behind `/readyz`, `/metrics` and `syncd status`: queue depth and freshness."""

from __future__ import annotations

from sqlalchemy import Connection, text


def ping(conn: Connection) -> None:
    conn.execute(text("SELECT 1"))


def intents_by_status(conn: Connection) -> dict[str, int]:
    rows = conn.execute(text("SELECT status, count(*) FROM syncd.write_intents GROUP BY status"))
    return {str(status): int(count) for status, count in rows}


def oldest_pending_age_s(conn: Connection) -> float:
    """Seconds since the oldest pending intent was queued; 0 when none is."""
    age = conn.execute(
        text(
            "SELECT extract(epoch FROM now() - min(created_at)) FROM syncd.write_intents "
            "WHERE status = 'pending'"
        )
    ).scalar_one()
    return float(age) if age is not None else 0.0


def last_success_ages_s(conn: Connection) -> dict[str, float]:
    """Seconds since each resource's last successful run, for the resources that ever had one."""
    rows = conn.execute(
        text(
            "SELECT resource, extract(epoch FROM now() - last_success_at) FROM syncd.sync_cursors "
            "WHERE last_success_at IS NOT NULL"
        )
    )
    return {str(resource): float(age) for resource, age in rows}
