"""The mapping's fast paths give exactly what their definitions give, on generated objects.

- the generated fills (`_compile_fill`) against the walk over the declaration (`_fill`): the same
  rows, child rows and nested references, or the same MappingError, for every declared resource;
- `state_digest` (orjson calls `_plain` only for the values it changes) against
  `state_digest_reference` (`_plain` on every value): the stored `content_hash` values were written
  by the latter, and a digest that moved would rewrite every row of an existing mirror.

Objects are drawn from the declaration (`syncd.api.contract`): every field absent, null, in a
documented form, in another accepted form (numeric strings, both date-time forms, any offset), or
of a wrong type, nested objects and arrays included, plus undocumented fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncd.api.contract import DTOS, Children, Embedded, Kind, Ref, RefList, Scalar
from syncd.mapping import (
    Mapped,
    MappingError,
    _map,
    map_object,
    state_digest,
    state_digest_reference,
)
from syncd.resources import FREE_FORM, RESOURCES

pytestmark = pytest.mark.unit

MAPPED = [r for r in RESOURCES.values() if r.dto != FREE_FORM]
ZONES = [dt.UTC, ZoneInfo("Europe/Berlin"), ZoneInfo("America/St_Johns")]

# What orjson decodes: integers within 64 bits (a longer one arrives as a float).
_json_int = st.integers(-(2**63), 2**63 - 1)
_ints = (
    _json_int | st.integers(0, 10**5) | st.integers(-(10**6), 10**6).map(str) | st.sampled_from([" 7 ", "+4"])
)


@st.composite
def _timestamp_text(draw: st.DrawFn) -> str:
    moment = draw(
        st.datetimes(
            min_value=dt.datetime(1999, 1, 1), max_value=dt.datetime(2040, 12, 31), timezones=st.none()
        )
    )
    form = draw(st.sampled_from(["iso", "z", "plain", "fraction"]))
    if form == "plain":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    sign = "+" if minutes >= 0 else "-"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if form == "z":
        return base + "Z"
    if form == "fraction":
        return f"{base}.{moment.microsecond:06d}{offset}"
    return base + offset


# Every form a kind accepts (numeric strings, both date-time forms, any offset)...
_VALID: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.ID: _ints,
    Kind.INT: _ints,
    Kind.TEXT: st.text(max_size=8),
    Kind.BOOL: st.booleans() | st.sampled_from([0, 1]),
    Kind.NUMERIC: st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["19.90", "1E+2", "-0"]),
    Kind.TIMESTAMP: _timestamp_text(),
    Kind.DATE: st.dates(dt.date(1999, 1, 1), dt.date(2040, 12, 31)).map(dt.date.isoformat),
    Kind.JSON: st.lists(_json_int | st.text(max_size=3), max_size=3),
    Kind.ID_ARRAY: st.lists(_ints, max_size=3),
    Kind.TEXT_ARRAY: st.lists(st.text(max_size=3), max_size=3),
}
# ... and what it refuses; one field of a "broken" object takes one of these.
_WRONG = st.sampled_from(
    [
        "1_000",
        "١٢",
        "12.5",
        "",
        2.5,
        True,
        2,
        "true",
        "abc",
        "NaN",
        [],
        {},
        [None],
        [1],
        "2026-02-30T10:32:03+02:00",
        "2026-W46-1T10:32:03+02:00",
        "2026-11-16T24:00:00+00:00",
        "2026-02-30",
        "x",
        {"id": "x"},
        {"id": None},
        ["item"],
    ]
)


def _ref() -> st.SearchStrategy[Any]:
    return st.none() | st.fixed_dictionaries({"id": _ints}, optional={"name": st.text(max_size=3)})


def _object(dto_name: str, depth: int = 0) -> st.SearchStrategy[Any]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for spec in DTOS[dto_name].fields:
        if isinstance(spec, Scalar):
            fields[spec.name] = st.none() | _VALID[spec.kind]
        elif isinstance(spec, Embedded):
            fields[spec.name] = st.none() | _object(spec.dto, depth + 1)
        elif isinstance(spec, Ref):
            fields[spec.name] = _ref()
        elif isinstance(spec, RefList):
            fields[spec.name] = st.none() | st.lists(_ref().filter(bool), max_size=3)
        elif isinstance(spec, Children) and depth < 2:
            fields[spec.name] = st.none() | st.lists(_object(spec.dto, depth + 1), max_size=3)
    extra = st.dictionaries(st.sampled_from(["someNewField", "_links", "x"]), _json_int | st.text(max_size=3))
    # Each field present or absent, and undocumented ones.
    return st.builds(
        lambda present, more: {**present, **more},
        st.fixed_dictionaries({}, optional=fields),
        extra,
    )


def _break(draw: st.DrawFn, obj: dict[str, Any], dto_name: str) -> None:
    """One field, at the top or one level down (an embedded object's, a child item's), made wrong."""
    spec = draw(st.sampled_from(DTOS[dto_name].fields))
    value = obj.get(spec.name)
    if isinstance(spec, Embedded | Children) and value and draw(st.booleans()):
        inner = value if isinstance(value, dict) else draw(st.sampled_from(value))
        spec_inner = draw(st.sampled_from(DTOS[spec.dto].fields))
        inner[spec_inner.name] = draw(_WRONG)
        return
    obj[spec.name] = draw(_WRONG)


@st.composite
def _case(draw: st.DrawFn) -> tuple[Any, dict[str, Any], Any, dict[str, Any]]:
    resource = draw(st.sampled_from(MAPPED))
    obj = draw(_object(resource.dto))
    for column in resource.key:  # usually a readable key, so the whole object is mapped
        spec = next(
            (s for s in DTOS[resource.dto].fields if isinstance(s, Scalar) and s.name == column), None
        )
        if spec is not None and draw(st.integers(0, 9)) > 0:
            obj[spec.name] = draw(st.integers(1, 10**6))
    if draw(st.integers(0, 3)) == 0:
        _break(draw, obj, resource.dto)
    scope = {column: draw(st.integers(1, 99)) for column in resource.scope}
    return resource, obj, draw(st.sampled_from(ZONES)), scope


def _outcome(resource: Any, obj: Any, zone: Any, scope: dict[str, Any], *, compiled: bool) -> Mapped | str:
    try:
        return _map(resource.name, DTOS[resource.dto], obj, resource.key, scope, zone, compiled=compiled)
    except MappingError as exc:
        return f"MappingError: {exc}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_generated_fills_map_as_the_declaration_walk_does(case: tuple[Any, Any, Any, Any]) -> None:
    resource, obj, zone, scope = case
    fast = _outcome(resource, obj, zone, scope, compiled=True)
    slow = _outcome(resource, obj, zone, scope, compiled=False)
    if isinstance(slow, str):
        assert fast == slow
        return
    assert isinstance(fast, Mapped)
    assert fast.row == slow.row
    assert list(fast.row) == list(slow.row)  # the same columns in the same order
    for column, value in slow.row.items():  # equal instants are ==: the offsets must be the same too
        assert type(fast.row[column]) is type(value)
        if isinstance(value, dt.datetime):
            assert fast.row[column].utcoffset() == value.utcoffset()
    assert fast.children == slow.children
    assert [(name, id(ref)) for name, ref in fast.refs] == [(name, id(ref)) for name, ref in slow.refs]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_the_state_digest_is_the_reference_digest(case: tuple[Any, Any, Any, Any]) -> None:
    resource, obj, zone, scope = case
    dto = DTOS[resource.dto]
    try:
        mapped = map_object(resource.name, dto, obj, resource.key, scope, zone)
    except MappingError:
        return
    for given_scope in (None, scope or {"event_type_id": 7}):
        assert state_digest(mapped, obj, dto, given_scope) == state_digest_reference(
            mapped, obj, dto, given_scope
        )


def test_the_state_digest_is_the_reference_digest_on_every_value_form() -> None:
    """The values `_plain` changes, each in the forms that differ: offsets, microseconds, years
    before 1000, Decimal exponents and trailing zeros; dates; and what it leaves alone."""
    from decimal import Decimal

    row = {
        "at": dt.datetime(2026, 3, 29, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
        "berlin": dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),
        "early": dt.datetime(1, 1, 1, 0, 0, 0, 5, tzinfo=dt.UTC),
        "day": dt.date(999, 1, 2),
        "time": dt.time(10, 0, 0, 1),
        "money": Decimal("19.900"),
        "big": Decimal("1E+3"),
        "zero": Decimal("-0.00"),
        "ids": [1, 2],
        "free": [{"b": 1, "a": [1.0, "x"]}],  # free-form content is decoded JSON: no Decimal inside
        "text": "é\u2028",
        "flag": True,
        "none": None,
        "float": 2.5,
    }
    mapped = Mapped(row=dict(row), children={"event_answers": [dict(row)]})
    dto = DTOS["EventDTO"]
    raw = {"id": 1, "undocumented": {"z": 1, "a": 2}}
    for scope in (None, {"date": dt.date(2026, 11, 25)}):
        assert state_digest(mapped, raw, dto, scope) == state_digest_reference(mapped, raw, dto, scope)
