"""The mirror holds every documented field of a seeded world, typed, and stays equal to the latest upstream."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from syncd.db.mirror import store
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from tests import reference

pytestmark = pytest.mark.integration

KEY = "mirror-test-key-0123"


def _snake(name: str) -> str:
    # Written again here on purpose: the test must not trust the code's own naming.
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _fetch(sandbox: Sandbox, path: str, **params: Any) -> Any:
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox", headers={"X-API-KEY": KEY}
    ) as http:
        answer = http.get(f"/panel/api/{path}", params=params)
        answer.raise_for_status()
        return answer.json()


def _all_events(sandbox: Sandbox) -> list[dict[str, Any]]:
    return list(_fetch(sandbox, "event/list", onPage=100, skipPagination=1)["items"])


def _same(expected: Any, stored: Any, where: str) -> None:
    if expected is None:
        assert stored is None, where
    elif isinstance(stored, datetime):
        assert stored == datetime.fromisoformat(expected), where  # the same instant, whatever offset
    elif isinstance(stored, Decimal):
        assert stored == Decimal(str(expected)), where
    else:
        assert stored == expected, where


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(api_key=KEY, events=150, seed=11)


def _store_events(engine: Engine, objects: list[dict[str, Any]]) -> Any:
    with engine.begin() as conn:
        return store(conn, RESOURCES["events"], objects)


def test_every_documented_event_field_lands_typed(engine: Engine, sandbox: Sandbox) -> None:
    events = _all_events(sandbox)
    result = _store_events(engine, events)
    assert result.counts.inserted == len(events)
    assert result.counts.rejected == 0
    with engine.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(text("SELECT * FROM simplymeet.events")).mappings()}
        participants = conn.execute(text("SELECT * FROM simplymeet.event_participants")).mappings().all()
        answers = conn.execute(text("SELECT * FROM simplymeet.event_answers")).mappings().all()
        users = {r["id"]: r for r in conn.execute(text("SELECT * FROM simplymeet.users")).mappings()}
    scalar_types = {"int", "string", "bool", "number"}
    for event in events:
        row = rows[event["id"]]
        assert row["raw"] == event
        for field in reference.dtos()["EventDTO"]:
            value, where = event[field.name], f"event {event['id']}.{field.name}"
            if field.type in scalar_types or field.name == "relatedEventIds":
                _same(value, row[_snake(field.name)], where)
            elif field.type in ("UserDTO", "EventTypeDTO"):
                assert row[f"{_snake(field.name)}_id"] == (value or {}).get("id"), where
            elif not field.type.endswith("[]"):  # a 1:1 object, flattened with its name as prefix
                nested_dto = reference.resolve_type(field.type).dto
                assert nested_dto is not None
                for nested in reference.dtos()[nested_dto]:
                    column = f"{_snake(field.name)}_{_snake(nested.name)}"
                    _same((value or {}).get(nested.name), row[column], f"{where}.{nested.name}")
        mine = sorted(
            (p for p in participants if p["event_id"] == event["id"]), key=lambda p: p["item_index"]
        )
        assert [p["email"] for p in mine] == [p["email"] for p in event["participants"]]
        assert len([a for a in answers if a["event_id"] == event["id"]]) == len(event["answers"])
        owner = event["user"]
        assert users[owner["id"]]["full_name"] == owner["fullName"]
        assert users[owner["id"]]["organization_id"] == owner["organization"]["id"]


def test_null_and_empty_string_stay_distinct(engine: Engine, sandbox: Sandbox) -> None:
    events = _all_events(sandbox)
    _store_events(engine, events)
    with engine.connect() as conn:
        notes = dict(conn.execute(text("SELECT id, notes FROM simplymeet.events")).all())
    assert any(e["notes"] == "" for e in events)
    assert any(e["notes"] is None for e in events)
    for event in events:
        assert notes[event["id"]] == event["notes"]


def test_an_unchanged_page_is_not_rewritten(engine: Engine, sandbox: Sandbox) -> None:
    events = _all_events(sandbox)
    _store_events(engine, events)
    with engine.connect() as conn:
        before = conn.execute(text("SELECT max(xmin::text::bigint) FROM simplymeet.events")).scalar()
    again = _store_events(engine, events)
    assert (again.counts.inserted, again.counts.updated, again.counts.unchanged) == (0, 0, len(events))
    with engine.connect() as conn:
        after = conn.execute(text("SELECT max(xmin::text::bigint) FROM simplymeet.events")).scalar()
    assert after == before  # no row version was written


def test_children_always_equal_the_latest_parent(engine: Engine, sandbox: Sandbox) -> None:
    events = _all_events(sandbox)
    _store_events(engine, events)
    target = next(e for e in events if e["participants"])
    invited = ["new.one@example.org", "new.two@example.org"]
    with httpx.Client(
        transport=sandbox.transport(), base_url="http://sandbox", headers={"X-API-KEY": KEY}
    ) as http:
        http.post(
            f"/panel/api/event/invite-participants/{target['id']}", json={"emails": invited}
        ).raise_for_status()
    changed = _fetch(sandbox, f"event/{target['id']}")
    result = _store_events(engine, [changed])
    assert result.counts.updated == 1
    _store_events(engine, [changed])  # and again: no duplicates
    with engine.connect() as conn:
        emails = conn.execute(
            text("SELECT email FROM simplymeet.event_participants WHERE event_id = :id ORDER BY item_index"),
            {"id": target["id"]},
        ).scalars()
        assert list(emails) == [p["email"] for p in changed["participants"]]
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM simplymeet.event_participants p "
                "LEFT JOIN simplymeet.events e ON e.id = p.event_id WHERE e.id IS NULL"
            )
        ).scalar()
    assert orphans == 0


def test_a_malformed_object_is_rejected_and_the_rest_of_its_page_lands(
    engine: Engine, sandbox: Sandbox
) -> None:
    events = _all_events(sandbox)[:20]
    events[3] = {**events[3], "scheduledAt": "2026-02-30 10:00:00"}  # an impossible date
    events[7] = {**events[7], "id": None}
    result = _store_events(engine, events)
    assert result.counts.inserted == 18
    assert result.counts.rejected == 2
    assert any("scheduledAt" in r.error for r in result.rejected)
    assert any("id" in r.error for r in result.rejected)


def test_deleted_at_is_cleared_when_an_object_comes_back(engine: Engine, sandbox: Sandbox) -> None:
    events = _all_events(sandbox)[:5]
    _store_events(engine, events)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE simplymeet.events SET deleted_at = now() WHERE id = :id"), {"id": events[0]["id"]}
        )
    result = _store_events(engine, events)
    assert result.counts.updated == 1
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM simplymeet.events WHERE deleted_at IS NOT NULL")).scalar()
            == 0
        )


@pytest.mark.parametrize("name", ["event_types", "polls", "users", "user_event_type_tags", "acl_rules"])
def test_other_resources_land(engine: Engine, sandbox: Sandbox, name: str) -> None:
    path = {
        "event_types": "event-type/list",
        "polls": "poll/list",
        "users": "user/list",
        "user_event_type_tags": "user-event-type-tag/list",
        "acl_rules": "acl",
    }[name]
    answer = _fetch(sandbox, path, onPage=100)
    objects = answer["items"] if isinstance(answer, dict) else answer
    with engine.begin() as conn:
        result = store(conn, RESOURCES[name], objects)
    assert result.counts.rejected == 0, result.rejected[:1]
    assert result.counts.inserted == len(objects) > 0


def test_a_row_written_by_another_writer_meanwhile_takes_the_upsert(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New rows are COPied straight into the table; when one appeared after the lookup (another
    writer), the COPY fails in its savepoint and the page is upserted as before."""
    from syncd.db import mirror

    events = _all_events(sandbox)[:20]
    _store_events(engine, events[:5])
    looked = mirror._Writer._stored_state

    def stale(self: Any, resource: Any, candidates: Any, *, nested: bool) -> Any:
        candidates, _, absent = looked(self, resource, candidates, nested=nested)
        # As if the lookup ran before the first five were written: they look new.
        return candidates, set(), absent | {c.key for c in candidates if resource.name == "events"}

    monkeypatch.setattr(mirror._Writer, "_stored_state", stale)
    result = _store_events(engine, events)
    assert (result.counts.inserted, result.counts.updated, result.counts.unchanged) == (15, 0, 5)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM simplymeet.events")).scalar() == 20
        participants = conn.execute(text("SELECT count(*) FROM simplymeet.event_participants")).scalar()
    assert participants == sum(len(e["participants"]) for e in events)


