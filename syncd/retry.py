"""Waiting before trying again, one way for the whole service.

- `Backoff`: the one backoff policy (the API client's retries, the replay of write intents, webhook
  deliveries, reconnecting to the database): the n-th wait doubles from `base_s` up to `cap_s`, with
  jitter below it, and is never shorter than what the other side asked for in `Retry-After`.
- `parse_retry_after`: the `Retry-After` header in both of its forms (delta-seconds, HTTP date).
- `ms_since` and `first_line`: how long a call took, and an error in one printable, redacted line.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from syncd.logs import redactor

# Beyond this many doublings every policy is at its cap anyway; it keeps 2**n a small float.
_MAX_DOUBLINGS = 60


@dataclass(frozen=True)
class Backoff:
    """The wait after the `attempt`-th failure in a row: `d = min(cap_s, base_s * 2**(attempt - 1))`,
    drawn from `[(1 - jitter) * d, d]` (jitter 1: "full jitter", 0: exactly `d`); a `Retry-After`
    is honoured up to `retry_after_cap_s` (default `cap_s`)."""

    base_s: float
    cap_s: float
    jitter: float = 1.0
    retry_after_cap_s: float | None = None

    def delay_s(
        self, attempt: int, retry_after: float | None = None, rng: Callable[[], float] = random.random
    ) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(max(attempt - 1, 0), _MAX_DOUBLINGS))
        delay = ceiling * (1.0 - self.jitter * rng())
        if retry_after is not None:
            cap = self.cap_s if self.retry_after_cap_s is None else self.retry_after_cap_s
            delay = max(delay, min(retry_after, cap))
        return delay


def parse_retry_after(
    value: str | None, *, now: dt.datetime | None = None, cap_s: float | None = None
) -> float | None:
    """Seconds to wait per `Retry-After` (delta-seconds or an HTTP date), at least 0 and at most
    `cap_s` when given; None when absent or unreadable."""
    if value is None or not (value := value.strip()):
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses naive
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    seconds = max(seconds, 0.0)
    return seconds if cap_s is None else min(seconds, cap_s)


def ms_since(started: float) -> int:
    """Milliseconds since `started`, a `time.perf_counter()` reading."""
    return round((time.perf_counter() - started) * 1000)


def first_line(exc: BaseException, *, with_type: bool = False) -> str:
    """The error's first line (its type's name when it has no message), secrets redacted."""
    said = str(exc)
    text = said.splitlines()[0] if said.strip() else type(exc).__name__
    if with_type and said.strip():
        text = f"{type(exc).__name__}: {text}"
    return redactor.redact(text)
