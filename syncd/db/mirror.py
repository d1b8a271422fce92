"""The mirror's writer: the batched upsert (and binary COPY) that keeps the tables current.

The tables are declared in `syncd.db.mirror_tables`. A page of objects is mapped, hashed and
compared with the stored rows; new rows are COPied in, changed ones upserted. Child rows are
replaced whenever their parent changes, so they always equal the latest parent.

Provenance: a row written from its own list or get (a direct read) is the object as the API reads
it, absent fields NULL. A copy nested in another object (an event's `eventType`, a user's
`organization`) often carries fewer fields, so an absent field there means unknown: a nested copy
inserts an object syncd does not know yet, merges into a row only ever seen nested (the fullest copy
wins, field by field), and never touches a row a direct read wrote (`nested_only` is false).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from psycopg import postgres
from psycopg.adapt import Buffer, Dumper
from psycopg.pq import Format
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    delete,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.types import TypeEngine

from syncd.api.contract import DTOS, Kind, Scalar
from syncd.api.dates import Zone, resolve_zone
from syncd.db.mirror_tables import MIRROR, MirrorTables
from syncd.mapping import (
    Mapped,
    MappingError,
    canonical_json_bytes,
    content_hash,
    convert,
    digest,
    map_object,
    parent_key_columns,
    snake,
    state_digest,
)
from syncd.resources import DTO_TO_RESOURCE, FREE_FORM, RESOURCES, Resource


@dataclass
class StoreCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0

    def __add__(self, other: StoreCounts) -> StoreCounts:
        return StoreCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.rejected + other.rejected,
        )


@dataclass(frozen=True)
class Rejected:
    raw: Any
    error: str
    key: tuple[Any, ...] | None = None  # None when the key itself could not be read


@dataclass
class StoreResult:
    counts: StoreCounts
    keys: list[tuple[Any, ...]]  # the objects stored (written or unchanged)
    rejected: list[Rejected]

    @property
    def seen(self) -> list[tuple[Any, ...]]:
        """Every key the page answered for, rejected ones included: a malformed object still exists."""
        rejected = [r.key for r in self.rejected if r.key is not None]
        return list(dict.fromkeys([*self.keys, *rejected]))


@dataclass
class _Candidate:
    """One object of a page, mapped, with the digest of what it says (`state_digest`)."""

    raw: Any
    key: tuple[Any, ...]
    scope: Mapping[str, Any] | None
    json: bytes  # canonical JSON (UTF-8) of raw: stored as `raw` when the object changed
    digest: str  # stored as `content_hash`: equal digests mean the object did not change
    mapped: Mapped | MappingError | None  # its rows (or why it has none); None for free-form objects

    @property
    def copy_digest(self) -> str:
        """A digest of the copy as sent: a nested copy already written in this run is skipped by it."""
        return digest(self.json, self.scope)


def _candidate(
    resource: Resource,
    raw: Any,
    key: tuple[Any, ...],
    scope: Mapping[str, Any] | None,
    zone: tzinfo,
    text: bytes | None = None,
) -> _Candidate:
    """An object mapped and digested by its typed form: the same instant written with another
    offset, or a nested copy of another object that changed, is not a change of this object.
    `text`: its canonical JSON, when the caller already made it."""
    text = canonical_json_bytes(raw) if text is None else text
    dto = DTOS.get(resource.dto)
    if dto is None:  # free-form (integrations): what it says is all of it
        return _Candidate(raw, key, scope, text, digest(text, scope), None)
    try:
        mapped = map_object(resource.name, dto, raw, resource.key, scope, zone)
    except MappingError as exc:
        return _Candidate(raw, key, scope, text, digest(text, scope), exc)
    return _Candidate(raw, key, scope, text, state_digest(mapped, raw, dto, scope), mapped)


def _key_of(resource: Resource, obj: Any, scope: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """The primary key of an API object, without mapping the rest of it."""
    if not isinstance(obj, dict):
        raise MappingError(f"{resource.name}: expected an object, got {type(obj).__name__}")
    if resource.dto == FREE_FORM:
        key = str(obj["id"]) if obj.get("id") is not None else content_hash(obj)
        return (*(scope or {}).values(), key)
    values = []
    for column in resource.key:
        if scope and column in scope:
            values.append(scope[column])
            continue
        name, kind = _KEY_FIELDS[resource.name][column]
        value = obj.get(name)
        if type(value) is not int or kind not in _INT_KEYS:  # an int id is its own key, as convert says
            value = convert(kind, value, f"{resource.name}.{name}")
        if value is None:
            raise MappingError(f"{resource.name}.{name}: missing (part of the primary key)")
        values.append(value)
    return tuple(values)


_INT_KEYS = (Kind.ID, Kind.INT)
_KEY_FIELDS: dict[str, dict[str, tuple[str, Kind]]] = {
    resource.name: {
        snake(spec.name): (spec.name, spec.kind)
        for spec in DTOS[resource.dto].fields
        if isinstance(spec, Scalar) and snake(spec.name) in resource.key
    }
    for resource in RESOURCES.values()
    if resource.dto != FREE_FORM
}


@dataclass
class Prepared:
    """A page keyed, mapped and digested before its transaction: `prepare` needs no connection, so
    the sync engine runs it for the next page while the database writes this one."""

    candidates: list[_Candidate]
    keys: list[tuple[Any, ...]]  # every accepted object's key, in page order
    rejected: list[Rejected]


def prepare(
    resource: Resource,
    objects: Iterable[Any],
    *,
    scope: Mapping[str, Any] | None = None,
    zone: Zone = UTC,
) -> Prepared:
    """Keys, rows and digests of a page. Every object is mapped: whether it changed is decided on
    its typed form, not on how the API wrote it (docs/sync.md, "What counts as a change")."""
    zone = resolve_zone(zone)
    rejected: list[Rejected] = []
    candidates: dict[tuple[Any, ...], _Candidate] = {}
    keys: list[tuple[Any, ...]] = []
    for obj in objects:
        try:
            key = _key_of(resource, obj, scope)
        except MappingError as exc:
            rejected.append(Rejected(obj, str(exc)))
            continue
        candidates[key] = _candidate(resource, obj, key, scope, zone)  # the last copy wins
        keys.append(key)
    return Prepared(list(candidates.values()), keys, rejected)


def store(
    conn: Connection,
    resource: Resource,
    objects: Iterable[Any],
    *,
    scope: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    written_refs: dict[tuple[str, tuple[Any, ...]], str] | None = None,
    prepared: Prepared | None = None,
    zone: Zone = UTC,
) -> StoreResult:
    """Map and upsert one page of `resource`, read directly (its own list or get); see the module
    docstring. Runs in the caller's transaction.

    `written_refs`, kept by the caller across the pages of one run, remembers the nested copies
    (users, event types) already written with their digests, so every page does not write them again.
    `prepared`: the page as `prepare(resource, objects, scope=scope)` returned it (`objects` is then
    not read again). `zone`: the account's zone, for `Y-m-d H:i:s` date-times (`api_timezone`).

    Cheap when little changed: objects are hashed and compared with the stored hashes first, and
    only new or changed ones are mapped and written (with their children and nested references).
    """
    now = now or datetime.now(UTC)
    zone = resolve_zone(zone)
    if prepared is None:
        prepared = prepare(resource, objects, scope=scope, zone=zone)
    rejected = list(prepared.rejected)
    writer = _Writer(conn, now, written_refs if written_refs is not None else {}, zone)
    counts = writer.write(resource, prepared.candidates, rejected)
    keys = [key for key in prepared.keys if key in writer.stored]
    counts.rejected = len(rejected)
    return StoreResult(counts, list(dict.fromkeys(keys)), rejected)


class _Writer:
    """Writes one page: nested references first, then the page's own objects."""

    def __init__(
        self,
        conn: Connection,
        now: datetime,
        written_refs: dict[tuple[str, tuple[Any, ...]], str],
        zone: tzinfo,
    ) -> None:
        self.conn = conn
        self.now = now
        self.zone = zone
        self.stored: set[tuple[Any, ...]] = set()
        self.written_refs = written_refs

    def write(
        self,
        resource: Resource,
        candidates: list[_Candidate],
        rejected: list[Rejected],
        *,
        nested: bool = False,
    ) -> StoreCounts:
        """`nested`: the candidates are copies nested in other objects (see the module docstring)."""
        candidates, unchanged_keys, absent_keys = self._stored_state(resource, candidates, nested=nested)
        counts = StoreCounts(unchanged=len(unchanged_keys))
        self.stored.update(unchanged_keys)
        dto = DTOS.get(resource.dto)
        rows: list[dict[str, Any]] = []
        row_keys: list[tuple[Any, ...]] = []
        children: dict[str, list[dict[str, Any]]] = {}
        # A page repeats the same user in every event: keep one copy per key (the last).
        refs: dict[str, dict[tuple[Any, ...], Any]] = {}
        for candidate in candidates:
            if candidate.key in unchanged_keys:
                # Unchanged itself, it may still carry a newer copy of an object only ever seen
                # nested (an organization): that one is written on its own.
                if isinstance(candidate.mapped, Mapped):
                    for ref_resource, ref_raw, ref_key in _collect_refs(candidate.mapped):
                        refs.setdefault(ref_resource.name, {})[ref_key] = ref_raw
                continue
            try:
                if dto is None:
                    mapped = Mapped(row={k: v for k, v in zip(resource.key, candidate.key, strict=True)})
                else:
                    ahead = candidate.mapped
                    if isinstance(ahead, MappingError):
                        raise ahead
                    mapped = ahead or map_object(
                        resource.name, dto, candidate.raw, resource.key, candidate.scope, self.zone
                    )
                    copies = _collect_refs(mapped)
            except MappingError as exc:
                rejected.append(Rejected(candidate.raw, str(exc), candidate.key))
                continue
            if dto is not None:
                for ref_resource, ref_raw, ref_key in copies:
                    refs.setdefault(ref_resource.name, {})[ref_key] = ref_raw
            rows.append(self._row(mapped, candidate, nested=nested))
            row_keys.append(candidate.key)
            for table, child_rows in mapped.children.items():
                children.setdefault(table, []).extend(child_rows)
            self.stored.add(candidate.key)
        # Referenced objects first (organizations, users, event types), so no id lacks its row.
        for name in ("organizations", "users", "event_types"):
            if name in refs and name != resource.name:
                ref_resource = RESOURCES[name]
                # A copy already written as it is in this run is skipped before it is mapped.
                fresh = []
                for key, raw in refs[name].items():
                    text = canonical_json_bytes(raw)
                    if self.written_refs.get((name, key)) != digest(text):  # its `copy_digest`
                        fresh.append(_candidate(ref_resource, raw, key, None, self.zone, text))
                self.write(RESOURCES[name], fresh, [], nested=True)
                self.written_refs.update({(name, c.key): c.copy_digest for c in fresh})
        written = self._upsert(resource, rows, row_keys, absent_keys, children, nested=nested)
        counts.inserted, counts.updated = written
        counts.unchanged += len(rows) - sum(written)
        return counts

    def _row(self, mapped: Mapped, candidate: _Candidate, *, nested: bool) -> dict[str, Any]:
        row = mapped.row
        row["raw"] = candidate.json  # sent as it is (binary COPY); the server parses it as jsonb
        row["content_hash"] = candidate.digest
        row["first_synced_at"] = self.now
        row["synced_at"] = self.now
        row["deleted_at"] = None
        row["nested_only"] = nested
        return row

    def _stored_state(
        self, resource: Resource, candidates: list[_Candidate], *, nested: bool
    ) -> tuple[list[_Candidate], set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        """(candidates, unchanged, absent): what to write, the keys whose stored row already says
        exactly that (nothing to write), and the keys with no stored row at all (deleted or not).

        A direct read's candidates are written as they are; a row a nested copy wrote counts as
        changed, so the direct read takes it over. Nested copies: one whose row a direct read wrote
        is dropped, one whose row is nested-only is merged into the stored object (its fields over
        the stored ones), so a copy with fewer fields never empties what a fuller one stored."""
        if not candidates:
            return [], set(), set()
        table = MIRROR[resource.name].top
        key_columns = [table.c[k] for k in resource.key]
        wanted = [c.key for c in candidates]
        # One key column: one array parameter (`= ANY`), not a bind per key that SQLAlchemy renders
        # and psycopg parses again for every page.
        match = (
            key_columns[0]
            == any_(bindparam("keys", [k[0] for k in wanted], type_=ARRAY(key_columns[0].type)))
            if len(key_columns) == 1
            else tuple_(*key_columns).in_(wanted)
        )
        # The stored object only where a nested copy would merge into it.
        merge_base: ColumnElement[Any] = (
            case((table.c.nested_only, table.c.raw)) if nested else literal_column("NULL")
        )
        stored = self.conn.execute(
            select(
                *key_columns,
                table.c.content_hash,
                table.c.deleted_at.is_(None),
                table.c.nested_only,
                merge_base,
            ).where(match)
        ).all()
        width = len(key_columns)
        found = {tuple(row[:width]): row[width:] for row in stored}
        absent = {c.key for c in candidates if c.key not in found}
        if nested:
            merged = (self._merged(resource, c, found.get(c.key)) for c in candidates)
            candidates = [c for c in merged if c is not None]
        unchanged = set()
        for candidate in candidates:
            state = found.get(candidate.key)
            if state is None:
                continue
            digest_, live, nested_only, _raw = state
            if digest_ == candidate.digest and live and nested_only == nested:
                unchanged.add(candidate.key)
        return candidates, unchanged, absent

    def _merged(self, resource: Resource, candidate: _Candidate, state: Any) -> _Candidate | None:
        """A nested copy as it should be written: as it is for an unknown object, merged over the
        stored one for a nested-only row, None (not written) for a row a direct read wrote."""
        if state is None:
            return candidate
        _digest, _live, nested_only, raw = state
        if not nested_only:
            return None
        return _candidate(resource, _merge(raw, candidate.raw), candidate.key, candidate.scope, self.zone)

    def _upsert(
        self,
        resource: Resource,
        rows: list[dict[str, Any]],
        row_keys: list[tuple[Any, ...]],
        absent: set[tuple[Any, ...]],
        children: dict[str, list[dict[str, Any]]],
        *,
        nested: bool,
    ) -> tuple[int, int]:
        """Rows with no stored row are COPied straight into the table; the others go through a staging
        table and one INSERT ... ON CONFLICT. Returns (inserted, updated).

        The direct COPY spares the server a second write of every new row (a first sync's pages are
        all new). Another writer (the replay engine, a sync of the referenced resource) may insert one
        of those keys after `_stored_state` looked: the COPY then fails inside its savepoint and every
        row takes the upsert, as before."""
        if not rows:
            return 0, 0
        tables = MIRROR[resource.name]
        top = tables.top
        inserted: set[tuple[Any, ...]] = set()
        if absent:
            new = [row for row, key in zip(rows, row_keys, strict=True) if key in absent]
            if new and _copy_new_rows(self.conn, top, new):
                inserted = {key for key in row_keys if key in absent}
                rows = [row for row, key in zip(rows, row_keys, strict=True) if key not in absent]
        updated: set[tuple[Any, ...]] = set()
        if rows:
            _copy_rows(self.conn, top, rows, staging=True)
            written = self.conn.exec_driver_sql(_upsert_sql(self.conn, resource, nested=nested)).all()
            inserted |= {tuple(row[: len(resource.key)]) for row in written if row.inserted}
            updated = {tuple(row[: len(resource.key)]) for row in written if not row.inserted}
        if tables.children and (inserted or updated):
            self._replace_children(tables, resource, inserted, updated, children)
        return len(inserted), len(updated)

    def _replace_children(
        self,
        tables: MirrorTables,
        resource: Resource,
        inserted: set[tuple[Any, ...]],
        updated: set[tuple[Any, ...]],
        children: dict[str, list[dict[str, Any]]],
    ) -> None:
        """Children of changed parents are deleted and written again: they always equal the latest parent.

        A parent just inserted has no children yet (a parent is never deleted, only marked), so only
        updated parents need the DELETE.
        """
        top_names = parent_key_columns(tables.top.name, resource.key)
        changed = inserted | updated
        for name, child in tables.children.items():
            if updated:
                top_columns = [child.table.c[c] for c in top_names]
                match = (
                    top_columns[0].in_([key[0] for key in updated])
                    if len(top_columns) == 1
                    else tuple_(*top_columns).in_(list(updated))
                )
                self.conn.execute(delete(child.table).where(match))
            rows = [row for row in children.get(name, []) if tuple(row[c] for c in top_names) in changed]
            if rows:
                _copy_rows(self.conn, child.table, rows, staging=False)


def _copy_new_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> bool:
    """COPY rows that had no stored row straight into `table`; False (and nothing written) when one
    of them exists by now. The savepoint is the driver's own and is never released (it ends with the
    transaction): SQLAlchemy's `begin_nested` would cost a round trip more per page."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.cursor() as cursor:
        cursor.execute("SAVEPOINT syncd_new_rows")
        try:
            _copy_rows(conn, table, rows, staging=False)
        except psycopg.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT syncd_new_rows")
            return False
    return True


def _merge(stored: Any, copy: Any) -> Any:
    """`copy` over `stored`, object by object: a field the copy does not carry keeps its stored value
    (an absent field in a nested copy is unknown, not null); arrays and scalars are the copy's."""
    if not isinstance(stored, dict) or not isinstance(copy, dict):
        return copy
    merged = dict(stored)
    for name, value in copy.items():
        merged[name] = _merge(stored.get(name), value)
    return merged


_UPSERT_SQL: dict[tuple[str, bool], str] = {}


def _upsert_sql(conn: Connection, resource: Resource, *, nested: bool) -> str:
    """The staging-to-table upsert, compiled once per resource and provenance (it has no parameters):
    building and compiling it for every page cost more than the server spent running it."""
    found = _UPSERT_SQL.get((resource.name, nested))
    if found is not None:
        return found
    top = MIRROR[resource.name].top
    staged = insert(top).from_select([c.name for c in top.columns], select(_staging_table(top)))
    excluded = staged.excluded
    update = {
        c.name: excluded[c.name] for c in top.columns if c.name not in (*resource.key, "first_synced_at")
    }
    # Skip the write when nothing changed; a row coming back from deletion is always rewritten.
    changed = or_(top.c.content_hash != excluded.content_hash, top.c.deleted_at.is_not(None))
    # A nested copy never overwrites a direct read's row (even one written since `_stored_state`);
    # a direct read always takes over a nested-only row.
    where = and_(top.c.nested_only, changed) if nested else or_(changed, top.c.nested_only)
    statement = staged.on_conflict_do_update(
        index_elements=[top.c[k] for k in resource.key], set_=update, where=where
    ).returning(*[top.c[k] for k in resource.key], literal_column("xmax = 0").label("inserted"))
    compiled = statement.compile(dialect=conn.dialect)
    assert not compiled.params, "the upsert takes no parameters"
    _UPSERT_SQL[(resource.name, nested)] = found = str(compiled)
    return found


def _collect_refs(mapped: Mapped) -> list[tuple[Resource, Any, tuple[Any, ...]]]:
    """Nested copies of other top-level objects, with their keys (theirs are collected when they are written)."""
    found: list[tuple[Resource, Any, tuple[Any, ...]]] = []
    for dto_name, raw in mapped.refs:
        ref_resource = DTO_TO_RESOURCE[dto_name]
        found.append((ref_resource, raw, _key_of(ref_resource, raw, None)))
    return found


# PostgreSQL type of each column type the mirror declares: COPY is binary, and binary COPY applies
# no casts, so every value is sent as exactly its column's type (psycopg's C dumpers, by oid).
_COPY_TYPES: dict[type[TypeEngine[Any]], str] = {
    BigInteger: "int8",
    Integer: "int4",
    Text: "text",
    Boolean: "bool",
    Numeric: "numeric",
    DateTime: "timestamptz",
    Date: "date",
    JSONB: "jsonb",
}
_COPY_ARRAY_TYPES: dict[type[TypeEngine[Any]], str] = {BigInteger: "int8[]", Text: "text[]"}


def _copy_type(column: Column[Any]) -> str:
    type_ = column.type
    if isinstance(type_, ARRAY):
        found = _COPY_ARRAY_TYPES.get(type(type_.item_type))
    else:
        found = _COPY_TYPES.get(type(type_))
        if found == "timestamptz" and not getattr(type_, "timezone", False):
            found = None
    if found is None:
        raise TypeError(f"{column.table.name}.{column.name}: no binary COPY type for {type_!r}")
    return found


class _JsonbCopyDumper(Dumper):
    """jsonb in binary COPY: version byte 1, then the JSON text. `raw` arrives as the canonical JSON
    bytes already hashed (sent as they are, not serialized again); other jsonb columns hold the
    decoded value."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: Any) -> Buffer | None:
        if type(obj) is bytes:
            return b"\x01" + obj
        try:
            return b"\x01" + orjson.dumps(obj)
        except TypeError:  # what orjson refuses (integers beyond 64 bits) the standard library writes
            return b"\x01" + json.dumps(obj).encode()


class _JsonbCopyValue:
    """Never instantiated: registering `_JsonbCopyDumper` for it on a COPY cursor installs the dumper
    for the jsonb oid on that cursor only (the connection's adapters stay as they are)."""


@dataclass(frozen=True)
class _CopyPlan:
    columns: tuple[str, ...]
    types: tuple[str, ...]  # the PostgreSQL type of each column, for the binary COPY
    statement: str  # COPY ... FROM STDIN into the table itself
    stage_statement: str  # COPY ... FROM STDIN into the staging twin
    stage_prepare: str  # creates the staging twin if this session has none, and empties it


_COPY_PLANS: dict[str, _CopyPlan] = {}


def _copy_plan(table: Table) -> _CopyPlan:
    plan = _COPY_PLANS.get(table.fullname)
    if plan is None:
        columns = tuple(c.name for c in table.columns)
        listed = ", ".join(columns)
        stage = _staging_table(table).name
        plan = _CopyPlan(
            columns,
            tuple(_copy_type(c) for c in table.columns),
            f"COPY {table.schema}.{table.name} ({listed}) FROM STDIN (FORMAT BINARY)",
            f"COPY {stage} ({listed}) FROM STDIN (FORMAT BINARY)",
            # One round trip (no parameters: the simple protocol takes both statements). DELETE, not
            # TRUNCATE: the twin is empty or small (ON COMMIT DELETE ROWS), and a TRUNCATE makes a new file.
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.schema}.{table.name})"
            f" ON COMMIT DELETE ROWS; DELETE FROM {stage}",
        )
        _COPY_PLANS[table.fullname] = plan
    return plan


