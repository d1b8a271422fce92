"""The change feed: `syncd.changes` (every change applied to a top-level mirror row) and
`simplymeet.event_history` (every version of every event, valid_from/valid_to).

Both are written by PostgreSQL triggers on the mirror tables (migrations 0006, 0013), in the transaction
that applied the change, whoever wrote it: a sync page, a replay's read-back, a deletion mark. So a
reader never misses a change and never sees one that was rolled back; each trigger statement ends
with `NOTIFY syncd_changes`. A no-op write (same `raw`, same `deleted_at`) records nothing. Both are
views: each version of an event's JSON is stored once (see the tables below).

Kinds are `<object>.<what>`: `created`, `updated`, `deleted` for every resource (an object that
comes back after a deletion is `created` again), and for events also `cancelled`, `rescheduled`,
`no_show`, `notes_changed`, `participants_added`. One change row per row changed: `kind` is the most
specific of what happened, `kinds` everything that applies (a rescheduling that also changed the
notes has kind `event.rescheduled` and kinds {event.updated, event.rescheduled, event.notes_changed}).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Identity,
    Index,
    Table,
    Text,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from syncd.db.mirror_tables import MIRROR
from syncd.db.schema import MIRROR_SCHEMA, STATE_SCHEMA, metadata, views
from syncd.resources import RESOURCES

NOTIFY_CHANNEL = "syncd_changes"
GENERIC_KINDS = ("created", "updated", "deleted")
# Events only, most specific first: a change's `kind` is the first of these that applies.
EVENT_KINDS = ("cancelled", "no_show", "rescheduled", "participants_added", "notes_changed")
TEST_KIND = "webhook.test"  # a `syncd webhooks test` ping; never in the table


def all_kinds() -> list[str]:
    """Every kind the feed can record, by resource in declaration order."""
    kinds = []
    for resource in RESOURCES.values():
        kinds += [f"{resource.object_name}.{what}" for what in GENERIC_KINDS]
        if resource.name == "events":
            kinds += [f"event.{what}" for what in EVENT_KINDS]
    return kinds


def check_kind_filter(value: str) -> str:
    """A kind (`event.cancelled`) or a wildcard (`event.*`, `*`); ValueError naming the known ones."""
    value = value.strip()
    if value == "*" or value in all_kinds():
        return value
    objects = sorted({resource.object_name for resource in RESOURCES.values()})
    if value.endswith(".*") and value[:-2] in objects:
        return value
    raise ValueError(
        f"unknown change kind {value!r}: use a kind such as event.cancelled, or <object>.* "
        f"(objects: {', '.join(objects)}); `syncd changes kinds` lists them all"
    )


def parse_kind_filters(values: Sequence[str]) -> list[str]:
    """Kind filters as given on a command line (`event.cancelled,event.*`, repeatable): split on
    commas, each checked (ValueError naming a bad one), duplicates dropped, in order."""
    parts = [part.strip() for value in values for part in value.split(",") if part.strip()]
    return list(dict.fromkeys(check_kind_filter(part) for part in parts))


def kinds_match(kinds: ColumnElement[Any], filters: Sequence[str] | None) -> ColumnElement[bool]:
    """SQL: a change whose `kinds` array matches a filter list (empty or None: everything)."""
    if not filters or "*" in filters:
        return true()
    exact = [f for f in filters if not f.endswith(".*")]
    prefixes = [f[:-1] for f in filters if f.endswith(".*")]  # `event.*` -> `event.`
    tests: list[ColumnElement[bool]] = []
    if exact:
        tests.append(kinds.op("&&", is_comparison=True)(literal(exact, ARRAY(Text()))))
    for prefix in prefixes:
        # Every kind of a change has the same object prefix, so the first one decides.
        tests.append(func.starts_with(kinds[1], prefix))
    return or_(*tests) if tests else false()


# --- the tables -------------------------------------------------------------------------------------
#
# Each version of an event's JSON is stored once (migration 0013): a closed version in
# `syncd.event_versions`, the open one in `simplymeet.events`; an event's change row names its
# version. Users (and syncd's readers) query the views `syncd.changes` and `simplymeet.event_history`,
# which have the columns the tables of the same names had before.

_CHANGE_COLUMNS: tuple[tuple[str, Any, bool, str], ...] = (
    (
        "occurred_at",
        DateTime(timezone=True),
        False,
        "When syncd applied it (the row's synced_at; deleted_at for a deletion).",
    ),
    ("resource", Text, False, "The mirror table: events, users, ..."),
    ("object_id", Text, False, "The row's key; a composite key joined with '/'."),
    ("kind", Text, False, "The most specific kind: event.cancelled, user.updated, ..."),
    (
        "kinds",
        ARRAY(Text),
        False,
        "Every kind that applies, the generic one first ({event.updated,event.rescheduled}).",
    ),
    (
        "fields",
        JSONB,
        True,
        'Updates: {"apiField": {"old": ..., "new": ...}} over the top-level fields of raw.',
    ),
    (
        "data",
        JSONB,
        True,
        "The object as the API answered it after the change (a deletion: the last one known).",
    ),
    ("origin", Text, False, "Who applied it: 'sync', or 'replay:<intent ids>' for a write-back's read-back."),
)


def _change_columns(*, store: bool) -> list[Column[Any]]:
    columns: list[Column[Any]] = [
        Column("id", BigInteger, Identity(always=False), primary_key=True, comment="Feed order.")
        if store
        else Column("id", BigInteger, primary_key=True, comment="Feed order.")
    ]
    for name, type_, nullable, comment in _CHANGE_COLUMNS:
        if store and name == "data":
            comment = "The object as the API answered it after the change; NULL when version_id names it."
        columns.append(Column(name, type_, nullable=nullable, comment=comment))
    if store:
        columns.append(
            Column(
                "version_id",
                BigInteger,
                comment="An event's change: the version (syncd.event_versions) whose raw is the object; "
                "data is NULL then.",
            )
        )
    return columns


CHANGE_LOG = Table(
    "change_log",
    metadata,
    *_change_columns(store=True),
    schema=STATE_SCHEMA,
    comment="The change feed's rows, the storage behind the view syncd.changes (query the view): an event's "
    "change names its version (version_id) instead of copying the object.",
)
Index("ix_change_log_resource_object_id", CHANGE_LOG.c.resource, CHANGE_LOG.c.object_id, CHANGE_LOG.c.id)

CHANGES = Table(
    "changes",
    views,
    *_change_columns(store=False),
    schema=STATE_SCHEMA,
    comment="The change feed: every change applied to a top-level mirror row, written by triggers in the "
    "same transaction (announced with NOTIFY syncd_changes).",
)


def _history_columns(*, store: bool) -> list[Column[Any]]:
    events = MIRROR["events"].top
    skip = {"content_hash", "first_synced_at", "synced_at", "deleted_at", "nested_only"}
    columns: list[Column[Any]] = [
        Column(
            "version_id",
            BigInteger,
            Identity(always=False),
            primary_key=True,
            comment="This version's own id.",
        )
        if store
        else Column("version_id", BigInteger, primary_key=True, comment="This version's own id.")
    ]
    for c in events.columns:
        if c.name in skip:
            continue
        comment = c.comment
        if store and c.name == "raw":
            comment = "The object exactly as the API answered it; NULL for the open version (see simplymeet.events)."
        columns.append(
            Column(c.name, c.type, nullable=c.name != "id" and (c.nullable or store), comment=comment)
        )
    columns += [
        Column(
            "valid_from",
            DateTime(timezone=True),
            nullable=False,
            comment="From when this version was true: the API's updatedAt when it is later than the previous "
            "version's start and not in the future, else when syncd saw the change.",
        ),
        Column(
            "valid_to",
            DateTime(timezone=True),
            comment="Until when (exclusive): the next version's valid_from, or when the event was found "
            "deleted; NULL for the current version.",
        ),
        Column(
            "recorded_at", DateTime(timezone=True), nullable=False, comment="When syncd wrote this version."
        ),
    ]
    return columns


EVENT_VERSIONS = Table(
    "event_versions",
    metadata,
    *_history_columns(store=True),
    schema=STATE_SCHEMA,
    comment="Every version of every event, the storage behind the view simplymeet.event_history (query the "
    "view). A closed version holds the event as it was; the open one (valid_to NULL, raw NULL) takes its "
    "columns from simplymeet.events.",
)
Index("ix_event_versions_id_valid_from", EVENT_VERSIONS.c.id, EVENT_VERSIONS.c.valid_from)
Index(
    "ix_event_versions_current",
    EVENT_VERSIONS.c.id,
    unique=True,
    postgresql_where=EVENT_VERSIONS.c.valid_to.is_(None),
)

EVENT_HISTORY = Table(
    "event_history",
    views,
    *_history_columns(store=False),
    schema=MIRROR_SCHEMA,
    comment="Every version of every event (a type 2 slowly changing dimension): the event as it was "
    "between valid_from and valid_to. As of a time T: valid_from <= T AND (valid_to IS NULL OR T < valid_to).",
)


# --- reading and pruning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    id: int
    occurred_at: dt.datetime
    resource: str
    object_id: str
    kind: str
    kinds: list[str]
    fields: dict[str, Any] | None
    data: Any
    origin: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "occurred_at": self.occurred_at.isoformat(),
            "resource": self.resource,
            "object_id": self.object_id,
            "kind": self.kind,
            "kinds": self.kinds,
            "fields": self.fields,
            "data": self.data,
            "origin": self.origin,
        }


def set_origin(conn: Connection, origin: str) -> None:
    """Name who applies the next writes of this transaction in their change rows ('sync' otherwise)."""
    conn.execute(text("SELECT set_config('syncd.origin', :origin, true)"), {"origin": origin[:200]})


def read_changes(
    conn: Connection, after_id: int, *, kinds: Sequence[str] | None = None, limit: int = 500
) -> list[Change]:
    """Changes with id > after_id, oldest first, matching the kinds filter."""
    c = CHANGES.c
    rows = conn.execute(
        select(CHANGES).where(c.id > after_id, kinds_match(c.kinds, kinds)).order_by(c.id).limit(limit)
    ).all()
    return [Change(**row._mapping) for row in rows]


# Inserting into the feed (syncd.change_log) takes this lock (until commit) before the row gets its id. pg_locks shows
# every database of the server, and a database made from a template shares its tables' oids.
_WRITERS = text(
    """
    SELECT count(*) FROM pg_locks
    WHERE locktype = 'relation' AND relation = 'syncd.change_log'::regclass
      AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid()
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)
_LAST_ALLOCATED = text("SELECT pg_sequence_last_value(pg_get_serial_sequence('syncd.change_log', 'id'))")


