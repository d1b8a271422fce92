"""From the API's JSON to typed rows: one function walks a DTO declaration and an object together.

The table layout (`syncd.db.mirror`) and this mapping both derive from `syncd.api.contract`, so a
column always has a value path and a value always has a column. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

import orjson

from syncd.api.contract import DTOS, Children, Dto, Embedded, Kind, Ref, RefList, Scalar
from syncd.api.dates import parse_api_date, parse_api_datetime

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@cache
def snake(name: str) -> str:
    """camelCase to snake_case (`relatedEventIds` -> `related_event_ids`); snake names stay."""
    return _CAMEL.sub("_", name).lower()


# The column holding an array item's index (QuestionDTO has a `position` field of its own).
ITEM_INDEX = "item_index"


class MappingError(ValueError):
    """An object cannot be mapped; the message names the field path and the problem."""


def parse_timestamp(value: str) -> datetime:
    return parse_api_datetime(value)


def convert(kind: Kind, value: Any, path: str) -> Any:
    if value is None:
        return None
    try:
        return _CONVERTERS[kind](value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise MappingError(f"{path}: {shown} is not a valid {kind.name.lower()} ({exc})") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)  # "12" -> 12; "x" raises ValueError


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a number where the docs say string (countryId: 5) is still the same text
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)  # PHP backends often answer 0/1 for booleans
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _numeric(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    number = Decimal(str(value))  # via str: 19.99 stays 19.99, not its binary approximation
    if not number.is_finite():
        raise ValueError("not a finite number")
    return number


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected a date-time string, got {type(value).__name__}")
    return parse_api_datetime(value)


def _date(value: Any) -> date:
    if not isinstance(value, str):
        raise TypeError(f"expected a date string, got {type(value).__name__}")
    return parse_api_date(value)


def _id_array(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return [_int(item) for item in value]


def _text_array(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return [_text(item) for item in value]


_CONVERTERS = {
    Kind.ID: _int,
    Kind.INT: _int,
    Kind.TEXT: _text,
    Kind.BOOL: _bool,
    Kind.NUMERIC: _numeric,
    Kind.TIMESTAMP: _timestamp,
    Kind.DATE: _date,
    Kind.JSON: lambda value: value,
    Kind.ID_ARRAY: _id_array,
    Kind.TEXT_ARRAY: _text_array,
}


def canonical_json(raw: Any) -> str:
    """JSON with sorted keys: the same object always gives the same text."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()


def digest(text: str, scope: Mapping[str, Any] | None = None) -> str:
    """A stable digest of what the API said (and where it was read): equal digests mean nothing changed."""
    if scope:
        text += json.dumps(dict(scope), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def content_hash(raw: Any, scope: Mapping[str, Any] | None = None) -> str:
    return digest(canonical_json(raw), scope)


@dataclass
class Mapped:
    """One object's rows: its own columns, its child rows by table, and the nested objects it refers to."""

    row: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refs: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (dto name, nested object)


def child_table_name(parent: str, field_name: str) -> str:
    """`<parent singular>_<field>`, without a repeated prefix (event_type + eventTypeDurations)."""
    singular = parent[:-1] if parent.endswith("s") else parent
    column = snake(field_name)
    return column if column.startswith(singular + "_") else f"{singular}_{column}"


def parent_key_columns(parent_table: str, parent_key: tuple[str, ...]) -> tuple[str, ...]:
    """How a child table names its parent's key: `id` becomes `<parent singular>_id`, the item index gets a prefix."""
    singular = parent_table[:-1] if parent_table.endswith("s") else parent_table
    short = singular.split("_")[-1]
    renamed = []
    for column in parent_key:
        if column == "id":
            renamed.append(f"{singular}_id")
        elif column == ITEM_INDEX:
            renamed.append(f"{short}_index")
        else:
            renamed.append(column)
    return tuple(renamed)


def flatten(
    dto: Dto, obj: Mapping[str, Any], path: str, out: Mapped, row: dict[str, Any], prefix: str = ""
) -> None:
    """Fill `row` with dto's scalar, embedded and ref columns from `obj`; collect nested refs."""
    for spec in dto.fields:
        value = obj.get(spec.name)
        where = f"{path}.{spec.name}"
        if isinstance(spec, Scalar):
            row[prefix + snake(spec.name)] = convert(spec.kind, value, where)
        elif isinstance(spec, Embedded):
            if value is not None and not isinstance(value, dict):
                raise MappingError(f"{where}: expected an object, got {type(value).__name__}")
            flatten(DTOS[spec.dto], value or {}, where, out, row, prefix + snake(spec.name) + "_")
        elif isinstance(spec, Ref):
            row[prefix + snake(spec.name) + "_id"] = _ref_id(value, where, out, spec.dto)


def _ref_id(value: Any, where: str, out: Mapped, dto_name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected an object, got {type(value).__name__}")
    ref_id = convert(Kind.ID, value.get("id"), f"{where}.id")
    if ref_id is not None:
        out.refs.append((dto_name, value))
    return ref_id  # type: ignore[no-any-return]


def map_children(
    table: str,
    dto: Dto,
    obj: Mapping[str, Any],
    path: str,
    out: Mapped,
    key_values: dict[str, Any],
) -> None:
    """Rows of every Children / RefList field of `obj`, keyed by the parent's key plus a position."""
    for spec in dto.fields:
        if not isinstance(spec, Children | RefList):
            continue
        value = obj.get(spec.name)
        where = f"{path}.{spec.name}"
        if value is None:
            items: list[Any] = []
        elif isinstance(value, list):
            items = value
        else:
            raise MappingError(f"{where}: expected an array, got {type(value).__name__}")
        child = child_table_name(table, spec.name)
        rows = out.children.setdefault(child, [])
        for position, item in enumerate(items):
            item_path = f"{where}[{position}]"
            if not isinstance(item, dict):
                raise MappingError(f"{item_path}: expected an object, got {type(item).__name__}")
            row = {**key_values, ITEM_INDEX: position}
            if isinstance(spec, RefList):
                ref_id = _ref_id(item, item_path, out, spec.dto)
                if ref_id is None:
                    raise MappingError(f"{item_path}.id: missing")
                row[snake(spec.dto.removesuffix("DTO")) + "_id"] = ref_id
                rows.append(row)
                continue
            child_dto = DTOS[spec.dto]
            flatten(child_dto, item, item_path, out, row)
            rows.append(row)
            child_keys = dict(zip(parent_key_columns(child, (ITEM_INDEX,)), (position,), strict=True))
            map_children(child, child_dto, item, item_path, out, {**key_values, **child_keys})


def map_object(
    table: str, dto: Dto, obj: Any, key: tuple[str, ...], scope: Mapping[str, Any] | None = None
) -> Mapped:
    """Map one top-level object; raises MappingError naming the first field that cannot be mapped."""
    if not isinstance(obj, dict):
        raise MappingError(f"{table}: expected an object, got {type(obj).__name__}")
    out = Mapped(row={})
    flatten(dto, obj, table, out, out.row)
    out.row.update(scope or {})
    for column in key:
        if out.row.get(column) is None:
            raise MappingError(f"{table}.{column}: missing (part of the primary key)")
    parent_keys = parent_key_columns(table, key)
    map_children(
        table, dto, obj, table, out, {pk: out.row[k] for pk, k in zip(parent_keys, key, strict=True)}
    )
    return out
