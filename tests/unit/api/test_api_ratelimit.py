"""The client-side request-rate limit, on a fake clock: nothing here really sleeps."""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from syncd.api import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT_PER_S, ApiClient, RequestRateLimit
from tests.unit.api.mock_api import BASE_URL, CANARY_KEY, Recorder, sequence

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]


class FakeClock:
    """A monotonic clock that only moves when someone sleeps on it (thread-safe)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _limit(per_s: float, clock: FakeClock, burst: float | None = None) -> RequestRateLimit:
    return RequestRateLimit(per_s, burst=burst, clock=clock, sleep=clock.sleep)


def test_a_full_bucket_lets_one_second_of_requests_through_then_spaces_them() -> None:
    clock = FakeClock()
    limit = _limit(5, clock)
    waits = [limit.reserve() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.2, 0.4, 0.6])


def test_tokens_come_back_with_time_but_never_beyond_the_burst() -> None:
    clock = FakeClock()
    limit = _limit(2, clock)
    assert [limit.reserve(), limit.reserve()] == [0.0, 0.0]
    clock.advance(0.5)  # one token back
    assert limit.reserve() == 0.0
    assert limit.reserve() == pytest.approx(0.5)
    clock.advance(3600)  # an idle hour refills only the burst
    assert [limit.reserve() for _ in range(3)] == pytest.approx([0.0, 0.0, 0.5])


def test_fractional_rates_and_a_burst_of_one() -> None:
    clock = FakeClock()
    limit = _limit(0.5, clock)  # one request every two seconds; the burst is still one request
    assert limit.burst == 1.0
    assert [limit.reserve(), limit.reserve(), limit.reserve()] == pytest.approx([0.0, 2.0, 4.0])
    strict = _limit(10, FakeClock(), burst=1)
    assert [strict.reserve(), strict.reserve()] == pytest.approx([0.0, 0.1])


def test_acquire_sleeps_only_when_it_must() -> None:
    clock = FakeClock()
    limit = _limit(1, clock)
    assert limit.acquire() == 0.0
    assert limit.acquire() == pytest.approx(1.0)
    assert clock.sleeps == pytest.approx([1.0])


@pytest.mark.parametrize("per_s", [0, -1, float("nan")])
def test_a_rate_must_be_positive(per_s: float) -> None:
    with pytest.raises(ValueError, match="rate limit must be > 0"):
        RequestRateLimit(per_s)


def test_threads_share_one_bucket_and_no_slot_is_given_twice() -> None:
    clock = FakeClock()
    limit = _limit(10, clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            wait = limit.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 slots: the first 10 free, then one every 0.1 s, each handed out exactly once.
    assert sorted(waits) == pytest.approx([0.0] * 10 + [0.1 * n for n in range(1, 191)])


def test_the_client_takes_a_slot_for_every_attempt_retries_included(make_client: MakeClient) -> None:
    clock = FakeClock()
    limit = _limit(1, clock)
    client, calls = make_client(
        sequence(httpx.Response(503), httpx.Response(200, json={"id": 5})), rate_limit_per_s=limit
    )
    with capture_logs() as logs:
        assert client.call("event.get", path_params={"id": 5}) == {"id": 5}
        assert client.call("event.get", path_params={"id": 5}) == {"id": 5}
    assert len(calls.requests) == 3
    assert clock.sleeps == pytest.approx([1.0, 2.0])
    assert [e["event"] for e in logs if e["event"] == "api.rate_limited"] == ["api.rate_limited"] * 2


def test_clients_can_share_one_limit(make_client: MakeClient) -> None:
    clock = FakeClock()
    limit = _limit(1, clock)
    first, _ = make_client(lambda r: httpx.Response(200, json={"id": 1}), rate_limit_per_s=limit)
    second, _ = make_client(lambda r: httpx.Response(200, json={"id": 1}), rate_limit_per_s=limit)
    first.current_user()
    second.current_user()
    assert clock.sleeps == pytest.approx([1.0])


def test_the_default_client_is_limited_and_none_turns_it_off() -> None:
    with ApiClient(BASE_URL, CANARY_KEY) as client:
        assert client.rate_limit is not None
        assert client.rate_limit.per_s == DEFAULT_RATE_LIMIT_PER_S
        assert client.rate_limit.burst == DEFAULT_RATE_BURST
    with ApiClient(BASE_URL, CANARY_KEY, rate_burst=3) as client:
        assert client.rate_limit is not None
        assert client.rate_limit.burst == 3
    with ApiClient(BASE_URL, CANARY_KEY, rate_limit_per_s=2.5) as client:
        assert client.rate_limit is not None
        assert client.rate_limit.per_s == 2.5
    with ApiClient(BASE_URL, CANARY_KEY, rate_limit_per_s=None) as client:
        assert client.rate_limit is None
    with pytest.raises(ValueError, match="rate limit must be > 0"):
        ApiClient(BASE_URL, CANARY_KEY, rate_limit_per_s=0)


def test_the_default_bucket_lets_a_sync_with_nothing_changed_through_and_stays_polite_over_a_minute() -> None:
    """The defaults: a no-change sync (25 requests on the benchmark's account, one page of each list)
    waits for nothing, and a client that sends as fast as it may never exceeds burst + 60 x rate
    requests in any minute (1.2x the sustained rate at the defaults)."""
    clock = FakeClock()
    limit = _limit(DEFAULT_RATE_LIMIT_PER_S, clock, burst=DEFAULT_RATE_BURST)
    assert [limit.acquire() for _ in range(25)] == [0.0] * 25
    sent = [clock()] * 25
    while clock() < 100.0 + 300:  # five minutes of a client that never stops asking
        clock.advance(limit.acquire())
        sent.append(clock())
    most = max(sum(1 for t in sent if start <= t < start + 60) for start in sent)
    assert most <= DEFAULT_RATE_BURST + 60 * DEFAULT_RATE_LIMIT_PER_S
    assert most / (60 * DEFAULT_RATE_LIMIT_PER_S) <= 1.2 + 1e-9
