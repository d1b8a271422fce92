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