def read_settled(
    conn: Connection,
    after_id: int,
    *,
    kinds: Sequence[str] | None = None,
    limit: int = 500,
    through: int | None = None,
) -> tuple[list[Change], int]:
    """For a reader that follows the feed by id: the changes after `after_id` (matching `kinds`) that
    can be read without passing over one still to come, oldest first, and the id through which the
    feed is settled (the reader's cursor may move there once it has those).

    Ids are given out when a change is written but become visible when its transaction commits, so
    a visible change may have an invisible, older neighbour that will commit later. A change is
    settled when every id before it is visible or never will be (rolled back, pruned). Only a hole in
    the ids needs a look: when no other session is writing the feed, a hole below the last id given
    out is permanent; otherwise reading stops before the hole until its writer commits (its NOTIFY
    wakes a follower). `through`: a range known settled (ids a reader had passed before, read again).
    """
    c = CHANGES.c
    window = max(limit, 1) * 4  # ids scanned, wanted or not

    def scan() -> list[tuple[int, bool]]:
        query = select(c.id, kinds_match(c.kinds, kinds)).where(c.id > after_id)
        if through is not None:
            query = query.where(c.id <= through)
        rows = conn.execute(query.order_by(c.id).limit(window)).all()
        return [(int(row[0]), bool(row[1])) for row in rows]

    rows = scan()
    safe = _contiguous(rows, after_id)
    if through is not None:
        safe = rows
        if len(rows) < window and (not rows or rows[-1][0] < through):
            safe = [*rows, (through, False)]  # the whole range is read: settled through its end
    elif len(safe) < len(rows):  # a hole: who could still fill it?
        allocated = conn.execute(_LAST_ALLOCATED).scalar_one_or_none()
        writers = int(conn.execute(_WRITERS).scalar_one())
        if writers == 0 and allocated is not None:
            # Every id up to `allocated` was given out before the look, to a transaction that has
            # ended since: what is not visible now never will be.
            rows = scan()
            settled = [row for row in rows if row[0] <= int(allocated)]
            safe = settled + _contiguous(rows[len(settled) :], settled[-1][0] if settled else after_id)
    settled_through = safe[-1][0] if safe else after_id
    wanted = [change_id for change_id, wants in safe if wants][:limit]
    if len(wanted) == limit:
        settled_through = wanted[-1]
    if not wanted:
        return [], settled_through
    found = conn.execute(select(CHANGES).where(c.id.in_(wanted)).order_by(c.id)).all()
    return [Change(**row._mapping) for row in found], settled_through


