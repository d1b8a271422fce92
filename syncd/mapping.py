"""From the API's JSON to typed rows: one function walks a DTO declaration and an object together.

The table layout (`syncd.db.mirror_tables`) and this mapping both derive from `syncd.api.contract`, so a
column always has a value path and a value always has a column. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

import orjson

from syncd.api.contract import DTOS, Children, Dto, Embedded, Kind, Ref, RefList, Scalar
from syncd.api.dates import Zone, parse_api_date, parse_api_datetime, resolve_zone

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@cache
def snake(name: str) -> str:
    """camelCase to snake_case (`relatedEventIds` -> `related_event_ids`); snake names stay."""
    return _CAMEL.sub("_", name).lower()


# The column holding an array item's index (QuestionDTO has a `position` field of its own).
ITEM_INDEX = "item_index"


class MappingError(ValueError):
    """An object cannot be mapped; the message names the field path and the problem."""


def parse_timestamp(value: str, zone: Zone = UTC) -> datetime:
    """An answer's date-time: ISO 8601 keeps its offset; `Y-m-d H:i:s` is read in `zone`."""
    return parse_api_datetime(value, zone)


def convert(kind: Kind, value: Any, path: str, zone: tzinfo = UTC) -> Any:
    """`value` as `kind`; a `Y-m-d H:i:s` date-time is read in `zone` (the account's, `api_timezone`)."""
    if value is None:
        return None
    try:
        if kind is Kind.TIMESTAMP:
            return _timestamp(value, zone)
        return _CONVERTERS[kind](value)
    except (TypeError, ValueError, InvalidOperation) as exc:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise MappingError(f"{path}: {shown} is not a valid {kind.name.lower()} ({exc})") from None


# A numeric string where the DTO says int: ASCII digits with an optional sign. `int()` alone would
# also take "1_000" and other scripts' digits, which no JSON encoder writes for a number.
_INT_TEXT = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if isinstance(value, str) and not _INT_TEXT.fullmatch(value):
        raise ValueError("not a decimal integer")
    return int(value)  # "12" -> 12


def _text(value: Any) -> str:
    # A number where the docs say string is a wrong type, not text to guess at: `state: 1` would
    # otherwise be stored as the state "1", and its healing reported as a state change.
    if isinstance(value, str):
        return value
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


def _timestamp(value: Any, zone: tzinfo = UTC) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected a date-time string, got {type(value).__name__}")
    return _timestamp_text(value, zone)


# The API's usual shape (`2026-11-16T10:32:03+02:00`): read by the C parser, which gives the same
# instant and offset as `parse_api_datetime` for exactly this shape (checked by a unit test) at a
# tenth of the cost; anything else, or an impossible date, takes `parse_api_datetime` and its errors.
_ISO_SECONDS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-][01]\d:[0-5]\d", re.ASCII)


@lru_cache(maxsize=8192)
def _timestamp_text(value: str, zone: tzinfo) -> datetime:
    """Parsed once per distinct text (and zone): nested copies repeat the same stamps on every page."""
    if _ISO_SECONDS.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # 2026-02-30: the documented parser says why
    return parse_api_datetime(value, zone)


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


def _free_form_array(value: Any) -> list[Any]:
    """Free-form content, kept as it is; the docs declare both such fields arrays (UserDTO.connections,
    QuestionDTO.config), so anything else is a wrong type (`connections: ""`)."""
    if not isinstance(value, list):
        raise TypeError(f"expected an array, got {type(value).__name__}")
    return value


_CONVERTERS = {
    Kind.ID: _int,
    Kind.INT: _int,
    Kind.TEXT: _text,
    Kind.BOOL: _bool,
    Kind.NUMERIC: _numeric,
    Kind.TIMESTAMP: _timestamp,  # `convert` passes the zone
    Kind.DATE: _date,
    Kind.JSON: _free_form_array,
    Kind.ID_ARRAY: _id_array,
    Kind.TEXT_ARRAY: _text_array,
}


def canonical_json_bytes(raw: Any) -> bytes:
    """JSON with sorted keys, UTF-8: the same object always gives the same bytes. The mirror hashes
    these bytes and sends them as they are (binary COPY), with no str in between."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def canonical_json(raw: Any) -> str:
    """JSON with sorted keys: the same object always gives the same text."""
    return canonical_json_bytes(raw).decode()


def digest(text: str | bytes, scope: Mapping[str, Any] | None = None) -> str:
    """A stable digest of what the API said (and where it was read): equal digests mean nothing changed.
    `text` is the canonical JSON, as str or as its UTF-8 bytes (the same digest either way)."""
    hashed = hashlib.blake2b(text.encode() if isinstance(text, str) else text, digest_size=16)
    if scope:
        hashed.update(json.dumps(dict(scope), sort_keys=True, default=str).encode())
    return hashed.hexdigest()


def _plain(value: Any) -> Any:
    """A typed value in one canonical form: an instant in UTC, a number without trailing zeros."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, date | time):
        return value.isoformat()
    return value


