"""A client-side request-rate limit: one token bucket shared by every request of an ApiClient.

Written here rather than taken from PyPI: pyrate-limiter and limits keep per-key hit windows
(built for servers limiting many callers), take whole-number rates, and sleep on the real clock;
one in-process bucket with a fractional rate and an injectable clock is the few lines below.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_RATE_LIMIT_PER_S = 5.0
# A sync with nothing changed (one page of each list, a few calls per event type) fits in one burst and
# waits for no token; over any minute the client sends at most burst + 60 x rate (360 at 5/s, 1.2x the
# sustained rate), and a long first sync settles to the sustained rate after its first 60 requests.
DEFAULT_RATE_BURST = 60.0


class RequestRateLimit:
    """At most `per_s` requests a second on average, in bursts of at most `burst` (default here: one
    second's worth; `ApiClient` and the settings default to `DEFAULT_RATE_BURST`).

    Thread-safe and first come, first served: each caller reserves the next slot under the lock
    (the bucket may go into debt) and sleeps outside it, so waiting threads never block each other.
    """

    def __init__(
        self,
        per_s: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not per_s > 0:  # also refuses NaN
            raise ValueError(f"rate limit must be > 0 requests/s (or None for no limit), not {per_s}")
        self.per_s = per_s
        self.burst = max(1.0, per_s if burst is None else burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst  # a new client may spend its first burst at once
        self._stamp = clock()

    def __repr__(self) -> str:
        return f"RequestRateLimit(per_s={self.per_s!r}, burst={self.burst!r})"

    def reserve(self) -> float:
        """Take a slot; return how many seconds the caller must wait before using it (0.0: go now)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.per_s)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0.0 else -self._tokens / self.per_s

    def acquire(self) -> float:
        """Block until a request may go; return the seconds waited."""
        wait = self.reserve()
        if wait > 0.0:
            self._sleep(wait)
        return wait
