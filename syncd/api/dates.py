"""Dates and date-times as the API writes them, and as requests must send them.

The reference shows two forms: `Y-m-d H:i:s` (no zone; which one the server means is not
documented, so the caller names it, UTC by default) and ISO 8601 with an offset or `Z`
(`2023-12-31T23:59:59+00:00`, whose instant is kept exactly, offset and all). Anything else is
refused with the offending text, so a mapper can quarantine the object instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

API_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_SHOWN = 80

_PLAIN = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})", re.ASCII)
# RFC 3339 profile of ISO 8601: T (or a space), optional fraction, an offset that must be there.
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)",
    re.ASCII,  # \d would take any script's digits
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
# The texts the parsers below accept (each matched whole), for the webhook JSON Schemas.
DATETIME_PATTERNS = (_PLAIN.pattern, _ISO.pattern)
DATE_PATTERN = _DATE.pattern

Zone = dt.tzinfo | str


def resolve_zone(zone: Zone) -> dt.tzinfo:
    """A tzinfo, or an IANA name such as `Europe/Berlin`."""
    if isinstance(zone, dt.tzinfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None


def parse_api_datetime(text: str, zone: Zone = dt.UTC) -> dt.datetime:
    """An aware datetime from `Y-m-d H:i:s` (read in `zone`) or ISO 8601 with an offset or `Z`.

    ISO answers keep their own offset (the instant is exact); `zone` only applies to naive text.
    """
    if not isinstance(text, str):
        raise ValueError(f"not a date-time: {_show(text)} is {type(text).__name__}, not text")
    if plain := _PLAIN.fullmatch(text):
        fields = [int(group) for group in plain.groups()]
        return _build(text, fields, 0, resolve_zone(zone))
    if iso := _ISO.fullmatch(text):
        year, month, day, hour, minute, second, fraction, utc, sign, off_h, off_m = iso.groups()
        fields = [int(year), int(month), int(day), int(hour), int(minute), int(second)]
        # Whole microseconds; digits past the sixth are dropped (Python has no finer clock).
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        if utc:
            offset: dt.tzinfo = dt.UTC
        else:
            hours, minutes = int(off_h), int(off_m or "0")
            if hours > 23 or minutes > 59:
                raise ValueError(f"not a date-time: {_show(text)} has an impossible offset")
            delta = dt.timedelta(hours=hours, minutes=minutes)
            offset = dt.timezone(-delta if sign == "-" else delta)
        return _build(text, fields, micros, offset)
    raise ValueError(
        f"not a date-time: {_show(text)}; expected 'Y-m-d H:i:s' or ISO 8601 with an offset or Z"
    )


def parse_api_date(text: str) -> dt.date:
    """A date from `Y-m-d`."""
    if not isinstance(text, str):
        raise ValueError(f"not a date: {_show(text)} is {type(text).__name__}, not text")
    if (match := _DATE.fullmatch(text)) is None:
        raise ValueError(f"not a date: {_show(text)}; expected 'Y-m-d'")
    try:
        return dt.date(*(int(group) for group in match.groups()))
    except ValueError as exc:
        raise ValueError(f"not a date: {_show(text)} ({exc})") from None


def format_api_datetime(when: dt.datetime, zone: Zone = dt.UTC) -> str:
    """`Y-m-d H:i:s` of the instant `when` as seen in `zone` (fractions of a second are dropped)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"refusing to format a naive datetime {when.isoformat()!r}: its instant is unknown")
    return when.astimezone(resolve_zone(zone)).strftime(API_DATETIME_FORMAT)


def _build(text: str, fields: list[int], micros: int, zone: dt.tzinfo) -> dt.datetime:
    year, month, day, hour, minute, second = fields
    try:
        return dt.datetime(year, month, day, hour, minute, second, micros, tzinfo=zone)
    except ValueError as exc:  # 2026-02-30, 24:00:00, a leap second
        raise ValueError(f"not a date-time: {_show(text)} ({exc})") from None


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else shown[: _SHOWN - 1] + "…"