@cache
def _documented(dto_name: str) -> frozenset[str]:
    return frozenset(spec.name for spec in DTOS[dto_name].fields)


def state_digest(
    mapped: Mapped, raw: Mapping[str, Any], dto: Dto, scope: Mapping[str, Any] | None = None
) -> str:
    """A digest of what an object says, not of how the API wrote it: its typed row and child rows (an
    instant is the same whatever offset wrote it; a reference is its id, so a nested copy of another
    object that changed does not change this one), and its undocumented top-level fields as sent."""
    documented = _documented(dto.name)
    state = {
        "row": mapped.row,
        "children": mapped.children,
        "extra": {name: value for name, value in raw.items() if name not in documented},
    }
    # orjson hands exactly the values `_plain` changes (date-times, dates, times: passed through;
    # Decimal: not native) to `_plain`, and writes every other value itself as it did after `_plain`
    # left it alone: the bytes of `state_digest_reference`, without a Python call per value.
    return digest(orjson.dumps(state, option=_STATE_OPTIONS, default=_plain), scope)


_STATE_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def state_digest_reference(
    mapped: Mapped, raw: Mapping[str, Any], dto: Dto, scope: Mapping[str, Any] | None = None
) -> str:
    """`state_digest` spelled out value by value: the definition the fast one is tested against
    (stored `content_hash` values were written by this form, and must stay equal)."""
    state = {
        "row": {name: _plain(value) for name, value in mapped.row.items()},
        "children": {
            table: [{name: _plain(value) for name, value in row.items()} for row in rows]
            for table, rows in mapped.children.items()
        },
        "extra": {name: value for name, value in raw.items() if name not in _documented(dto.name)},
    }
    return digest(orjson.dumps(state, option=orjson.OPT_SORT_KEYS), scope)


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


_parent_key_columns = cache(parent_key_columns)  # per (table, key): map_object asks for every object


# --- compiled plans -------------------------------------------------------------------------------
#
# Walking a DTO declaration per value (isinstance on the spec, snake(), the kind's converter) cost
# more than the conversions themselves. Each (table, DTO) is compiled once into flat tuples; a value
# whose Python type already is the column's (str for text, int for ids) is taken as it is, anything
# else goes through `convert`, which raises the same MappingError as before.

_SCALAR, _EMBEDDED, _REF = 0, 1, 2

# The Python type a converter returns unchanged (`type(value) is T`); NoneType never matches a value.
_AS_IS: dict[Kind, type] = {Kind.ID: int, Kind.INT: int, Kind.TEXT: str, Kind.BOOL: bool}
_NEVER = type(None)

# (_SCALAR, field, column, as-is type, kind) | (_EMBEDDED, field, ops) | (_REF, field, column, dto)
_Op = tuple[Any, ...]


@dataclass(frozen=True)
class _ChildPlan:
    field: str
    table: str  # the child (or link) table
    dto: str
    link_column: str | None  # a RefList: the link table's `<ref>_id` column
    plan: _Plan | None  # a Children field: the item's own plan
    own_key: str  # how the item's grandchildren name its position


# What `_fill` does for one plan, as one generated function: (obj, path, out, row, zone) -> None.
_Fill = Callable[[Mapping[str, Any], str, "Mapped", dict[str, Any], tzinfo], None]


@dataclass(frozen=True)
class _Plan:
    ops: tuple[_Op, ...]
    children: tuple[_ChildPlan, ...]
    fill: _Fill  # `_fill` over `ops`, generated from them (`_compile_fill`)


def _ops(dto: Dto, prefix: str) -> tuple[_Op, ...]:
    ops: list[_Op] = []
    for spec in dto.fields:
        if isinstance(spec, Scalar):
            column = prefix + snake(spec.name)
            ops.append((_SCALAR, spec.name, column, _AS_IS.get(spec.kind, _NEVER), spec.kind))
        elif isinstance(spec, Embedded):
            ops.append((_EMBEDDED, spec.name, _ops(DTOS[spec.dto], prefix + snake(spec.name) + "_")))
        elif isinstance(spec, Ref):
            ops.append((_REF, spec.name, prefix + snake(spec.name) + "_id", spec.dto))
    return tuple(ops)


