"""The analysts' views (schema simplymeet_bi, migration 0010) on a synced mirror, against the sandbox's
own world; and docs/analytics.md kept true: its queries run, its column tables match the views."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, text

from syncd.sandbox import Sandbox
from tests.helpers import REPO_ROOT, Clock
from tests.integration.sync.conftest import API_KEY, Run

pytestmark = pytest.mark.integration

ANALYTICS = REPO_ROOT / "docs" / "analytics.md"
EVENTS = 400
# The world is built around the hour just past, so the docs' "last 90 days" queries find bookings.
NOW = dt.datetime.now(dt.UTC)
ANCHOR = NOW.replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sb(clock: Clock) -> Sandbox:
    return Sandbox(api_key=API_KEY, events=EVENTS, seed=14, anchor=ANCHOR, clock=clock)


@pytest.fixture
def synced(sb: Sandbox, engine: Engine, run: Run) -> Sandbox:
    """The whole world mirrored, with one event deleted upstream after the first pass."""
    assert run().ok
    sb.world.remove_event(sb.world.event_ids()[0])
    assert run("events", full=True).ok
    return sb


def _rows(conn: Connection, query: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(text(query), params)]


def _round(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), ROUND_HALF_UP)  # PostgreSQL's round(numeric): halves away from 0


def _at(epoch: int, zone: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo(zone)).replace(tzinfo=None)


def test_bookings_is_one_row_per_live_event_with_its_facts(synced: Sandbox, engine: Engine) -> None:
    world = synced.world
    with engine.connect() as conn:
        rows = {r["event_id"]: r for r in _rows(conn, "SELECT * FROM simplymeet_bi.bookings")}
    assert set(rows) == set(world.event_ids())  # the deleted one is not a booking
    states = Counter(r["state"] for r in rows.values())
    assert min(states[s] for s in ("active", "canceled", "no_show")) > 0, states
    for event_id, row in rows.items():
        ev = world.events[event_id]
        owner, event_type = world.users[ev.user], world.event_types[ev.eventType]
        expected = {
            "event_uuid": ev.uuid,
            "event_type_id": ev.eventType,
            "event_type_name": event_type.name,
            "owner_user_id": ev.user,
            "owner_email": owner.email,
            "owner_name": owner.fullName,
            "invitee_email": ev.invitee.email,
            "state": ev.state,
            "zone": owner.timezone,
            "scheduled_at_local": _at(ev.scheduledAt, owner.timezone),
            "end_at_local": _at(ev.endDate, owner.timezone),
            "scheduled_on": _at(ev.scheduledAt, owner.timezone).date(),
            "duration_minutes": ev.duration,
            "lead_time": dt.timedelta(seconds=ev.scheduledAt - ev.createdAt),
            "lead_time_hours": _round(Decimal(ev.scheduledAt - ev.createdAt) / 3600, "0.1"),
            "canceled": ev.state == "canceled",
            "cancellation_reason": ev.cancellation.reason if ev.cancellation else None,
            "no_show": ev.state == "no_show",
            "times_rescheduled": len(ev.rescheduling),
        }
        assert {k: row[k] for k in expected} == expected, event_id
        assert row["scheduled_week"].isoweekday() == 1
        assert row["scheduled_on"] - row["scheduled_week"] < dt.timedelta(days=7)
        assert row["scheduled_at"].timestamp() == ev.scheduledAt
        assert (row["canceled_at"] is not None) == (ev.state == "canceled")
    # The zones differ between owners, so the local columns really were converted.
    assert len({r["zone"] for r in rows.values()}) > 1
    assert any(r["times_rescheduled"] for r in rows.values())


def test_an_unknown_zone_falls_back_and_breaks_nothing(synced: Sandbox, engine: Engine) -> None:
    event_id = synced.world.event_ids()[-1]
    ev = synced.world.events[event_id]
    type_zone = synced.world.event_types[ev.eventType].timezone
    query = "SELECT zone, scheduled_at_local FROM simplymeet_bi.bookings WHERE event_id = :id"
    with engine.begin() as conn:
        # A name PostgreSQL does not know, then an offset it would read backwards: the event type's zone.
        for odd in ("Mars/Olympus_Mons", "+05:30"):
            conn.execute(
                text("UPDATE simplymeet.users SET timezone = :z WHERE id = :u"), {"z": odd, "u": ev.user}
            )
            row = _rows(conn, query, id=event_id)[0]
            assert row == {"zone": type_zone, "scheduled_at_local": _at(ev.scheduledAt, type_zone)}
        conn.execute(
            text("UPDATE simplymeet.event_types SET timezone = NULL WHERE id = :t"), {"t": ev.eventType}
        )
        assert _rows(conn, query, id=event_id)[0] == {
            "zone": "UTC",
            "scheduled_at_local": _at(ev.scheduledAt, "UTC"),
        }
        assert _rows(conn, "SELECT count(*) AS n FROM simplymeet_bi.bookings")[0]["n"] == len(
            synced.world.events
        )


def test_the_rollups_agree_with_the_bookings_counted_by_hand(synced: Sandbox, engine: Engine) -> None:
    with engine.begin() as conn:  # one transaction: one now() for the view and for the check
        now = conn.execute(text("SELECT now()")).scalar_one()
        bookings = _rows(conn, "SELECT * FROM simplymeet_bi.bookings")
        weekly = _rows(conn, "SELECT * FROM simplymeet_bi.weekly_bookings_by_event_type")
        cancellations = _rows(conn, "SELECT * FROM simplymeet_bi.cancellation_rates")
        no_shows = _rows(conn, "SELECT * FROM simplymeet_bi.no_show_rates")

    def count(rows: list[dict[str, Any]], key: str, *, where: str | None = None) -> Counter[tuple[Any, int]]:
        return Counter((r[key], r["event_type_id"]) for r in rows if where is None or r[where])

    by_week = count(bookings, "scheduled_week")
    assert {(r["week"], r["event_type_id"]): r["bookings"] for r in weekly} == by_week
    assert {(r["week"], r["event_type_id"]): r["canceled"] for r in weekly} == {
        k: count(bookings, "scheduled_week", where="canceled")[k] for k in by_week
    }
    assert {(r["week"], r["event_type_id"]): r["no_shows"] for r in weekly} == {
        k: count(bookings, "scheduled_week", where="no_show")[k] for k in by_week
    }

    for row in bookings:
        row["month"] = row["scheduled_on"].replace(day=1)
        row["due"] = not row["canceled"] and (row["scheduled_at"] <= now or row["no_show"])
    by_month, canceled = count(bookings, "month"), count(bookings, "month", where="canceled")
    assert {(r["month"], r["event_type_id"]): (r["bookings"], r["canceled"]) for r in cancellations} == {
        k: (n, canceled[k]) for k, n in by_month.items()
    }
    for r in cancellations:
        assert r["cancellation_rate"] == _round(Decimal(r["canceled"]) / r["bookings"], "0.0001")
    due = count(bookings, "month", where="due")
    missed = count([b for b in bookings if b["due"]], "month", where="no_show")
    assert {(r["month"], r["event_type_id"]): (r["due"], r["no_shows"]) for r in no_shows} == {
        k: (n, missed[k]) for k, n in due.items()
    }
    assert sum(r["no_shows"] for r in no_shows) > 0
    for r in no_shows:
        assert r["no_show_rate"] == _round(Decimal(r["no_shows"]) / r["due"], "0.0001")


def _sql_blocks() -> list[str]:
    return re.findall(r"^```sql\n(.*?)^```", ANALYTICS.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)


def test_every_query_in_docs_analytics_runs_and_answers(synced: Sandbox, engine: Engine) -> None:
    queries = [q.strip() for block in _sql_blocks() for q in block.split(";") if q.strip()]
    assert len(queries) >= 8
    with engine.connect() as conn:
        for query in queries:
            assert conn.execute(text(query)).all(), f"no rows from docs/analytics.md query:\n{query}"


def test_docs_analytics_lists_each_views_columns_as_the_database_describes_them(engine: Engine) -> None:
    """The column tables of docs/analytics.md equal the views' columns, types and comments."""
    documented: dict[str, list[tuple[str, str, str]]] = {}
    view = None
    for line in ANALYTICS.read_text(encoding="utf-8").splitlines():
        if heading := re.fullmatch(r"### `simplymeet_bi\.(\w+)`", line):
            view = heading[1]
            documented[view] = []
        elif view and (cells := re.fullmatch(r"\| `(\w+)` \| `([^`]+)` \| (.*) \|", line)):
            documented[view].append((cells[1], cells[2], cells[3]))
    query = """
        SELECT c.relname AS view, a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
        WHERE n.nspname = 'simplymeet_bi' AND c.relkind = 'v'
        ORDER BY c.relname, a.attnum
    """
    in_database: dict[str, list[tuple[str, str, str]]] = {}
    with engine.connect() as conn:
        for name, column, type_, comment in conn.execute(text(query)):
            in_database.setdefault(name, []).append((column, type_, comment))
    assert set(in_database) == {
        "bookings",
        "weekly_bookings_by_event_type",
        "cancellation_rates",
        "no_show_rates",
    }
    assert documented == in_database
