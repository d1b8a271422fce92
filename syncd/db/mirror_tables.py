"""The mirror's tables, derived from the DTO declarations: one per resource, with its children.

Every top-level table (one per resource) has typed columns for each documented field, flattened 1:1
objects (`invitee_email`), reference ids (`user_id`), plus `raw` (the object as received),
`content_hash` (of the typed form), `first_synced_at`, `synced_at` and `deleted_at`. Arrays of objects become child
tables keyed by the parent's key and the item's position; arrays of references become link tables.
The writer that keeps them current is `syncd.db.mirror`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Numeric,
    Table,
    Text,
    Time,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

from syncd.api.contract import DTOS, Children, Dto, Embedded, Kind, Ref, RefList, Scalar
from syncd.db.schema import MIRROR_SCHEMA, metadata
from syncd.mapping import ITEM_INDEX, child_table_name, parent_key_columns, snake
from syncd.resources import RESOURCES, Resource

_TYPES: dict[Kind, TypeEngine[Any]] = {
    Kind.ID: BigInteger(),
    Kind.INT: Integer(),
    Kind.TEXT: Text(),
    Kind.BOOL: Boolean(),
    Kind.NUMERIC: Numeric(),
    Kind.TIMESTAMP: DateTime(timezone=True),
    Kind.DATE: Date(),
    Kind.TIME: Time(),
    Kind.JSON: JSONB(none_as_null=True),
    Kind.ID_ARRAY: ARRAY(BigInteger()),
    Kind.TEXT_ARRAY: ARRAY(Text()),
}

# Key columns that are not DTO fields: the parent of a per-event-type read, the integration's side.
_SCOPE_COLUMNS: dict[str, tuple[str, TypeEngine[Any], str]] = {
    "event_type_id": ("event_type_id", BigInteger(), "The event type this row was read for."),
    "scope": ("scope", Text(), "Whose integration: 'user' or 'organization'."),
    "key": ("key", Text(), "The integration's id when it has one, else a digest of the object."),
}


def _dto_columns(dto: Dto, prefix: str = "", doc_prefix: str = "") -> list[Column[Any]]:
    columns: list[Column[Any]] = []
    for spec in dto.fields:
        name = prefix + snake(spec.name)
        source = f"{doc_prefix}{spec.name}"
        if isinstance(spec, Scalar):
            columns.append(Column(name, _TYPES[spec.kind], comment=f"{dto.name}.{source}: {spec.doc}"))
        elif isinstance(spec, Embedded):
            columns += _dto_columns(DTOS[spec.dto], name + "_", f"{source}.")
        elif isinstance(spec, Ref):
            columns.append(
                Column(f"{name}_id", BigInteger(), comment=f"{dto.name}.{source}.id: {spec.doc} ({spec.dto})")
            )
    return columns


@dataclass(frozen=True)
class ChildTable:
    table: Table
    dto: Dto | None  # None for a link table
    top_key: tuple[str, ...]  # the top-level parent's key columns, present in every descendant


@dataclass
class MirrorTables:
    top: Table
    children: dict[str, ChildTable] = field(default_factory=dict)


def _declare_children(
    parent_table: str,
    dto: Dto,
    key_columns: list[tuple[str, TypeEngine[Any]]],
    top_key: tuple[str, ...],
    out: dict[str, ChildTable],
) -> None:
    """Child and link tables of `dto`, keyed by every ancestor's key (top first) and a position."""
    for spec in dto.fields:
        if not isinstance(spec, Children | RefList):
            continue
        name = child_table_name(parent_table, spec.name)
        keys = [
            Column(column, type_, primary_key=True, comment=f"Key of the parent row ({column}).")
            for column, type_ in key_columns
        ]
        position = Column(
            ITEM_INDEX, Integer(), primary_key=True, comment="Index of the item in the array, from 0."
        )
        if isinstance(spec, RefList):
            ref = snake(spec.dto.removesuffix("DTO"))
            body = [Column(f"{ref}_id", BigInteger(), nullable=False, comment=f"{dto.name}.{spec.name}[].id")]
            table = Table(name, metadata, *keys, position, *body, schema=MIRROR_SCHEMA, comment=spec.doc)
            out[name] = ChildTable(table, None, top_key)
            continue
        child_dto = DTOS[spec.dto]
        table = Table(
            name,
            metadata,
            *keys,
            position,
            *_dto_columns(child_dto),
            schema=MIRROR_SCHEMA,
            comment=f"{dto.name}.{spec.name}[]: {spec.doc}",
        )
        out[name] = ChildTable(table, child_dto, top_key)
        own_key = parent_key_columns(name, (ITEM_INDEX,))[0]
        _declare_children(name, child_dto, [*key_columns, (own_key, Integer())], top_key, out)


def _declare(resource: Resource) -> MirrorTables:
    dto = DTOS.get(resource.dto)
    columns: list[Column[Any]] = [] if dto is None else _dto_columns(dto)
    names = {column.name for column in columns}
    for key in resource.key:
        if key not in names:
            name, type_, doc = _SCOPE_COLUMNS[key]
            columns.insert(0, Column(name, type_, comment=doc))
    for column in columns:
        if column.name in resource.key:
            column.primary_key = True
            column.nullable = False
    meta = [
        Column("raw", JSONB(), nullable=False, comment="The object exactly as the API answered it."),
        Column(
            "content_hash",
            Text(),
            nullable=False,
            comment="Digest of what the object says (typed row, child rows, undocumented fields): "
            "an unchanged object is not rewritten.",
        ),
        Column(
            "first_synced_at", DateTime(timezone=True), nullable=False, comment="When syncd first saw it."
        ),
        Column("synced_at", DateTime(timezone=True), nullable=False, comment="When syncd last wrote it."),
        Column(
            "deleted_at",
            DateTime(timezone=True),
            comment="When a complete pass no longer found it upstream; NULL while it exists.",
        ),
        Column(
            "nested_only",
            Boolean(),
            nullable=False,
            server_default=text("false"),
            comment="True while syncd has seen it only nested in other objects, never read directly.",
        ),
    ]
    top = Table(resource.name, metadata, *columns, *meta, schema=MIRROR_SCHEMA, comment=resource.doc)
    tables = MirrorTables(top)
    if dto is not None:
        names_in_children = parent_key_columns(resource.name, resource.key)
        key_columns = [(n, top.c[k].type) for n, k in zip(names_in_children, resource.key, strict=True)]
        _declare_children(resource.name, dto, key_columns, resource.key, tables.children)
    return tables


MIRROR: dict[str, MirrorTables] = {name: _declare(resource) for name, resource in RESOURCES.items()}

Index("ix_events_updated_at", MIRROR["events"].top.c.updated_at)
Index("ix_events_scheduled_at", MIRROR["events"].top.c.scheduled_at)
Index("ix_events_event_type_id", MIRROR["events"].top.c.event_type_id)
Index("ix_events_user_id", MIRROR["events"].top.c.user_id)


def table_for(resource: Resource) -> Table:
    return MIRROR[resource.name].top
