"""Injected faults, through the in-process transport (the loopback ones are in test_loopback.py)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.integration.sandbox.contract import API
from tests.integration.sandbox.default_world import api_client, make_sandbox

pytestmark = pytest.mark.integration

ME = f"{API}/user/current"


def retry_after_seconds(response: httpx.Response) -> int:
    value = response.headers.get("Retry-After")
    assert value is not None, f"429 without Retry-After: {dict(response.headers)}"
    assert value.strip().isdigit(), f"Retry-After is not a number of seconds: {value!r}"
    return int(value)


def test_rate_limit_answers_429_with_retry_after() -> None:
    sb = make_sandbox()
    sb.faults.rate_limit_per_s = 2
    with api_client(sb) as client:
        responses = [client.get(ME) for _ in range(12)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited, f"12 quick calls at 2/s, statuses {[r.status_code for r in responses]}"
        assert responses[0].status_code == 200, "the very first call was already limited"
        wait = retry_after_seconds(limited[0])
        assert 0 < wait <= 60, f"Retry-After {wait}s for a 2/s limit"
        time.sleep(wait)
        assert client.get(ME).status_code == 200, "still limited after waiting Retry-After"


def test_rate_limit_off_by_default() -> None:
    with api_client(make_sandbox()) as client:
        statuses = {client.get(ME).status_code for _ in range(60)}
    assert statuses == {200}


def test_error_rate_one_gives_5xx() -> None:
    sb = make_sandbox()
    sb.faults.error_rate = 1.0
    with api_client(sb) as client:
        statuses = [client.get(path).status_code for path in (ME, f"{API}/event/list", f"{API}/poll/list")]
        statuses.append(client.put(f"{API}/event/no-show-list", json={"ids": []}).status_code)
    assert all(500 <= s < 600 for s in statuses), f"error_rate=1 statuses: {statuses}"


def test_malformed_rate_one_gives_invalid_json() -> None:
    sb = make_sandbox()
    sb.faults.malformed_rate = 1.0
    with api_client(sb) as client:
        for path in (ME, f"{API}/event/list?page=1&onPage=5"):
            body = client.get(path).content
            try:
                json.loads(body)
            except ValueError:  # JSONDecodeError, or bytes that are not even UTF-8
                continue
            pytest.fail(f"{path}: body is valid JSON although malformed_rate=1: {body[:100]!r}")


def test_drop_rate_one_raises_a_transport_error() -> None:
    sb = make_sandbox()
    sb.faults.drop_rate = 1.0
    with api_client(sb) as client, pytest.raises(httpx.TransportError):
        client.get(ME)


def test_latency_adds_delay() -> None:
    sb = make_sandbox()
    with api_client(sb) as client:
        client.get(ME)  # warm
        sb.faults.latency_s = 0.3
        started = time.perf_counter()
        assert client.get(ME).status_code == 200
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.27, f"latency_s=0.3 but the call took {elapsed:.3f}s"


def test_faults_can_be_switched_off_at_run_time() -> None:
    sb = make_sandbox()
    with api_client(sb) as client:
        sb.faults.error_rate = 1.0
        assert client.get(ME).status_code >= 500
        sb.faults.error_rate = 0.0
        assert client.get(ME).status_code == 200
        sb.faults.drop_rate = 1.0
        with pytest.raises(httpx.TransportError):
            client.get(ME)
        sb.faults.drop_rate = 0.0
        assert client.get(ME).status_code == 200


def test_partial_error_rate_mixes_outcomes() -> None:
    sb = make_sandbox()
    sb.faults.error_rate = 0.5
    with api_client(sb) as client:
        statuses = [client.get(ME).status_code for _ in range(80)]
    assert 200 in statuses, "error_rate=0.5 never succeeded in 80 calls"
    assert any(s >= 500 for s in statuses), "error_rate=0.5 never failed in 80 calls"
