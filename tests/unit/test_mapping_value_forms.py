"""The value forms an API may send where the DTO is silent: numeric strings for ints, both date-time
forms (`Y-m-d H:i:s` in the account's zone), absent fields; and how a nested copy merges."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.api.contract import DTOS, Kind
from syncd.db.mirror import _merge
from syncd.mapping import MappingError, convert, map_object

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("value", "expected"), [(12, 12), ("12", 12), (" 7 ", 7), ("-3", -3), ("+4", 4)])
def test_numeric_strings_are_read_where_the_dto_says_int(value: Any, expected: int) -> None:
    assert convert(Kind.INT, value, "x.n") == expected
    assert convert(Kind.ID, value, "x.id") == expected


@pytest.mark.parametrize("value", ["1_000", "١٢", "12.5", "1e3", "", "twelve", True, 12.0, [1]])
def test_what_is_not_an_integer_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(MappingError, match=r"^poll\.duration: .* is not a valid int"):
        convert(Kind.INT, value, "poll.duration")


def test_plain_date_times_are_read_in_the_account_zone() -> None:
    summer = convert(Kind.TIMESTAMP, "2026-07-01 10:00:00", "e.at", BERLIN)
    winter = convert(Kind.TIMESTAMP, "2026-12-01 10:00:00", "e.at", BERLIN)
    assert summer == dt.datetime(2026, 7, 1, 8, tzinfo=dt.UTC)  # CEST, +02:00
    assert winter == dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)  # CET, +01:00
    assert convert(Kind.TIMESTAMP, "2026-07-01 10:00:00", "e.at") == dt.datetime(
        2026, 7, 1, 10, tzinfo=dt.UTC
    )


@pytest.mark.parametrize(
    "text", ["2026-07-01T10:00:00+05:30", "2026-07-01T04:30:00Z", "2026-07-01T04:30:00.000+00:00"]
)
def test_iso_date_times_keep_their_own_offset_whatever_the_zone(text: str) -> None:
    assert convert(Kind.TIMESTAMP, text, "e.at", BERLIN) == dt.datetime(2026, 7, 1, 4, 30, tzinfo=dt.UTC)


def test_a_mapped_object_reads_both_forms_and_numeric_string_ids() -> None:
    mapped = map_object(
        "events",
        DTOS["EventDTO"],
        {
            "id": "41",
            "user": {"id": "7"},
            "scheduledAt": "2026-12-01 10:00:00",
            "endDate": "2026-12-01T10:30:00+01:00",
            "duration": "30",
        },
        ("id",),
        zone="Europe/Berlin",
    )
    row = mapped.row
    assert (row["id"], row["user_id"], row["duration"]) == (41, 7, 30)
    assert row["end_date"] - row["scheduled_at"] == dt.timedelta(minutes=30)
    assert row["notes"] is None  # a direct read: an absent documented field is null


def test_a_nested_copy_merges_object_by_object_over_the_stored_one() -> None:
    stored = {
        "id": 7,
        "name": "Acme",
        "intro": "Hi",
        "socialLink": {"id": 3, "facebookUrl": "f", "twitterUrl": "t"},
    }
    copy = {"id": 7, "name": "Acme Ltd", "socialLink": {"id": 3, "twitterUrl": None}, "tags": [1]}
    assert _merge(stored, copy) == {
        "id": 7,
        "name": "Acme Ltd",
        "intro": "Hi",  # absent from the copy: unknown, kept
        "socialLink": {"id": 3, "facebookUrl": "f", "twitterUrl": None},  # null is a value
        "tags": [1],
    }
    assert _merge({"list": [1, 2]}, {"list": [3]}) == {"list": [3]}  # arrays are the copy's


@pytest.mark.parametrize(
    ("kind", "value"), [(Kind.TEXT, 1), (Kind.TEXT, 2.5), (Kind.JSON, ""), (Kind.JSON, {})]
)
def test_a_wrong_type_where_the_docs_say_string_or_array_is_refused(kind: Kind, value: Any) -> None:
    """`state: 1` is not the state "1", and `connections: ""` is not free-form content: both are
    malformed answers (the malformed-objects profile sends them), rejected until the API heals."""
    with pytest.raises(MappingError, match=r"^event\.state: .* is not a valid"):
        convert(kind, value, "event.state")


def _digest_of(event: dict[str, Any]) -> str:
    from syncd.mapping import state_digest

    dto = DTOS["EventDTO"]
    return state_digest(map_object("events", dto, event, ("id",)), event, dto)


def _event(**fields: Any) -> dict[str, Any]:
    return {"id": 1001, "scheduledAt": "2026-11-16T10:32:03+02:00", "notes": None, **fields}


def test_the_state_digest_is_of_what_an_object_says_not_how_it_was_written() -> None:
    base = _digest_of(_event())
    assert _digest_of(_event(scheduledAt="2026-11-16T08:32:03Z")) == base  # the same instant
    assert _digest_of(_event(scheduledAt="2026-11-16T13:47:03.000000+05:15")) == base
    assert _digest_of(_event(id="1001")) == base  # a numeric string id
    assert _digest_of(_event(user={"id": 11, "fullName": "Ann"})) == _digest_of(
        _event(user={"id": 11, "fullName": "Ann Renamed"})
    )  # a nested copy of another object is that object's row, not part of this one
    assert _digest_of(_event(scheduledAt="2026-11-16T10:32:04+02:00")) != base
    assert _digest_of(_event(notes="")) != base  # "" and null stay distinct
    assert _digest_of(_event(user={"id": 12})) != _digest_of(_event(user={"id": 11}))
    assert _digest_of(_event(someNewField=1)) != base  # undocumented fields as sent count
