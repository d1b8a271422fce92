"""The mirror's rules for what the API may really send, each proved against answers crafted here.

The sandbox answers as the documentation reads; these tests rewrite its answers (an httpx
MockTransport around it) the way an API may differ where the documentation is silent: nested copies
with fewer fields, a field syncd cannot parse, ids as numeric strings, `Y-m-d H:i:s` date-times in
the account's zone, and changes that do not move `updatedAt`.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, select, text
from structlog.testing import capture_logs

from syncd.api import ApiClient
from syncd.db import feed, state
from syncd.db.mirror import store
from syncd.db.mirror_tables import MIRROR, table_for
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from syncd.sync import SyncOptions
from tests.helpers import Clock
from tests.integration.sync.conftest import API_KEY, BASE_URL, Run

pytestmark = pytest.mark.integration

# (path, decoded JSON answer) -> the answer as the varied API sends it
Rewrite = Callable[[str, Any], Any]


@pytest.fixture
def rewrites() -> list[Rewrite]:
    return []


@pytest.fixture
def client(sb: Sandbox, rewrites: list[Rewrite]) -> Iterator[ApiClient]:
    """The sandbox's answers with every rewrite in `rewrites` applied (overrides conftest's client)."""
    inner = sb.transport()

    def handle(request: httpx.Request) -> httpx.Response:
        answer = inner.handle_request(request)
        if not rewrites or answer.status_code != 200:
            return answer
        body = json.loads(answer.read())
        for rewrite in rewrites:
            body = rewrite(request.url.path, body)
        headers = [(k, v) for k, v in answer.headers.items() if k.lower() != "content-length"]
        return httpx.Response(200, headers=headers, content=json.dumps(body).encode(), request=request)

    with ApiClient(
        BASE_URL, API_KEY, transport=httpx.MockTransport(handle), rate_limit_per_s=None, max_attempts=10
    ) as api:
        yield api


def items(body: Any) -> list[dict[str, Any]]:
    """A list answer's items, envelope or bare array; single objects answer nothing."""
    found = body.get("items") if isinstance(body, dict) else body
    return found if isinstance(found, list) else []


def changes_after(engine: Engine, after: int) -> list[feed.Change]:
    with engine.connect() as conn:
        return feed.read_changes(conn, after, limit=100_000)


def last_change(engine: Engine) -> int:
    with engine.connect() as conn:
        return feed.last_change_id(conn)


def row_versions(engine: Engine) -> dict[str, set[tuple[str, ...]]]:
    """Every top-level mirror row's key and xmin: any write to a row changes its xmin."""
    found = {}
    with engine.connect() as conn:
        for name, resource in RESOURCES.items():
            keys = ", ".join(f"{k}::text" for k in resource.key)
            rows = conn.execute(text(f"SELECT {keys}, xmin::text FROM simplymeet.{name}")).all()
            found[name] = {tuple(row) for row in rows}
    return found


def strip_nested(*fields: str, ref: str) -> Rewrite:
    """Nested copies under `ref` in every list item lose `fields` (the direct reads keep them)."""

    def rewrite(path: str, body: Any) -> Any:
        for item in items(body):
            nested = item.get(ref)
            if isinstance(nested, dict):
                for name in fields:
                    nested.pop(name, None)
        return body

    return rewrite


# --- absent fields in a direct read ----------------------------------------------------------------


