"""The DTO declarations the mirror is built from agree with the reference text, field for field."""

from __future__ import annotations

import pytest

from syncd.api.contract import DTOS, Children, Embedded, Kind, Ref, RefList, Scalar
from tests import reference

pytestmark = pytest.mark.unit

# What each documented type may be declared as; DTO-typed fields must name that DTO.
_SCALAR_KINDS = {
    "int": {Kind.ID, Kind.INT},
    "string": {Kind.TEXT, Kind.TIMESTAMP, Kind.DATE, Kind.TIME},
    "bool": {Kind.BOOL},
    "number": {Kind.NUMERIC},
    "array": {Kind.ID_ARRAY, Kind.TEXT_ARRAY, Kind.JSON},
    "object": {Kind.JSON},
}


@pytest.mark.parametrize("dto_name", sorted(DTOS))
def test_declared_fields_are_the_documented_ones_in_order(dto_name: str) -> None:
    assert [f.name for f in DTOS[dto_name].fields] == reference.field_names(dto_name)


@pytest.mark.parametrize("dto_name", sorted(DTOS))
def test_declared_shapes_fit_the_documented_types(dto_name: str) -> None:
    documented = {f.name: reference.resolve_type(f.type) for f in reference.dtos()[dto_name]}
    for spec in DTOS[dto_name].fields:
        kind = documented[spec.name]
        where = f"{dto_name}.{spec.name}"
        if isinstance(spec, Scalar):
            assert kind.dto is None or spec.kind is Kind.JSON, where
            if kind.primitive is not None:
                assert spec.kind in _SCALAR_KINDS[kind.primitive], where
        elif isinstance(spec, Embedded | Ref):
            assert not kind.is_list, where
            assert kind.dto in (spec.dto, None), where  # PollDTO documents user/eventType loosely
        elif isinstance(spec, Children | RefList):
            assert kind.is_list, where
            assert kind.dto == spec.dto, where


def test_every_answer_dto_reachable_from_a_resource_is_declared() -> None:
    """Every DTO nested in a declared one is declared too (the mirror needs its fields)."""
    for dto in DTOS.values():
        for spec in dto.fields:
            if isinstance(spec, Embedded | Ref | Children | RefList):
                assert spec.dto in DTOS, f"{dto.name}.{spec.name} -> {spec.dto}"


def test_date_time_fields_are_timestamps() -> None:
    """Fields the docs describe as date-times are declared as timestamps, so BI gets timestamptz."""
    for dto_name, dto in DTOS.items():
        for field in reference.dtos()[dto_name]:
            spec = dto.field(field.name)
            if field.is_datetime and isinstance(spec, Scalar):
                assert spec.kind is Kind.TIMESTAMP, f"{dto_name}.{field.name}"