@cache
def _plan(table: str, dto_name: str) -> _Plan:
    dto = DTOS[dto_name]
    children: list[_ChildPlan] = []
    for spec in dto.fields:
        if not isinstance(spec, Children | RefList):
            continue
        child = child_table_name(table, spec.name)
        own_key = parent_key_columns(child, (ITEM_INDEX,))[0]
        if isinstance(spec, RefList):
            link = snake(spec.dto.removesuffix("DTO")) + "_id"
            children.append(_ChildPlan(spec.name, child, spec.dto, link, None, own_key))
        else:
            children.append(_ChildPlan(spec.name, child, spec.dto, None, _plan(child, spec.dto), own_key))
    ops = _ops(dto, "")
    return _Plan(ops, tuple(children), _compile_fill(ops, f"{table}_{dto_name}"))


def _fill(
    ops: tuple[_Op, ...],
    obj: Mapping[str, Any],
    path: str,
    out: Mapped,
    row: dict[str, Any],
    zone: tzinfo,
) -> None:
    get = obj.get
    for op in ops:
        value = get(op[1])
        tag = op[0]
        if tag == _SCALAR:
            _, name, column, as_is, kind = op
            if value is None or type(value) is as_is:
                row[column] = value
            else:
                row[column] = convert(kind, value, f"{path}.{name}", zone)
        elif tag == _EMBEDDED:
            if value is not None and not isinstance(value, dict):
                raise MappingError(f"{path}.{op[1]}: expected an object, got {type(value).__name__}")
            _fill(op[2], value or {}, f"{path}.{op[1]}", out, row, zone)
        else:
            _, name, column, dto_name = op
            if value is None:
                row[column] = None
            elif type(value) is dict and type(value.get("id")) is int:
                row[column] = value["id"]
                out.refs.append((dto_name, value))
            else:
                row[column] = _ref_id(value, f"{path}.{name}", out, dto_name)


