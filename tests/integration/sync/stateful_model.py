"""The oracle of the stateful tests: upstream read from the sandbox's world, the mirror read from SQL.

Upstream is the world rendered the default way (`docs/sandbox.md`: every documented field, ISO 8601
date-times), whatever profile the sandbox answers syncd with, mapped to typed rows by the mapping of
a direct read. The mirror is read back from its typed columns and child tables. Both sides become the
same plain form (instants in UTC, numbers as decimals), so "the mirror equals upstream" compares
what each field means, not how the API wrote it. The change kinds an upstream change implies are
derived here from the two states, as docs/change-feed.md words them, not from syncd's SQL.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, literal_column, select

from syncd.api.contract import DTOS
from syncd.db.mirror_tables import MIRROR
from syncd.mapping import map_object, parent_key_columns
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox

TRACKED = ("users", "event_types", "events")  # the resources the stateful tests change upstream
META_COLUMNS = frozenset({"raw", "content_hash", "first_synced_at", "synced_at", "deleted_at", "nested_only"})

# What the stateful tests did, per sandbox profile: examples, steps, rules run and invariants checked.
FIGURES: dict[str, Counter[str]] = {}

Key = tuple[str, int]  # (resource, id)
Typed = tuple[Any, ...]  # an object's typed form: its row and every child table's rows, normalized


def plain(value: Any) -> Any:
    """A value as both sides can compare it: instants in UTC, decimals normalized, sequences as tuples."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), plain(v)) for k, v in value.items()))
    return value


def _row_form(row: Mapping[str, Any], columns: list[str]) -> tuple[Any, ...]:
    return tuple(plain(row.get(c)) for c in columns)


def _columns(resource: str) -> tuple[list[str], dict[str, list[str]]]:
    tables = MIRROR[resource]
    top = [c.name for c in tables.top.columns if c.name not in META_COLUMNS]
    children = {
        name: [c.name for c in child.table.columns] for name, child in sorted(tables.children.items())
    }
    return top, children


def typed_form(resource: str, dto: dict[str, Any]) -> Typed:
    """The typed form of an upstream object (its default rendering, mapped as a direct read)."""
    declared = RESOURCES[resource]
    mapped = map_object(resource, DTOS[declared.dto], dto, declared.key)
    top, children = _columns(resource)
    return (
        _row_form(mapped.row, top),
        tuple(
            (name, tuple(sorted(_row_form(r, cols) for r in mapped.children.get(name, []))))
            for name, cols in children.items()
        ),
    )


@dataclass(frozen=True)
class MirrorRow:
    typed: Typed
    deleted: bool
    nested_only: bool
    xmin: str


def read_mirror(conn: Connection) -> dict[Key, MirrorRow]:
    """Every row of the tracked tables, in typed form, with whether it is deleted and its xmin."""
    found: dict[Key, MirrorRow] = {}
    for resource in TRACKED:
        tables = MIRROR[resource]
        top_cols, child_cols = _columns(resource)
        top = tables.top
        child_rows: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
        for name, cols in child_cols.items():
            table = tables.children[name].table
            parent = parent_key_columns(resource, ("id",))[0]
            grouped: dict[int, list[tuple[Any, ...]]] = {}
            for row in conn.execute(select(table)).mappings():
                grouped.setdefault(row[parent], []).append(_row_form(row, cols))
            child_rows[name] = grouped
        rows = conn.execute(
            select(top, top.c.deleted_at.is_not(None).label("gone"), select_xmin(top))
        ).mappings()
        for row in rows:
            typed = (
                _row_form(row, top_cols),
                tuple((name, tuple(sorted(child_rows[name].get(row["id"], [])))) for name in child_cols),
            )
            found[(resource, row["id"])] = MirrorRow(typed, row["gone"], row["nested_only"], row["row_xmin"])
    return found


def select_xmin(table: Any) -> Any:
    """The row's xmin, as text: any write of the row changes it."""
    return literal_column(f"{table.fullname}.xmin::text").label("row_xmin")


def upstream(sb: Sandbox) -> dict[Key, dict[str, Any]]:
    """Every tracked object upstream now, rendered the default way (a private copy)."""
    w = sb.world
    with w.lock:
        render = w.render
        found: dict[Key, dict[str, Any]] = {}
        for uid in sorted(w.users):
            user = render.user(uid)
            assert user is not None
            found[("users", uid)] = copy.deepcopy(user)
        for tid in sorted(w.event_types):
            event_type = render.event_type(tid)
            assert event_type is not None
            found[("event_types", tid)] = copy.deepcopy(event_type)
        for eid in sorted(w.events):
            found[("events", eid)] = copy.deepcopy(render.event(w.events[eid]))
    return found


WIRE_DATETIMES = frozenset(
    {"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt", "lastLogin", "previouslyScheduledAt"}
)


def through_wall_clock(obj: Any, zone: ZoneInfo) -> Any:
    """`obj` as far as `Y-m-d H:i:s` in `zone` can tell (local-datetimes): in the hour the zone
    repeats when clocks go back, the wall time names two instants and reads as the first (fold 0)."""
    if isinstance(obj, dict):
        return {
            k: _wall(v, zone) if k in WIRE_DATETIMES and isinstance(v, str) else through_wall_clock(v, zone)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [through_wall_clock(v, zone) for v in obj]
    return obj


def _wall(text: str, zone: ZoneInfo) -> str:
    local = dt.datetime.fromisoformat(text).astimezone(zone).replace(tzinfo=None, fold=0)
    return local.replace(tzinfo=zone).isoformat()


SINGULAR = {"users": "user", "event_types": "event_type", "events": "event"}
# docs/change-feed.md, "Kinds": the most specific kind of an event update, first match wins.
EVENT_KINDS = (
    "event.cancelled",
    "event.no_show",
    "event.rescheduled",
    "event.participants_added",
    "event.notes_changed",
)


def _instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def implied_kinds(resource: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """The kinds of the one change that takes the mirror from `old` to `new` (None: absent or deleted),
    generic first; the most specific one is the last."""
    name = SINGULAR[resource]
    if old is None:
        return [f"{name}.created"]
    if new is None:
        return [f"{name}.deleted"]
    kinds = [f"{name}.updated"]
    if resource != "events":
        return kinds
    found = set()
    if new["state"] == "canceled" and old["state"] != "canceled":
        found.add("event.cancelled")
    if new["state"] == "no_show" and old["state"] != "no_show":
        found.add("event.no_show")
    if _instant(old["scheduledAt"]) != _instant(new["scheduledAt"]) or _instant(old["endDate"]) != _instant(
        new["endDate"]
    ):
        found.add("event.rescheduled")
    known = {p["email"] for p in old.get("participants") or []}
    if any(p["email"] not in known for p in new.get("participants") or []):
        found.add("event.participants_added")
    if old.get("notes") != new.get("notes"):
        found.add("event.notes_changed")
    return kinds + [k for k in EVENT_KINDS if k in found]