def leave_out_nulls(path: str, body: Any) -> Any:
    """Every null field of a list item is left out (absent-optional), nested ones included."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    for item in items(body):
        stripped = strip(item)
        item.clear()
        item.update(stripped)
    return body


def test_a_field_left_out_of_a_direct_read_is_null_not_the_value_stored_before(
    sb: Sandbox, engine: Engine, run: Run, rewrites: list[Rewrite], clock: Clock
) -> None:
    """Notes cleared upstream, and the event read directly without its `notes`: the mirror holds
    null (a direct read's absent field means null), records the change once, and then nothing."""
    event_id = sb.world.event_ids()[2]
    sb.world.set_event_field(event_id, "notes", "bring the contract")
    rewrites.append(leave_out_nulls)
    assert run("events").ok
    events = MIRROR["events"].top
    with engine.connect() as conn:
        assert conn.execute(select(events.c.notes).where(events.c.id == event_id)).scalar_one() == (
            "bring the contract"
        )
    start = last_change(engine)

    clock.advance(minutes=1)
    sb.world.set_event_field(event_id, "notes", None)
    assert run("events", full=True).ok
    with engine.connect() as conn:
        notes, raw = conn.execute(select(events.c.notes, events.c.raw).where(events.c.id == event_id)).one()
    assert notes is None
    assert "notes" not in raw
    [change] = changes_after(engine, start)
    assert (change.object_id, change.kind) == (str(event_id), "event.notes_changed")

    newest, versions = last_change(engine), row_versions(engine)
    assert run("events", full=True).ok
    assert changes_after(engine, newest) == []
    assert row_versions(engine) == versions


# --- nested copies ----------------------------------------------------------------------------------


def test_nested_copies_with_fewer_fields_leave_what_a_direct_read_stored(
    engine: Engine, run: Run, rewrites: list[Rewrite]
) -> None:
    """Events and polls carry their event type without `users` and `questions`, and their user
    without `lastLogin`: a sync after no upstream change then writes no row and records no change."""
    rewrites.append(strip_nested("users", "questions", ref="eventType"))
    rewrites.append(strip_nested("lastLogin", "connections", ref="user"))
    assert run().ok
    with engine.connect() as conn:
        types = conn.execute(select(table_for(RESOURCES["event_types"]).c.raw)).scalars().all()
        users = conn.execute(select(table_for(RESOURCES["users"]).c.raw)).scalars().all()
    assert types
    assert all("users" in raw and "questions" in raw for raw in types)
    assert users
    assert all("lastLogin" in raw for raw in users)
    newest, versions = last_change(engine), row_versions(engine)

    assert run().ok
    assert run(full=True).ok
    assert changes_after(engine, newest) == []
    assert row_versions(engine) == versions


def test_a_direct_read_takes_over_from_nested_copies_and_keeps_the_object(
    engine: Engine, run: Run, rewrites: list[Rewrite]
) -> None:
    """Events first: their event types arrive nested (fewer fields) and are stored as such; the direct
    read then writes them whole, once; after that the nested copies change nothing."""
    rewrites.append(strip_nested("users", "questions", ref="eventType"))
    assert run("events").ok
    event_types = table_for(RESOURCES["event_types"])
    with engine.connect() as conn:
        nested = conn.execute(select(event_types.c.nested_only, event_types.c.raw)).all()
    assert nested
    assert all(only and "questions" not in raw for only, raw in nested)

    start = last_change(engine)
    assert run("event_types").ok
    taken_over = changes_after(engine, start)
    assert {c.kind for c in taken_over} == {"event_type.updated"}
    assert len(taken_over) == len(nested)  # each one once, with the fields the copies lacked
    assert all(set(c.fields or {}) == {"users", "questions"} for c in taken_over)

    newest, versions = last_change(engine), row_versions(engine)
    assert run("events", full=True).ok
    assert run("event_types", "events").ok
    assert changes_after(engine, newest) == []
    assert row_versions(engine) == versions


def test_an_object_only_seen_nested_keeps_the_fullest_copy(sb: Sandbox, engine: Engine) -> None:
    """Organizations are only ever nested: a thinner copy fills the fields it carries, keeps the rest."""
    event = sb.world.event_dto(sb.world.event_ids()[0])
    full_org = event["user"]["organization"]
    with engine.begin() as conn:
        store(conn, RESOURCES["events"], [event])
    start = last_change(engine)

    renamed = copy.deepcopy(event)
    renamed["user"]["organization"] = {"id": full_org["id"], "name": "Acme Renamed"}
    with engine.begin() as conn:
        store(conn, RESOURCES["events"], [renamed])
    newest = last_change(engine)
    with engine.begin() as conn:
        store(conn, RESOURCES["events"], [renamed])
    assert changes_after(engine, newest) == []  # the same copy again is nothing new

    organizations, users = table_for(RESOURCES["organizations"]), table_for(RESOURCES["users"])
    with engine.connect() as conn:
        row = conn.execute(select(organizations)).mappings().one()
        user_raw = conn.execute(select(users.c.raw)).scalar_one()
    # The user's own fields did not change: its nested organization is the organization's row, so
    # the user is not rewritten (docs/sync.md, "What counts as a change").
    assert user_raw["organization"] == full_org
    assert row["raw"] == {**full_org, "name": "Acme Renamed"}
    assert (row["name"], row["intro"], row["slug"]) == ("Acme Renamed", full_org["intro"], full_org["slug"])
    assert row["social_link_facebook_url"] == full_org["socialLink"]["facebookUrl"]
    [change] = changes_after(engine, start)
    assert change.kind == "organization.updated"
    assert change.fields == {"name": {"old": full_org["name"], "new": "Acme Renamed"}}


# --- rejected objects and deletions -----------------------------------------------------------------


def test_a_malformed_poll_is_not_deleted_keeps_its_row_and_heals(
    sb: Sandbox, engine: Engine, run: Run, rewrites: list[Rewrite]
) -> None:
    """A full pass with one poll unreadable and one gone: exactly the gone one is marked deleted."""
    assert run("polls").ok
    polls = table_for(RESOURCES["polls"])
    with engine.connect() as conn:
        before = {row.id: row for row in conn.execute(select(polls)).all()}
    bad, gone = sorted(before)[:2]
    start = last_change(engine)

    def vary(path: str, body: Any) -> Any:
        if path.endswith("/poll/list"):
            body = [p for p in body if p["id"] != gone]
            for poll in body:
                if poll["id"] == bad:
                    poll["createdAt"] = "last tuesday"
        return body

    rewrites.append(vary)
    outcome = run("polls").outcomes[0]
    assert (outcome.status, outcome.counts.rejected, outcome.counts.deleted) == ("succeeded", 1, 1)
    with engine.connect() as conn:
        after = {row.id: row for row in conn.execute(select(polls)).all()}
        [rejection] = conn.execute(select(state.rejected_items)).mappings().all()
    assert after[bad] == before[bad]  # the last good row, untouched
    assert after[gone].deleted_at is not None
    assert (rejection["key"], rejection["raw"]["createdAt"]) == (str(bad), "last tuesday")
    assert "createdAt" in rejection["error"]
    assert [(c.kind, c.object_id) for c in changes_after(engine, start)] == [("poll.deleted", str(gone))]

    rewrites.clear()  # the API answers well again
    start = last_change(engine)
    outcome = run("polls").outcomes[0]
    assert (outcome.counts.rejected, outcome.counts.restored, outcome.counts.deleted) == (0, 1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(state.rejected_items)).all() == []
        healed = conn.execute(select(polls).where(polls.c.id == bad)).one()
    assert healed == before[bad]
    assert [(c.kind, c.object_id) for c in changes_after(engine, start)] == [("poll.created", str(gone))]


def test_a_rejection_clears_when_the_object_is_stored_again_by_an_incremental_pass(
    sb: Sandbox, engine: Engine, run: Run, rewrites: list[Rewrite], clock: Clock
) -> None:
    assert run("events").ok
    event_id = sb.world.event_ids()[0]

    def unreadable(path: str, body: Any) -> Any:
        for item in items(body):
            if item["id"] == event_id:
                item["scheduledAt"] = "soon"
        return body

    rewrites.append(unreadable)
    clock.advance(minutes=1)
    sb.world.set_event_field(event_id, "notes", "moved to room 4")  # newest: the incremental pass reads it
    assert run("events").outcomes[0].counts.rejected == 1
    with engine.connect() as conn:
        assert conn.execute(select(state.rejected_items.c.key)).scalars().all() == [str(event_id)]

    rewrites.clear()
    assert run("events").outcomes[0].mode == "incremental"
    with engine.connect() as conn:
        assert conn.execute(select(state.rejected_items)).all() == []
        notes = conn.execute(text("SELECT notes FROM simplymeet.events WHERE id = :i"), {"i": event_id})
        assert notes.scalar_one() == "moved to room 4"


def test_an_object_whose_key_is_unreadable_defers_the_pass_deletions(
    engine: Engine, run: Run, rewrites: list[Rewrite]
) -> None:
    """Which object an unreadable id belongs to is unknown: no unseen row is known to be gone."""
    assert run("polls").ok
    polls = table_for(RESOURCES["polls"])
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(polls.c.id)).scalars().all())
    start = last_change(engine)

    def vary(path: str, body: Any) -> Any:
        if path.endswith("/poll/list"):
            body = [p for p in body if p["id"] != ids[1]]
            body[0]["id"] = "poll-one"
        return body

    rewrites.append(vary)
    with capture_logs() as logs:
        outcome = run("polls").outcomes[0]
    assert (outcome.status, outcome.counts.rejected, outcome.counts.deleted) == ("succeeded", 1, 0)
    assert changes_after(engine, start) == []
    assert [e["unidentified"] for e in logs if e["event"] == "sync.deletions_deferred"] == [1]

    rewrites.clear()
    outcome = run("polls").outcomes[0]
    assert (outcome.counts.rejected, outcome.counts.deleted) == (0, 0)
    with engine.connect() as conn:
        assert conn.execute(select(state.rejected_items)).all() == []  # no longer received