def _copy_rows(conn: Connection, table: Table, rows: list[dict[str, Any]], *, staging: bool) -> Table:
    """COPY rows into `table` (or its session-local staging twin, emptied first); returns the target.

    Binary COPY: psycopg's C dumpers write each value in its column's binary form, and the server
    reads it without the text format's escaping (`raw`, ~10 kB an event, is the bulk of every page:
    the text format escaped it here and unescaped it there)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    plan = _copy_plan(table)
    columns = plan.columns
    pick = itemgetter(*columns)
    with driver.cursor() as cursor:
        cursor.adapters.register_dumper(_JsonbCopyValue, _JsonbCopyDumper)
        if staging:
            cursor.execute(plan.stage_prepare)
        with cursor.copy(plan.stage_statement if staging else plan.statement) as copy:
            copy.set_types(plan.types)
            write = copy.write_row
            for row in rows:
                try:
                    values = pick(row)  # every column is present in a mapped row
                except KeyError:
                    values = tuple(row.get(c) for c in columns)
                write(values)
    return _staging_table(table) if staging else table


_STAGING: dict[str, Table] = {}


def _staging_table(table: Table) -> Table:
    """A temporary twin of `table` (same columns), known to SQLAlchemy for the INSERT ... SELECT."""
    if table.name not in _STAGING:
        _STAGING[table.name] = Table(
            f"syncd_stage_{table.name}", MetaData(), *[Column(c.name, c.type) for c in table.columns]
        )
    return _STAGING[table.name]
