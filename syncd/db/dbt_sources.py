"""`docs/dbt/sources.yml`, rendered from the MetaData: the mirror as a dbt source.

Every table (and view declared as one: `event_history`) of schema `simplymeet` with its description, and every column with its type and the
description its comment gives (the same text as docs/schema.md); `not_null` on primary key columns,
`unique` too when the key is one column. A test keeps the committed file equal to this rendering;
`make dbt-sources` writes it. The YAML is written here (a handful of shapes; a string that is not a
plain name is quoted in JSON's syntax, which YAML reads as it is), so syncd needs no YAML library.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql

from syncd.db import models  # noqa: F401  # registers every table on the MetaData
from syncd.db.schema import MIRROR_SCHEMA, metadata, views

HEADER = (
    '# The SimplyMeet mirror kept by syncd, as a dbt source (docs/analytics.md, "dbt").\n'
    "# Generated from syncd's MetaData by `make dbt-sources`; do not edit by hand.\n"
)
SOURCE_DESCRIPTION = (
    "Mirror of the SimplyMeet account, kept by syncd (read it; syncd writes it). Top-level tables have "
    "raw, content_hash, first_synced_at, synced_at and deleted_at (NULL while the object exists upstream)."
)


def _column(table: Table, name: str) -> dict[str, Any]:
    column = table.c[name]
    entry: dict[str, Any] = {
        "name": name,
        "data_type": str(column.type.compile(dialect=postgresql.dialect())).lower(),  # type: ignore[no-untyped-call]
        "description": column.comment or "",
    }
    key = [c.name for c in table.primary_key.columns]
    if name in key:
        entry["data_tests"] = ["unique", "not_null"] if len(key) == 1 else ["not_null"]
    return entry


def _table(table: Table) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": table.name, "description": table.comment or ""}
    if "synced_at" in table.c:
        entry["loaded_at_field"] = "synced_at"  # for `dbt source freshness`, once a threshold is set
    entry["columns"] = [_column(table, column.name) for column in table.columns]
    return entry


def sources() -> dict[str, Any]:
    """The document as data (what a YAML parser reads back from `render()`)."""
    declared = [*metadata.tables.values(), *views.tables.values()]  # event_history is a view
    tables = sorted((t for t in declared if t.schema == MIRROR_SCHEMA), key=lambda t: t.name)
    source = {
        "name": MIRROR_SCHEMA,
        "schema": MIRROR_SCHEMA,
        "description": SOURCE_DESCRIPTION,
        "tables": [_table(table) for table in tables],
    }
    return {"version": 2, "sources": [source]}


_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
# Plain words YAML 1.1 parsers (PyYAML among them) read as something other than a string.
_NOT_PLAIN = frozenset({"null", "true", "false", "yes", "no", "on", "off", "y", "n"})


def _scalar(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"no YAML form here for {value!r}")
    if isinstance(value, int) or (_PLAIN.fullmatch(value) and value not in _NOT_PLAIN):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _lines(value: object, indent: int) -> list[str]:
    """Block-style YAML of mappings (keys are plain names), sequences and scalars."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list):
                lines += [f"{pad}{key}:", *_lines(item, indent + 2)]
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                nested = _lines(item, indent + 2)
                lines += [f"{pad}- {nested[0].lstrip()}", *nested[1:]]
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        raise TypeError(f"expected a mapping or a sequence, got {value!r}")
    return lines


def render() -> str:
    return HEADER + "\n".join(_lines(sources(), 0)) + "\n"


if __name__ == "__main__":
    print(render(), end="")
