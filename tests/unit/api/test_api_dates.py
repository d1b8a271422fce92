"""Dates and date-times in both of the API's forms."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from syncd.api import format_api_datetime, parse_api_date, parse_api_datetime

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int, micro: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.UTC)


def test_plain_form_is_read_in_utc_by_default() -> None:
    parsed = parse_api_datetime("2026-03-01 09:30:15")
    assert parsed == _utc(2026, 3, 1, 9, 30, 15)
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("zone", [BERLIN, "Europe/Berlin"])
def test_plain_form_in_a_named_zone_follows_its_daylight_saving(zone: dt.tzinfo | str) -> None:
    assert parse_api_datetime("2026-01-15 12:00:00", zone) == _utc(2026, 1, 15, 11, 0, 0)  # CET
    assert parse_api_datetime("2026-07-15 12:00:00", zone) == _utc(2026, 7, 15, 10, 0, 0)  # CEST


@pytest.mark.parametrize(
    ("text", "instant", "offset"),
    [
        ("2023-12-31T23:59:59+00:00", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(0)),
        ("2023-12-31T23:59:59Z", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(0)),
        ("2024-01-01T01:29:59+01:30", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(hours=1, minutes=30)),
        ("2023-12-31T18:59:59-05:00", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(hours=-5)),
        ("2024-01-01T05:29:59+0530", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(hours=5, minutes=30)),
        ("2024-01-01T12:44:59+12:45", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(hours=12, minutes=45)),
        ("2023-12-31T14:59:59-09", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(hours=-9)),
        ("2023-12-31 23:59:59+00:00", _utc(2023, 12, 31, 23, 59, 59), dt.timedelta(0)),
        ("2026-05-04T10:11:12.5Z", _utc(2026, 5, 4, 10, 11, 12, 500_000), dt.timedelta(0)),
        ("2026-05-04T10:11:12.123456789Z", _utc(2026, 5, 4, 10, 11, 12, 123_456), dt.timedelta(0)),
    ],
)
def test_iso_form_keeps_the_instant_and_its_offset(
    text: str, instant: dt.datetime, offset: dt.timedelta
) -> None:
    parsed = parse_api_datetime(text)
    assert parsed == instant
    assert parsed.utcoffset() == offset


def test_the_zone_does_not_touch_an_iso_answer() -> None:
    assert parse_api_datetime("2026-07-15T12:00:00Z", BERLIN) == _utc(2026, 7, 15, 12, 0, 0)


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-30 10:00:00",  # no such day
        "2026-02-29 10:00:00",  # not a leap year
        "2026-13-01 10:00:00",
        "2026-01-01 24:00:00",
        "2026-12-31 23:59:60",  # leap seconds do not exist for datetime
        "0000-01-01 00:00:00",
        "2026-02-30T10:00:00Z",
        "2026-01-01T10:00:00+24:00",
        "2026-01-01T10:00:00+05:60",
        "2026-01-01T10:00:00",  # ISO without an offset: the instant is unknown
        "2026-01-01",
        "2026-1-1 10:00:00",
        "2026-01-01 10:00",
        " 2026-01-01 10:00:00",
        "2026-01-01 10:00:00 ",
        "01/02/2026 10:00:00",
        "1767225600",
        "",
        "\uff12\uff10\uff12\uff16-01-01 10:00:00",  # fullwidth digits
    ],
)
def test_anything_else_is_refused_with_the_offending_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a date-time") as caught:
        parse_api_datetime(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("value", [None, 1767225600, 1.5, ["2026-01-01 10:00:00"]])
def test_non_text_is_refused_as_a_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="not text"):
        parse_api_datetime(value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not text"):
        parse_api_date(value)  # type: ignore[arg-type]


def test_a_long_offending_text_is_shown_short() -> None:
    with pytest.raises(ValueError, match="not a date-time") as caught:
        parse_api_datetime("x" * 5000)
    assert len(str(caught.value)) < 200


def test_unknown_zone_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        parse_api_datetime("2026-01-01 10:00:00", "Mars/Olympus")


def test_dates() -> None:
    assert parse_api_date("2024-02-29") == dt.date(2024, 2, 29)
    for bad in ("2026-02-29", "2026-00-10", "2026-01-01 00:00:00", "20260101", "2026-1-01"):
        with pytest.raises(ValueError, match="not a date") as caught:
            parse_api_date(bad)
        assert repr(bad) in str(caught.value)


def test_format_converts_the_instant_to_the_zone() -> None:
    instant = dt.datetime(2026, 7, 15, 12, 0, 0, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_api_datetime(instant) == "2026-07-15 10:00:00"
    assert format_api_datetime(instant, BERLIN) == "2026-07-15 12:00:00"
    assert format_api_datetime(instant, "America/New_York") == "2026-07-15 06:00:00"


def test_format_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_api_datetime(dt.datetime(2026, 1, 1, 10, 0, 0))


@pytest.mark.parametrize("zone", [dt.UTC, BERLIN, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Los_Angeles")])
@pytest.mark.parametrize("text", ["2026-01-01 00:00:00", "2026-06-30 23:59:59", "2028-02-29 12:34:56"])
def test_plain_text_round_trips_in_any_zone(text: str, zone: dt.tzinfo) -> None:
    assert format_api_datetime(parse_api_datetime(text, zone), zone) == text


@pytest.mark.parametrize(
    "text", ["2023-12-31T23:59:59+00:00", "2024-01-01T05:29:59+05:30", "2023-12-31T18:59:59-05:00"]
)
def test_iso_text_round_trips_through_the_plain_form(text: str) -> None:
    instant = parse_api_datetime(text)
    assert parse_api_datetime(format_api_datetime(instant)) == instant
    assert format_api_datetime(instant) == "2023-12-31 23:59:59"