# --- value forms -------------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
DATETIMES = ("createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt")


def plain_ids_and_local_times(path: str, body: Any) -> Any:
    """Events with ids as numeric strings and date-times as `Y-m-d H:i:s` in Europe/Berlin."""
    if not path.endswith("/event/list"):
        return body
    for event in items(body):
        event["id"] = str(event["id"])
        event["user"]["id"] = str(event["user"]["id"])
        event["eventType"]["id"] = str(event["eventType"]["id"])
        event["duration"] = str(event["duration"])
        for name in DATETIMES:
            if event.get(name) is not None:
                instant = dt.datetime.fromisoformat(event[name])
                event[name] = instant.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S")
    return body


def test_numeric_string_ids_and_plain_date_times_in_the_account_zone_are_read(
    sb: Sandbox, engine: Engine, run: Run, rewrites: list[Rewrite], clock: Clock
) -> None:
    rewrites.append(plain_ids_and_local_times)
    options = SyncOptions(api_timezone="Europe/Berlin")
    summary = run("users", "event_types", "events", options=options)
    assert summary.ok
    assert summary.outcomes[-1].counts.rejected == 0
    events = table_for(RESOURCES["events"])
    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(events)).all()}
    assert set(rows) == set(sb.world.event_ids())
    for event_id, row in rows.items():
        upstream = sb.world.event_dto(event_id)
        assert row.scheduled_at == dt.datetime.fromisoformat(upstream["scheduledAt"])
        assert row.updated_at == dt.datetime.fromisoformat(upstream["updatedAt"])
        assert (row.user_id, row.event_type_id, row.duration) == (
            upstream["user"]["id"],
            upstream["eventType"]["id"],
            upstream["duration"],
        )

    # The incremental pass reads the plain stamps in the same zone: a change is found, nothing else.
    newest = last_change(engine)
    clock.advance(minutes=2)
    changed = sb.world.event_ids()[3]
    sb.world.set_event_field(changed, "notes", "call first")
    outcome = run("events", options=options).outcomes[0]
    assert (outcome.mode, outcome.counts.updated) == ("incremental", 1)
    assert [(c.kind, c.object_id) for c in changes_after(engine, newest)] == [
        ("event.notes_changed", str(changed))
    ]


