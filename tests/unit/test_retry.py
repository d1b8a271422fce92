"""syncd.retry: the one backoff policy, Retry-After in both forms, and the error/time helpers."""

from __future__ import annotations

import datetime as dt
import itertools
import time

import pytest

from syncd.retry import Backoff, first_line, ms_since, parse_retry_after

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    ("5", 5.0),
    (" 1.5 ", 1.5),
    ("0", 0.0),
    ("-3", 0.0),
    ("3600", 60.0),
    ("Sun, 01 Mar 2026 12:00:20 GMT", 20.0),
    ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
    ("Sun, 01 Mar 2026 12:00:20 -0000", 20.0),
    ("Mon, 02 Mar 2026 12:00:00 GMT", 60.0),
    (None, None),
    ("", None),
    ("soon", None),
    ("nan", None),
])  # fmt: skip
def test_parse_retry_after_capped(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW, cap_s=60.0) == seconds


def test_parse_retry_after_without_a_cap_keeps_long_waits_in_both_forms() -> None:
    assert parse_retry_after("3600", now=NOW) == 3600.0
    assert parse_retry_after("Mon, 02 Mar 2026 12:00:00 GMT", now=NOW) == 86_400.0


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    policy = Backoff(5.0, 3600.0, jitter=0.2)
    top = [policy.delay_s(n, rng=lambda: 0.0) for n in range(1, 14)]
    assert top[:5] == [5.0, 10.0, 20.0, 40.0, 80.0]
    assert top[-1] == 3600.0
    assert all(a <= b for a, b in itertools.pairwise(top))
    assert policy.delay_s(3, rng=lambda: 1.0) == pytest.approx(16.0)
    assert all(16.0 <= policy.delay_s(3) <= 20.0 for _ in range(200))


def test_full_jitter_and_no_jitter() -> None:
    full = Backoff(1.0, 8.0)
    samples = [full.delay_s(10) for _ in range(200)]
    assert all(0.0 <= s <= 8.0 for s in samples)
    assert max(samples) > 4.0
    assert [Backoff(0.5, 30.0, jitter=0.0).delay_s(n) for n in (1, 2, 3, 7, 1000)] == [
        0.5,
        1.0,
        2.0,
        30.0,
        30.0,
    ]


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    policy = Backoff(5.0, 3600.0, jitter=0.2)
    assert policy.delay_s(1, retry_after=120.0, rng=lambda: 0.0) == 120.0
    assert policy.delay_s(1, retry_after=1e6, rng=lambda: 0.0) == 3600.0
    assert policy.delay_s(5, retry_after=1.0, rng=lambda: 0.0) == 80.0
    client = Backoff(0.5, 30.0, retry_after_cap_s=60.0)
    assert client.delay_s(1, retry_after=600.0) == 60.0


def test_first_line_is_one_redacted_line() -> None:
    exc = RuntimeError("connect to postgresql://syncd:hunter2@db/x failed\nDETAIL: more")
    line = first_line(exc)
    assert "hunter2" not in line
    assert "\n" not in line
    assert line.startswith("connect to")
    assert first_line(ValueError()) == "ValueError"
    assert first_line(ValueError("bad"), with_type=True) == "ValueError: bad"


def test_ms_since() -> None:
    assert ms_since(time.perf_counter() - 0.25) >= 250
