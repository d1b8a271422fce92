"""The change feed and the event history, written by triggers as the sync engine (and replay) apply changes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select, text

from syncd.api import ApiClient
from syncd.db import feed
from syncd.db.feed import CHANGES, EVENT_HISTORY
from syncd.mapping import parse_timestamp
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from tests.helpers import Clock
from tests.integration.sync.conftest import Run

pytestmark = pytest.mark.integration


def changes(engine: Engine, after: int = 0, **where: Any) -> list[feed.Change]:
    with engine.connect() as conn:
        found = feed.read_changes(conn, after, limit=100_000)
    return [c for c in found if all(getattr(c, k) == v for k, v in where.items())]


def active_event(sb: Sandbox) -> int:
    return next(i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active")


def test_every_resource_table_has_the_feed_triggers(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.relname, t.tgname, encode(t.tgargs, 'escape') FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'simplymeet' AND NOT t.tgisinternal"
            )
        ).all()
    found = {(table, name): args for table, name, args in rows}
    for resource in RESOURCES.values():
        # tgargs: each argument NUL-terminated (shown escaped as \000)
        expected = f"{resource.object_name}\\000{','.join(resource.key)}\\000"
        assert found.get((resource.name, "changes_insert")) == expected, resource.name
        assert found.get((resource.name, "changes_update")) == expected, resource.name
    # Events: one function writes the versions and then the feed rows naming them (migration 0013);
    # an outright DELETE keeps the open version's columns.
    assert ("events", "history_delete") in found
    assert ("events", "history_insert") not in found


def test_first_sync_records_one_created_change_per_row_and_a_no_op_sync_none(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    assert run().ok
    created = changes(engine, resource="events")
    assert len(created) == len(sb.world.event_ids())
    assert {c.kind for c in created} == {"event.created"}
    assert all(c.kinds == ["event.created"] and c.fields is None and c.origin == "sync" for c in created)
    first = created[0]
    assert first.data == sb.world.event_dto(int(first.object_id))
    with engine.connect() as conn:
        newest = feed.last_change_id(conn)
        history = conn.execute(select(EVENT_HISTORY.c.id)).scalars().all()
    assert sorted(history) == sorted(sb.world.event_ids())  # one open version per event
    with engine.connect() as conn:
        # Each event's JSON is stored once, in simplymeet.events: not in its version, not in its change.
        copies = conn.execute(
            text(
                "SELECT (SELECT count(raw) FROM syncd.event_versions), "
                "(SELECT count(data) FROM syncd.change_log WHERE resource = 'events')"
            )
        ).one()
    assert tuple(copies) == (0, 0)

    assert run().ok  # nothing changed upstream
    assert run(full=True).ok
    assert changes(engine, newest) == []


def test_an_upstream_cancel_is_one_event_cancelled_change_with_its_fields(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    assert run().ok
    with engine.connect() as conn:
        start = feed.last_change_id(conn)
    event_id = active_event(sb)
    clock.advance(minutes=5)
    sb.world.cancel_event(event_id, "the invitee cancelled")
    assert run("events").ok
    found = changes(engine, start)
    assert [(c.resource, c.object_id, c.kind) for c in found] == [
        ("events", str(event_id), "event.cancelled")
    ]
    change = found[0]
    assert change.kinds == ["event.updated", "event.cancelled"]
    assert change.fields is not None
    assert change.fields["state"] == {"old": "active", "new": "canceled"}
    assert change.fields["cancellation"]["new"]["reason"] == "the invitee cancelled"
    assert change.data == sb.world.event_dto(event_id)
    assert change.occurred_at == clock.now


def test_domain_kinds_of_event_updates(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock, client: ApiClient
) -> None:
    assert run().ok
    ids = [i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active"][:5]
    with engine.connect() as conn:
        start = feed.last_change_id(conn)
    clock.advance(minutes=5)
    moved, noted, no_show, invited, both = ids
    sb.world.set_event_field(moved, "scheduledAt", clock.now + dt.timedelta(days=3))
    sb.world.set_event_field(noted, "notes", "bring the contract")
    sb.world.set_event_field(no_show, "state", "no_show")
    client.call("event.invite", path_params={"id": invited}, body={"emails": ["new.person@example.com"]})
    sb.world.set_event_field(both, "scheduledAt", clock.now + dt.timedelta(days=4))
    sb.world.set_event_field(both, "notes", "moved, see notes")
    assert run("events").ok
    by_id = {int(c.object_id): c for c in changes(engine, start, resource="events")}
    assert by_id[moved].kind == "event.rescheduled"
    assert by_id[moved].kinds == ["event.updated", "event.rescheduled"]
    assert by_id[noted].kind == "event.notes_changed"
    assert by_id[no_show].kind == "event.no_show"
    assert by_id[invited].kind == "event.participants_added"
    assert by_id[both].kinds == ["event.updated", "event.rescheduled", "event.notes_changed"]
    assert by_id[both].kind == "event.rescheduled"
    assert set(by_id) == set(ids)


def test_deletion_and_reappearance(sb: Sandbox, engine: Engine, run: Run, clock: Clock) -> None:
    assert run().ok
    event_id = active_event(sb)
    kept = sb.world.event_dto(event_id)
    with engine.connect() as conn:
        start = feed.last_change_id(conn)
    clock.advance(minutes=1)
    sb.world.remove_event(event_id)
    assert run("events", full=True).ok
    gone = changes(engine, start, resource="events")
    assert [(c.object_id, c.kind, c.fields) for c in gone] == [(str(event_id), "event.deleted", None)]
    assert gone[0].data == kept
    assert gone[0].occurred_at == clock.now
    with engine.connect() as conn:
        open_versions = conn.execute(
            select(EVENT_HISTORY.c.version_id).where(
                EVENT_HISTORY.c.id == event_id, EVENT_HISTORY.c.valid_to.is_(None)
            )
        ).all()
    assert open_versions == []  # the deletion closed the version


def test_a_rolled_back_page_records_no_change(sb: Sandbox, engine: Engine, run: Run) -> None:
    assert run().ok
    with engine.connect() as conn:
        start = feed.last_change_id(conn)
    event_id = active_event(sb)
    with engine.connect() as conn:
        conn.execute(
            text(
                "UPDATE simplymeet.events SET notes = 'x', raw = raw || '{\"notes\": \"x\"}' WHERE id = :id"
            ),
            {"id": event_id},
        )
        conn.rollback()
    assert changes(engine, start) == []


def test_changes_are_announced_with_notify(sb: Sandbox, engine: Engine, run: Run, clock: Clock) -> None:
    assert run().ok
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN syncd_changes")
        clock.advance(minutes=1)
        sb.world.touch_event(active_event(sb))
        sb.world.set_event_field(active_event(sb), "notes", "announced")
        assert run("events").ok
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=1)]
    with engine.connect() as conn:
        newest = feed.last_change_id(conn)
    assert payloads
    assert int(payloads[0]) <= newest


def test_replay_read_back_names_its_intents_as_origin(engine: Engine) -> None:
    with engine.begin() as conn:
        feed.set_origin(conn, "replay:41,42")
        conn.execute(
            text(
                "INSERT INTO simplymeet.users (id, raw, content_hash, first_synced_at, synced_at) "
                "VALUES (9001, '{\"id\": 9001}', 'h', now(), now())"
            )
        )
        conn.execute(
            text(
                "INSERT INTO simplymeet.users (id, raw, content_hash, first_synced_at, synced_at) "
                "VALUES (9002, '{\"id\": 9002}', 'h', now(), now())"
            )
        )
    with engine.begin() as conn:  # the setting ends with its transaction
        conn.execute(text('UPDATE simplymeet.users SET raw = \'{"id": 9002, "name": "B"}\' WHERE id = 9002'))
    found = changes(engine, resource="users")
    assert [(c.object_id, c.kind, c.origin) for c in found] == [
        ("9001", "user.created", "replay:41,42"),
        ("9002", "user.created", "replay:41,42"),
        ("9002", "user.updated", "sync"),
    ]
    assert found[2].fields == {"name": {"old": None, "new": "B"}}


def test_history_answers_what_the_schedule_was_on_a_given_day(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    day = dt.timedelta(days=1)
    assert run().ok
    event_id = active_event(sb)
    first = sb.world.event_dto(event_id)
    day1 = clock.now
    clock.advance(days=2)
    new_start = (day1 + 30 * day).replace(microsecond=0)
    sb.world.set_event_field(event_id, "scheduledAt", new_start)
    assert run("events").ok
    day3 = clock.now
    clock.advance(days=2)
    sb.world.cancel_event(event_id, "no longer needed")
    assert run("events").ok
    day5 = clock.now

    def as_of(moment: dt.datetime) -> Any:
        h = EVENT_HISTORY.c
        with engine.connect() as conn:
            return conn.execute(
                select(h.scheduled_at, h.state).where(
                    h.id == event_id, h.valid_from <= moment, (h.valid_to.is_(None)) | (h.valid_to > moment)
                )
            ).all()

    original = parse_timestamp(first["scheduledAt"])
    assert as_of(day1 + day) == [(original, "active")]
    assert as_of(day3 + day) == [(new_start, "active")]
    assert as_of(day5 + day) == [(new_start, "canceled")]
    with engine.connect() as conn:
        versions = conn.execute(
            select(EVENT_HISTORY.c.valid_from, EVENT_HISTORY.c.valid_to)
            .where(EVENT_HISTORY.c.id == event_id)
            .order_by(EVENT_HISTORY.c.valid_from)
        ).all()
    # Contiguous: each version ends where the next begins, at the API's updatedAt.
    assert [v.valid_to for v in versions[:-1]] == [v.valid_from for v in versions[1:]]
    assert versions[1].valid_from == day3
    assert versions[2].valid_from == day5
    assert versions[-1].valid_to is None


def test_pruning_removes_old_changes_only(sb: Sandbox, engine: Engine, run: Run, clock: Clock) -> None:
    assert run().ok
    clock.advance(days=10)
    sb.world.touch_event(active_event(sb))
    assert run("events").ok
    with engine.begin() as conn:
        total = conn.execute(select(CHANGES.c.id)).all()
        removed = 0
        while (went := feed.prune_changes(conn, clock.now - dt.timedelta(days=5), batch=1000)) > 0:
            removed += went
        left = conn.execute(select(CHANGES.c.occurred_at)).scalars().all()
    assert removed == len(total) - 1
    assert left == [clock.now]


def test_every_version_of_a_changed_event_is_stored_once_and_recoverable(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    """Each version's JSON lives in one place (migration 0013): the open one in simplymeet.events, the
    closed ones in syncd.event_versions; the views give every version back exactly, and the feed
    carries each one as the API served it."""
    event_id = active_event(sb)
    served: list[Any] = []  # the event as the API served it, version by version
    stored: list[str] = []  # and as the mirror held it then, in PostgreSQL's own text
    moments: list[dt.datetime] = []

    def keep() -> None:
        served.append(sb.world.event_dto(event_id))
        with engine.connect() as conn:
            stored.append(
                conn.execute(
                    text("SELECT raw::text FROM simplymeet.events WHERE id = :id"), {"id": event_id}
                ).scalar_one()
            )
        moments.append(clock.now)

    assert run().ok
    keep()
    clock.advance(hours=2)
    sb.world.set_event_field(event_id, "notes", "bring the contract")
    assert run("events").ok
    keep()
    clock.advance(hours=2)
    sb.world.set_event_field(event_id, "scheduledAt", clock.now + dt.timedelta(days=3))
    assert run("events").ok
    keep()

    def history() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT version_id, raw, raw::text AS text, notes, scheduled_at, valid_to "
                    "FROM simplymeet.event_history WHERE id = :id ORDER BY valid_from"
                ),
                {"id": event_id},
            ).all()

    versions = history()
    assert [v.raw for v in versions] == served
    assert [v.text for v in versions] == stored
    assert [v.notes for v in versions] == [dto["notes"] for dto in served]
    assert [v.scheduled_at for v in versions] == [parse_timestamp(dto["scheduledAt"]) for dto in served]
    with engine.connect() as conn:
        # Stored once: the closed versions whole, the open one a skeleton (its JSON is the events row's).
        kept = (
            conn.execute(
                text("SELECT raw IS NOT NULL FROM syncd.event_versions WHERE id = :id ORDER BY valid_from"),
                {"id": event_id},
            )
            .scalars()
            .all()
        )
        assert kept == [True, True, False]
        # As of a time T inside each version, the event as it was then.
        for moment, dto in zip(moments, served, strict=True):
            as_of = (
                conn.execute(
                    text(
                        "SELECT raw FROM simplymeet.event_history WHERE id = :id AND valid_from <= :t "
                        "AND (valid_to IS NULL OR :t < valid_to)"
                    ),
                    {"id": event_id, "t": moment + dt.timedelta(minutes=30)},
                )
                .scalars()
                .all()
            )
            assert as_of == [dto]

    clock.advance(hours=2)
    sb.world.remove_event(event_id)
    assert run("events", full=True).ok
    versions = history()
    assert [v.text for v in versions] == stored  # the last one closed, filled from the events row
    assert all(v.valid_to is not None for v in versions)

    found = changes(engine, resource="events", object_id=str(event_id))
    assert [c.kind for c in found] == [
        "event.created",
        "event.notes_changed",
        "event.rescheduled",
        "event.deleted",
    ]
    assert [c.data for c in found] == [*served, served[-1]]
    with engine.connect() as conn:
        # What a user's SQL on syncd.changes reads, in PostgreSQL's text, and how it is stored.
        rows = conn.execute(
            text(
                "SELECT c.data::text, l.data IS NULL AS referenced, l.version_id FROM syncd.changes c "
                "JOIN syncd.change_log l USING (id) WHERE c.resource = 'events' AND c.object_id = :id "
                "ORDER BY c.id"
            ),
            {"id": str(event_id)},
        ).all()
    assert [r.data for r in rows] == [*stored, stored[-1]]
    assert all(r.referenced for r in rows)
    assert [r.version_id for r in rows] == [*(v.version_id for v in versions), versions[-1].version_id]


def test_an_event_row_deleted_outright_keeps_its_open_version(sb: Sandbox, engine: Engine, run: Run) -> None:
    """syncd only marks deletions, but a hand-made DELETE must not lose the version held by the row."""
    assert run().ok
    event_id = active_event(sb)
    with engine.begin() as conn:
        before = conn.execute(
            text("SELECT raw, notes FROM simplymeet.event_history WHERE id = :id"), {"id": event_id}
        ).one()
        conn.execute(text("DELETE FROM simplymeet.events WHERE id = :id"), {"id": event_id})
    with engine.connect() as conn:
        after = conn.execute(
            text("SELECT raw, notes, valid_to FROM simplymeet.event_history WHERE id = :id"), {"id": event_id}
        ).one()
        created = (
            conn.execute(
                text("SELECT data FROM syncd.changes WHERE resource = 'events' AND object_id = :id"),
                {"id": str(event_id)},
            )
            .scalars()
            .all()
        )
    assert (after.raw, after.notes, after.valid_to) == (before.raw, before.notes, None)
    assert created == [before.raw]