def _contiguous(rows: list[tuple[int, bool]], after: int) -> list[tuple[int, bool]]:
    """The leading rows whose ids follow `after` without a hole."""
    expected = after + 1
    for index, (change_id, _wants) in enumerate(rows):
        if change_id != expected:
            return rows[:index]
        expected += 1
    return rows


def last_change_id(conn: Connection) -> int:
    """The newest change's id (0 when the feed is empty)."""
    return int(conn.execute(select(func.coalesce(func.max(CHANGES.c.id), 0))).scalar_one())


def first_change_id(conn: Connection, *, before: int, count: int, kinds: Sequence[str] | None) -> int:
    """The id to read after so that the last `count` matching changes up to `before` come next."""
    c = CHANGES.c
    ids = (
        select(c.id)
        .where(c.id <= before, kinds_match(c.kinds, kinds))
        .order_by(c.id.desc())
        .limit(count)
        .subquery()
    )
    oldest = conn.execute(select(func.min(ids.c.id))).scalar_one()
    return int(oldest) - 1 if oldest is not None else before


def count_by_kind(conn: Connection, after_id: int) -> tuple[int, dict[str, int]]:
    """(newest id, {kind: count}) of the changes after `after_id`: the metrics' running counter."""
    c = CHANGES.c
    rows = conn.execute(
        select(c.kind, func.count(), func.max(c.id)).where(c.id > after_id).group_by(c.kind)
    ).all()
    newest = max((int(row[2]) for row in rows), default=after_id)
    return newest, {str(row[0]): int(row[1]) for row in rows}


def prune_changes(
    conn: Connection, older_than: dt.datetime, *, keep_after: int | None = None, batch: int = 10_000
) -> int:
    """Delete up to `batch` changes that occurred before `older_than` (and, with `keep_after`, only
    those with an id up to it: the rest is still owed to a webhook subscription), from the oldest
    on; returns how many went (the caller commits and calls again until 0). The feed is written in
    time order, so the oldest rows sit at the start of the primary key: no index on occurred_at is
    needed, and a call reads at most `batch` rows."""
    c = CHANGE_LOG.c
    oldest = select(c.id).order_by(c.id).limit(batch).scalar_subquery()
    doomed = [c.id.in_(oldest), c.occurred_at < older_than]
    if keep_after is not None:
        doomed.append(c.id <= keep_after)
    return conn.execute(delete(CHANGE_LOG).where(*doomed)).rowcount or 0