def test_a_nested_copy_never_overwrites_a_direct_read_even_after_a_stale_lookup(
    engine: Engine, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upsert itself guards a directly read row: a nested copy whose lookup missed it (a direct
    read committed meanwhile) falls back from its COPY to the upsert, which leaves the row alone."""
    from syncd.db import mirror

    with engine.begin() as conn:
        store(conn, RESOURCES["users"], _fetch(sandbox, "user/list"))
    events = _all_events(sandbox)[:5]
    for event in events:  # thinner nested copies of every user: their digests differ
        for user in (event["user"], event["eventType"]["user"], *event["eventType"]["users"]):
            user.pop("lastLogin", None)
    looked = mirror._Writer._stored_state

    def stale(self: Any, resource: Any, candidates: Any, *, nested: bool) -> Any:
        found = looked(self, resource, candidates, nested=nested)
        if not nested:
            return found
        # As if the lookup ran before the users were written: every copy looks new.
        return candidates, set(), {c.key for c in candidates}

    read = "SELECT id, xmin::text, raw FROM simplymeet.users ORDER BY id"
    with engine.connect() as conn:
        before = conn.execute(text(read)).all()
    monkeypatch.setattr(mirror._Writer, "_stored_state", stale)
    _store_events(engine, events)
    with engine.connect() as conn:
        assert conn.execute(text(read)).all() == before
