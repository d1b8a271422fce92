"""The same contract over a real loopback HTTP server: sockets, headers, bodies, dropped connections."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sandbox import Sandbox
from syncd.sandbox.server import running
from tests.integration.sandbox.contract import (
    API,
    assert_empty_success,
    assert_shape,
    error_reason,
    event_pages,
    json_of,
)
from tests.integration.sandbox.default_world import API_KEY, EVENTS, make_sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sb = make_sandbox()
    with running(sb, host="127.0.0.1", port=0) as base_url:
        yield sb, base_url


@pytest.fixture
def server(served: tuple[Sandbox, str]) -> Iterator[tuple[Sandbox, str]]:
    sb, _ = served
    calm = dataclasses.asdict(sb.faults)
    yield served
    for name, value in calm.items():
        setattr(sb.faults, name, value)


@pytest.fixture
def http(server: tuple[Sandbox, str]) -> Iterator[httpx.Client]:
    _, base_url = server
    with httpx.Client(base_url=base_url, headers={"X-API-KEY": API_KEY}, timeout=10.0) as client:
        yield client


def test_base_url_is_loopback(server: tuple[Sandbox, str]) -> None:
    _, base_url = server
    url = httpx.URL(base_url)
    assert url.host == "127.0.0.1", base_url
    assert url.port, base_url


@pytest.mark.parametrize("key", [None, "wrong"], ids=["missing", "wrong"])
def test_auth_over_the_wire(server: tuple[Sandbox, str], key: str | None) -> None:
    _, base_url = server
    headers = {"X-API-KEY": key} if key else {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as anonymous:
        error_reason(anonymous.get(f"{API}/event/list"), {401}, f"GET over loopback with key={key!r}")
        error_reason(anonymous.put(f"{API}/event/cancel/1", json={"reason": "x"}), {401}, "PUT without key")


def test_json_content_type(http: httpx.Client) -> None:
    response = http.get(f"{API}/user/current")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    assert_shape(response.json(), "UserDTO", "user/current over loopback")


def test_paging_over_the_wire(http: httpx.Client) -> None:
    ids: list[int] = []
    for meta, items in event_pages(http, on_page=50):
        assert meta["itemsPerPage"] == 50
        ids += [e["id"] for e in items]
    assert len(ids) == len(set(ids)) == EVENTS, (
        f"{len(ids)} ids, {len(set(ids))} distinct, world has {EVENTS}"
    )


def test_a_write_over_the_wire(http: httpx.Client) -> None:
    events: list[dict[str, Any]] = [e for _, items in event_pages(http) for e in items]
    target = next(e for e in events if e["canceledAt"] is None and e["cancellation"] is None)
    response = http.put(f"{API}/event/cancel/{target['id']}", json={"reason": "Über die Leitung"})
    assert_empty_success(response, "cancel over loopback")
    after = json_of(http.get(f"{API}/event/{target['id']}"), "event after cancel")
    assert after["cancellation"]["reason"] == "Über die Leitung"
    assert after["canceledAt"] is not None


def test_delete_list_body_over_the_wire(http: httpx.Client) -> None:
    events = [e for _, items in event_pages(http) for e in items]
    doomed = [events[-1]["id"], events[-2]["id"]]
    assert_empty_success(
        http.request("DELETE", f"{API}/event/delete-list", json={"ids": doomed}), "delete-list"
    )
    for event_id in doomed:
        error_reason(http.get(f"{API}/event/{event_id}"), {404}, "deleted event over loopback")


def test_dropped_connection(server: tuple[Sandbox, str], http: httpx.Client) -> None:
    sb, _ = server
    sb.faults.drop_rate = 1.0
    with pytest.raises(httpx.TransportError):
        http.get(f"{API}/user/current")
    sb.faults.drop_rate = 0.0
    assert http.get(f"{API}/user/current").status_code == 200, "the server did not recover after drops"


def test_rate_limit_over_the_wire(server: tuple[Sandbox, str], http: httpx.Client) -> None:
    sb, _ = server
    sb.faults.rate_limit_per_s = 2
    responses = [http.get(f"{API}/user/current") for _ in range(12)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited, f"no 429 over loopback: {[r.status_code for r in responses]}"
    value = limited[0].headers.get("Retry-After", "")
    assert value.isdigit(), f"Retry-After over loopback is not seconds: {value!r}"


def test_error_fault_over_the_wire(server: tuple[Sandbox, str], http: httpx.Client) -> None:
    sb, _ = server
    sb.faults.error_rate = 1.0
    assert http.get(f"{API}/user/current").status_code >= 500


def test_unknown_path_is_404(http: httpx.Client) -> None:
    assert http.get(f"{API}/no-such-resource").status_code == 404
