"""`docs/schema.md`, rendered from the MetaData: the mirror's tables and columns with their DTO sources.

A test keeps the committed file equal to this rendering; `make schema-doc` writes it.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from syncd.db import models  # noqa: F401  # registers every table on the MetaData
from syncd.db.schema import BI_SCHEMA, MIRROR_SCHEMA, STATE_SCHEMA, metadata, views

_HEADER = """# The database schema

Generated from syncd's MetaData by `make schema-doc`; a test keeps this file in step with the code.
Do not edit by hand.

Schema `{mirror}` is the mirror of the SimplyMeet account (read it; syncd writes it). Column names are
the snake_case of the API's DTO field names; a 1:1 nested object is flattened with its field name as
prefix (`invitee_email`); a reference to another object is its id (`user_id`); arrays of objects are
child tables keyed by the parent's key and `position` (the item's index); arrays of references are
link tables. Every top-level table also has `raw` (the object exactly as received),
`content_hash`, `first_synced_at`, `synced_at`, `deleted_at` (NULL while the object exists
upstream) and `nested_only` (seen only nested in other objects so far, see docs/mirror.md). Date-times are `timestamptz` (the instant exactly, whatever offset the API used).
`event_history` is the exception, a view: every version of every event, with the events' columns
and `raw`, and `valid_from` / `valid_to` / `recorded_at` instead (see docs/change-feed.md); its
versions are stored in `syncd.event_versions`, the open one's columns in `events` itself.

Schema `{state}` is syncd's own state (runs, cursors, intents, the change feed `changes` (a view
over `change_log`), webhook subscriptions and their deliveries).

Schema `{bi}` holds views for analysts over the mirror (bookings, weekly bookings, cancellation and
no-show rates), documented in docs/analytics.md; docs/dbt/sources.yml describes the mirror for dbt.
"""


def _type(table: Table, name: str) -> str:
    return str(table.c[name].type.compile(dialect=postgresql.dialect())).lower()  # type: ignore[no-untyped-call]


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    parts = [_HEADER.format(mirror=MIRROR_SCHEMA, state=STATE_SCHEMA, bi=BI_SCHEMA)]
    for schema in (MIRROR_SCHEMA, STATE_SCHEMA):
        declared = [*metadata.tables.values(), *views.tables.values()]
        tables = sorted((t for t in declared if t.schema == schema), key=lambda t: t.name)
        for table in tables:
            view = " (a view)" if table.metadata is views else ""
            parts.append(f"\n## `{schema}.{table.name}`{view}\n")
            if table.comment:
                parts.append(f"\n{_escape(table.comment)}\n")
            key = [c.name for c in table.primary_key.columns]
            if key:
                parts.append(f"\nPrimary key: `({', '.join(key)})`.\n")
            parts.append("\n| column | type | null | source and meaning |\n|---|---|---|---|\n")
            for column in table.columns:
                nullable = "" if not column.nullable else "yes"
                comment = _escape(column.comment or "")
                parts.append(
                    f"| `{column.name}` | `{_type(table, column.name)}` | {nullable} | {comment} |\n"
                )
    return "".join(parts)


if __name__ == "__main__":
    print(render(), end="")
