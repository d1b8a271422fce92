"""Python's `check_intent` and the INSERT trigger refuse exactly the same intents, in the same words.

Hypothesis generates intents from the declaration in `syncd.intent_kinds`: every string just under,
at and just over its limit in one-, two- and four-byte characters, e-mail lists around their count
and length limits, date-times around the year, time and offset limits, payloads around 64 KiB,
idempotency keys around 255 characters, reschedules around "now" with and without allow_past, wrong
types, unexpected and missing keys. Each one is checked in Python and INSERTed in a savepoint that
is rolled back; Python's "now" is the database's `now()` of that INSERT.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import URL

from syncd.intent_kinds import (
    INTENT_KINDS,
    MAX_EMAIL_CHARS,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_OFFSET_HOURS,
    MAX_PAYLOAD_BYTES,
    YEARS,
    Field,
    check_intent,
    payload_bytes,
)
from tests.helpers import url_for_env

pytestmark = pytest.mark.integration

CHARS = ["a", "é", "😀"]  # one, two and four bytes in UTF-8
# No NUL and no lone surrogate: PostgreSQL's text cannot hold them, so they never reach the trigger
# (Python refuses them alone).
SMALL_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)
WRONG_TYPES = st.one_of(
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "é"]), st.integers(), max_size=1),
)


def _around(limit: int) -> list[int]:
    return [0, 1, limit - 1, limit, limit + 1]


def _sized_text(limit: int) -> st.SearchStrategy[str]:
    return st.builds(lambda n, c: c * n, st.sampled_from(_around(limit)), st.sampled_from(CHARS))


def _email(length: int, char: str) -> str:
    """An address of `length` characters (more than the domain's 12)."""
    return char * (length - len("@example.com")) + "@example.com"


EMAILS = st.one_of(
    st.builds(_email, st.sampled_from([*_around(MAX_EMAIL_CHARS)[2:], 20]), st.sampled_from(CHARS)),
    st.builds(_email, st.sampled_from([*_around(MAX_EMAIL_CHARS)[2:], 20]), st.sampled_from(CHARS)),
    st.sampled_from(
        ["bob@", "ann@example", "Ann <ann@example.com>", "a b@c.de", "a@b.c", "a@@b.c", "é@ü.de"]
    ),
    SMALL_TEXT,
    st.integers(),
)


def _email_list(max_items: int) -> st.SearchStrategy[list[Any]]:
    # A few distinct addresses repeated up to a count around the limit: big lists stay cheap to draw.
    return st.builds(
        lambda n, first, rest: [first, *rest] * (n // (1 + len(rest))) + [first] * (n % (1 + len(rest))),
        st.sampled_from(_around(max_items)),
        EMAILS,
        st.lists(EMAILS, max_size=2),
    )


OFFSETS = [
    "",
    "Z",
    "z",
    "+00:00",
    "-05:30",
    "+0530",
    "-14",
    f"+{MAX_OFFSET_HOURS}:59",
    "+15:00",
    "-14:60",
    "+99",
]
_STAMP = "{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}{}{}"
# Near every edge of the form, time of day, years and offsets.
EDGY_DATETIMES = st.builds(
    _STAMP.format,
    st.sampled_from([1, 1999, YEARS[0], 2026, 2028, YEARS[1], 2101, 9999]),
    st.sampled_from([0, 1, 2, 12, 13]),
    st.sampled_from([0, 1, 28, 29, 30, 31, 32]),
    st.sampled_from([" ", "T", "t"]),
    st.sampled_from([0, 10, 23, 24]),
    st.sampled_from([0, 59, 60]),
    st.sampled_from([0, 59, 60]),
    st.sampled_from(["", ".5", ",123456", ".1234567"]),
    st.sampled_from(OFFSETS),
)
# Mostly valid: at the edges of the years and of the offsets, in both forms; mostly in the future.
GOOD_DATETIMES = st.builds(
    _STAMP.format,
    st.sampled_from([YEARS[0], 2030, YEARS[1]]),
    st.sampled_from([1, 2, 12]),
    st.sampled_from([1, 28]),
    st.sampled_from([" ", "T"]),
    st.sampled_from([0, 10, 22]),
    st.sampled_from([0, 59]),
    st.sampled_from([0, 59]),
    st.sampled_from(["", ".999999"]),
    st.sampled_from(["", "", "Z", f"+{MAX_OFFSET_HOURS}:59", f"-{MAX_OFFSET_HOURS}00", "+15:00"]),
)


def _near(now: dt.datetime) -> st.SearchStrategy[str]:
    """Around "now" and the trigger's margin for a plain time (14:59), in both forms."""
    steps = [-2 * 86400, -15 * 3600, -(14 * 3600 + 59 * 60) - 60, -60, 60, 3600, 2 * 86400]
    return st.builds(
        lambda seconds, iso: (now + dt.timedelta(seconds=seconds)).strftime(
            "%Y-%m-%dT%H:%M:%SZ" if iso else "%Y-%m-%d %H:%M:%S"
        ),
        st.sampled_from(steps),
        st.booleans(),
    )


def _mostly(good: st.SearchStrategy[Any], *others: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` seven times in ten, else one of `others` (one_of alone would weigh them all alike)."""
    return st.integers(0, 9).flatmap(lambda n: good if n < 7 else st.one_of(*others))


NEAR_NOW = _near(dt.datetime.now(dt.UTC))
DATETIMES = _mostly(
    st.one_of(GOOD_DATETIMES, NEAR_NOW),
    EDGY_DATETIMES,
    EDGY_DATETIMES,
    st.sampled_from(["tomorrow", ""]),
    SMALL_TEXT,
)
IDS = _mostly(st.sampled_from([1, 10**18 - 1]), st.sampled_from([0, -1, 10**18]), st.integers())


def _typed(field: Field) -> st.SearchStrategy[Any]:
    if field.type == "string":
        assert field.max_chars is not None
        return st.one_of(_sized_text(field.max_chars), _sized_text(field.max_chars), SMALL_TEXT)
    if field.type == "id":
        return IDS
    if field.type == "emails":
        assert field.max_items is not None
        return _email_list(field.max_items)
    return DATETIMES


def _an_hour_later(stamp: Any) -> Any:
    if isinstance(stamp, str) and len(stamp) >= 19 and stamp[11:13].isdigit():
        return f"{stamp[:11]}{int(stamp[11:13]) + 1:02}{stamp[13:]}"
    return stamp


def _invite_of(size: int) -> dict[str, Any]:
    """An invite payload of exactly `size` bytes as jsonb text (all fields within their limits)."""
    emails = [_email(MAX_EMAIL_CHARS, "😀")] * 66
    room = size - payload_bytes({"emails": emails, "message": ""})
    return {"emails": emails, "message": "😀" * (room // 4) + "a" * (room % 4)}


@st.composite
def intents(draw: st.DrawFn, kind: str) -> tuple[str, int, Any, str | None, bool]:
    """Mostly right but for one thing, so that most cases reach the limit they are near."""
    rare = st.integers(0, 9).map(lambda n: n == 0)  # one time in ten
    event_id = draw(st.sampled_from([0, -1])) if draw(rare) else 4711
    key = None
    if draw(st.booleans()):
        key = draw(
            st.builds(
                lambda n, c: c * n,
                st.sampled_from(_around(MAX_IDEMPOTENCY_KEY_CHARS)),
                st.sampled_from(CHARS),
            )
        )
    if kind == "invite" and draw(st.integers(0, 4)) == 0:
        size = MAX_PAYLOAD_BYTES + draw(st.sampled_from([-1, 0, 1]))
        return kind, event_id, _invite_of(size), key, False
    declared = INTENT_KINDS.get(kind, INTENT_KINDS["cancel"])
    if declared.not_in_past is not None and draw(st.integers(0, 3)) == 0:
        # Well formed, near "now" and the plain form's margin, allowed into the past or not.
        start = draw(NEAR_NOW)
        return kind, 4711, {"start": start, "end": _an_hour_later(start)}, None, draw(st.booleans())
    payload: dict[str, Any] = {}
    for field in declared.fields:
        odd = draw(st.integers(0, 9))
        if odd == 0:
            continue  # missing
        if field.name == "end" and odd > 4:
            payload["end"] = _an_hour_later(payload.get("start"))
        else:
            payload[field.name] = draw(st.none() if odd == 1 else WRONG_TYPES if odd == 2 else _typed(field))
    if draw(rare):
        payload[
            draw(st.one_of(st.sampled_from(["notes", "reasons", "event_type_id", "ü", "Zz"]), SMALL_TEXT))
        ] = 1
    if draw(st.integers(0, 19)) == 0:
        return kind, event_id, draw(WRONG_TYPES), key, False
    allow_past = draw(st.integers(0, 3)) == 3  # one time in four
    return kind, event_id, payload, key, allow_past


def _libpq(url: URL) -> str:
    return url_for_env(url.set(drivername="postgresql"))


@pytest.mark.parametrize("kind", [*INTENT_KINDS, "frobnicate"])
def test_python_and_the_trigger_refuse_the_same_intents(database_url: URL, kind: str) -> None:
    fields = INTENT_KINDS[kind].fields if kind in INTENT_KINDS else ()
    with psycopg.connect(_libpq(database_url)) as conn:
        seen = {"accepted": 0, "refused": 0, "past": 0}

        @settings(
            max_examples=150 if fields else 20,
            deadline=None,
            derandomize=True,  # the same cases on every run: a failure reproduces
            database=None,  # nothing written to .hypothesis/
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(intents(kind))
        def agree(intent: tuple[str, int, Any, str | None, bool]) -> None:
            kind, event_id, payload, key, allow_past = intent
            database: tuple[str | None, str | None, str | None] | None = None
            now: dt.datetime | None = None
            try:
                with conn.transaction(force_rollback=True):  # a savepoint per example
                    # The trigger's "now" is its transaction's start: Python is handed the same.
                    now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
                    conn.execute(
                        "INSERT INTO syncd.write_intents (kind, event_id, payload, idempotency_key, "
                        "allow_past) VALUES (%s, %s, %s::jsonb, %s, %s)",
                        (kind, event_id, json.dumps(payload), key, allow_past),
                    )
            except psycopg.errors.CheckViolation as refused:
                diag = refused.diag
                database = (diag.message_primary, diag.message_detail, diag.message_hint)
            python = check_intent(kind, event_id, payload, key, allow_past=allow_past, now=now)
            got = None if python is None else (python.message, python.detail, python.hint)
            assert got == database
            seen["accepted" if database is None else "refused"] += 1
            seen["past"] += database is not None and " is in the past: " in str(database[0])

        agree()
        conn.rollback()
    # Both sides of the line were walked, not only one.
    assert seen["refused"] >= 5
    if kind in INTENT_KINDS:
        assert seen["accepted"] >= 5, seen
    if INTENT_KINDS.get(kind) is not None and INTENT_KINDS[kind].not_in_past is not None:
        assert seen["past"] >= 3, seen