# --- changes that do not move updatedAt ---------------------------------------------------------------


def test_a_change_without_a_new_updated_at_is_found_by_the_full_pass(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    """Invisible to the incremental read by design; the full reconciliation records its kinds."""
    assert run("events").ok
    event_id = next(
        i
        for i in sb.world.event_ids()
        if sb.world.event_dto(i)["state"] == "active" and sb.world.event(i).participants
    )
    with sb.world.lock:
        ev = sb.world.event(event_id)
        ev.notes = "parking at the back"
        newcomer = dataclasses.replace(ev.participants[0], email="late.joiner@example.com", id=999_001)
        ev.participants.append(newcomer)
        sb.world.changed(ev, touch=False)
    start = last_change(engine)

    assert run("events").outcomes[0].mode == "incremental"
    assert changes_after(engine, start) == []  # not seen: updatedAt did not move

    assert run("events", full=True).ok
    [change] = changes_after(engine, start)
    assert change.object_id == str(event_id)
    assert change.kinds == ["event.updated", "event.participants_added", "event.notes_changed"]
    assert set(change.fields or {}) == {"notes", "participants"}
    with engine.connect() as conn:
        stored = conn.execute(
            select(MIRROR["events"].top.c.notes).where(MIRROR["events"].top.c.id == event_id)
        )
        assert stored.scalar_one() == "parking at the back"
