"""The mirror's fast paths give exactly what the slow ones gave: timestamps, digests, COPY types."""

from __future__ import annotations

import datetime as dt

import pytest

from syncd.api.dates import parse_api_datetime
from syncd.db.mirror import _copy_plan, _JsonbCopyDumper
from syncd.db.mirror_tables import MIRROR
from syncd.mapping import MappingError, _timestamp, canonical_json, canonical_json_bytes, digest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-16T10:32:03+02:00",
        "2026-11-16T10:32:03+00:00",
        "2026-11-16T10:32:03-05:30",
        "2026-11-16T10:32:03+19:59",
        "2026-11-16T10:32:03+23:00",  # past the fast path's offsets: the documented parser
        "2026-11-16T10:32:03Z",
        "2026-11-16 10:32:03",
        "2026-11-16T10:32:03.123456+01:00",
    ],
)
def test_timestamps_parse_as_the_documented_parser_does(text: str) -> None:
    fast, slow = _timestamp(text), parse_api_datetime(text)
    assert fast == slow
    assert fast.utcoffset() == slow.utcoffset()


@pytest.mark.parametrize(
    "text", ["2026-02-30T10:32:03+02:00", "2026-11-16T24:00:00+00:00", "2026-W46-1T10:32:03+02:00"]
)
def test_impossible_timestamps_keep_the_documented_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a date-time") as found:
        _timestamp(text)
    with pytest.raises(ValueError, match="not a date-time") as documented:
        parse_api_datetime(text)
    assert str(found.value) == str(documented.value)
    assert not isinstance(found.value, MappingError)


def test_digest_of_bytes_equals_digest_of_text() -> None:
    raw = {"b": [1, 2.5, None], "a": "é\u2028", "c": {"y": True, "x": 'q"uote'}}
    text, data = canonical_json(raw), canonical_json_bytes(raw)
    assert data == text.encode()
    assert digest(data) == digest(text)
    scope = {"event_type_id": 7, "date": dt.date(2026, 11, 25)}
    assert digest(data, scope) == digest(text, scope)


def test_every_mirror_column_has_a_binary_copy_type() -> None:
    for tables in MIRROR.values():
        for table in [tables.top, *(child.table for child in tables.children.values())]:
            plan = _copy_plan(table)
            assert len(plan.types) == len(plan.columns)
            assert "FORMAT BINARY" in plan.statement


def test_jsonb_copy_dumper_sends_prepared_json_as_is() -> None:
    dumper = _JsonbCopyDumper(bytes)
    assert dumper.dump(b'{"a":1}') == b'\x01{"a":1}'
    assert dumper.dump({"a": [1, "x"]}) == b'\x01{"a":[1,"x"]}'
    assert dumper.dump(2**70) == b"\x01" + str(2**70).encode()  # beyond orjson: the standard library