def _ref_id(value: Any, where: str, out: Mapped, dto_name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MappingError(f"{where}: expected an object, got {type(value).__name__}")
    ref_id = convert(Kind.ID, value.get("id"), f"{where}.id")
    if ref_id is not None:
        out.refs.append((dto_name, value))
    return ref_id  # type: ignore[no-any-return]


# --- generated fills --------------------------------------------------------------------------------
#
# `_fill` walks the ops tuple for every object: a loop step, a tuple unpack and a tag test per field.
# `_compile_fill` writes the same steps out once per plan as straight-line Python (a field's name,
# column and kind become constants), so an object costs only its own values. The generated function
# does exactly what `_fill` does, in the same order, with the same errors (tests/unit/test_mapping_compiled.py
# compares the two on generated objects); `_fill` stays the definition.

_FILL_NAMESPACE: dict[str, Any] = {}  # filled below, once the helpers it names are defined


def _compile_fill(ops: tuple[_Op, ...], name: str) -> _Fill:
    lines = ["def fill(obj, path, out, row, zone):", "    refs_append = out.refs.append", "    g0 = obj.get"]
    _fill_lines(ops, 0, "", lines)
    namespace = dict(_FILL_NAMESPACE)
    exec(compile("\n".join(lines), f"<syncd.mapping fill {name}>", "exec"), namespace)  # noqa: S102  # source built from the declaration only, every literal through repr()
    fill: _Fill = namespace["fill"]
    return fill


def _fill_lines(ops: tuple[_Op, ...], depth: int, where: str, lines: list[str]) -> None:
    """Source lines for `ops` read through `g<depth>`; `where` is the path suffix of this level."""
    pad, get = "    ", f"g{depth}"
    for op in ops:
        tag, name = op[0], op[1]
        here = repr(f"{where}.{name}")  # the path suffix errors name, after the runtime `path`
        lines.append(f"{pad}v = {get}({name!r})")
        if tag == _SCALAR:
            _, _, column, as_is, kind = op
            target = f"row[{column!r}]"
            slow = f"convert(Kind.{kind.name}, v, path + {here}, zone)"
            if as_is is not _NEVER:
                lines += [
                    f"{pad}if v is None or type(v) is {as_is.__name__}:",
                    f"{pad}    {target} = v",
                    f"{pad}else:",
                    f"{pad}    {target} = {slow}",
                ]
            elif kind is Kind.TIMESTAMP:
                # `convert` would call `_timestamp_text` for a str; on its error, `convert` raises it.
                lines += [
                    f"{pad}if v is None:",
                    f"{pad}    {target} = None",
                    f"{pad}elif type(v) is str:",
                    f"{pad}    try:",
                    f"{pad}        {target} = _timestamp_text(v, zone)",
                    f"{pad}    except (TypeError, ValueError, InvalidOperation):",
                    f"{pad}        {target} = {slow}",
                    f"{pad}else:",
                    f"{pad}    {target} = {slow}",
                ]
            else:
                lines += [
                    f"{pad}if v is None:",
                    f"{pad}    {target} = None",
                    f"{pad}else:",
                    f"{pad}    {target} = {slow}",
                ]
        elif tag == _EMBEDDED:
            inner = f"g{depth + 1}"
            lines += [
                f"{pad}if v is not None and not isinstance(v, dict):",
                f"{pad}    raise MappingError(path + {here} + ': expected an object, got ' + type(v).__name__)",
                f"{pad}{inner} = (v or {{}}).get",
            ]
            _fill_lines(op[2], depth + 1, f"{where}.{name}", lines)
        else:
            _, _, column, dto_name = op
            target = f"row[{column!r}]"
            lines += [
                f"{pad}if v is None:",
                f"{pad}    {target} = None",
                f"{pad}elif type(v) is dict and type(v.get('id')) is int:",
                f"{pad}    {target} = v['id']",
                f"{pad}    refs_append(({dto_name!r}, v))",
                f"{pad}else:",
                f"{pad}    {target} = _ref_id(v, path + {here}, out, {dto_name!r})",
            ]


_FILL_NAMESPACE.update(
    Kind=Kind,
    MappingError=MappingError,
    InvalidOperation=InvalidOperation,
    convert=convert,
    _timestamp_text=_timestamp_text,
    _ref_id=_ref_id,
)


def _children(
    plan: _Plan,
    obj: Mapping[str, Any],
    path: str,
    out: Mapped,
    key_values: dict[str, Any],
    zone: tzinfo,
    compiled: bool,
) -> None:
    for child in plan.children:
        value = obj.get(child.field)
        if value is None:
            items: list[Any] = []
        elif isinstance(value, list):
            items = value
        else:
            raise MappingError(f"{path}.{child.field}: expected an array, got {type(value).__name__}")
        rows = out.children.setdefault(child.table, [])
        for position, item in enumerate(items):
            if not isinstance(item, dict):
                raise MappingError(
                    f"{path}.{child.field}[{position}]: expected an object, got {type(item).__name__}"
                )
            row = {**key_values, ITEM_INDEX: position}
            if child.link_column is not None:
                ref = item.get("id")
                if type(ref) is int:
                    out.refs.append((child.dto, item))
                else:
                    ref = _ref_id(item, f"{path}.{child.field}[{position}]", out, child.dto)
                    if ref is None:
                        raise MappingError(f"{path}.{child.field}[{position}].id: missing")
                row[child.link_column] = ref
                rows.append(row)
                continue
            assert child.plan is not None
            item_path = f"{path}.{child.field}[{position}]"
            if compiled:
                child.plan.fill(item, item_path, out, row, zone)
            else:
                _fill(child.plan.ops, item, item_path, out, row, zone)
            rows.append(row)
            if child.plan.children:
                key = {**key_values, child.own_key: position}
                _children(child.plan, item, item_path, out, key, zone, compiled)


def map_object(
    table: str,
    dto: Dto,
    obj: Any,
    key: tuple[str, ...],
    scope: Mapping[str, Any] | None = None,
    zone: Zone = UTC,
) -> Mapped:
    """Map one top-level object; raises MappingError naming the first field that cannot be mapped.

    A documented field the object does not carry maps to NULL (a direct read: absent means null).
    `Y-m-d H:i:s` date-times are read in `zone`, the account's (`api_timezone`)."""
    return _map(table, dto, obj, key, scope, zone, compiled=True)


def _map(
    table: str,
    dto: Dto,
    obj: Any,
    key: tuple[str, ...],
    scope: Mapping[str, Any] | None,
    zone: Zone,
    *,
    compiled: bool,
) -> Mapped:
    """`map_object`; `compiled=False` walks the ops with `_fill` (the definition the tests hold the
    generated fills to)."""
    if not isinstance(obj, dict):
        raise MappingError(f"{table}: expected an object, got {type(obj).__name__}")
    zone = resolve_zone(zone)
    plan = _plan(table, dto.name)
    out = Mapped(row={})
    if compiled:
        plan.fill(obj, table, out, out.row, zone)
    else:
        _fill(plan.ops, obj, table, out, out.row, zone)
    if scope:
        out.row.update(scope)
    for column in key:
        if out.row.get(column) is None:
            raise MappingError(f"{table}.{column}: missing (part of the primary key)")
    parent_keys = _parent_key_columns(table, key)
    key_values = {pk: out.row[k] for pk, k in zip(parent_keys, key, strict=True)}
    _children(plan, obj, table, out, key_values, zone, compiled)
    return out
