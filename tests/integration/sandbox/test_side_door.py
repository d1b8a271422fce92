"""The sandbox's own side door: the call log, and /_sandbox/ over HTTP behind X-SANDBOX-TOKEN."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from syncd.sandbox import Sandbox
from syncd.sandbox.server import running
from tests.integration.sandbox.contract import (
    API,
    all_events,
    assert_shape,
    error_reason,
    json_of,
    parse_answer_datetime,
)
from tests.integration.sandbox.default_world import ADMIN_TOKEN, API_KEY, api_client, make_sandbox

pytestmark = pytest.mark.integration


def test_call_log_records_calls() -> None:
    sb = make_sandbox()
    with api_client(sb) as client:
        client.get(f"{API}/user/current")
        client.get(f"{API}/event/list", params={"page": 2, "onPage": 5})
        client.put(f"{API}/event/cancel/987654321", json={"reason": "x"})
    with api_client(sb, api_key="wrong") as anonymous:
        anonymous.get(f"{API}/user/current")
    calls = list(sb.calls)
    assert [(c.method, c.path, c.status) for c in calls[-4:]] == [
        ("GET", f"{API}/user/current", 200),
        ("GET", f"{API}/event/list", 200),
        ("PUT", f"{API}/event/cancel/987654321", 404),
        ("GET", f"{API}/user/current", 401),
    ], f"call log: {calls[-4:]}"
    listed = calls[-3]
    assert "page=2" in listed.query, f"query not recorded: {listed.query!r}"
    assert "onPage=5" in listed.query, f"query not recorded: {listed.query!r}"
    for call in calls[-4:]:
        assert isinstance(call.at, dt.datetime), call
        assert call.at.tzinfo is not None, f"call time is naive: {call.at!r}"


def test_call_log_starts_empty() -> None:
    assert list(make_sandbox().calls) == []


# -- /_sandbox/ over HTTP ----------------------------------------------------------------------

GUARDED = [
    ("GET", "/_sandbox/calls", None),
    ("DELETE", "/_sandbox/calls", None),
    ("GET", "/_sandbox/faults", None),
    ("PUT", "/_sandbox/faults", {"error_rate": 1.0}),
    ("POST", "/_sandbox/world/touch_event", {"id": 1}),
    ("POST", "/_sandbox/world/remove_event", {"id": 1}),
    ("POST", "/_sandbox/world/add_event", {}),
]
DENIED = {401, 403, 404}


@pytest.fixture(scope="module")
def door() -> Iterator[tuple[Sandbox, str]]:
    sb = make_sandbox()
    with running(sb) as base_url:
        yield sb, base_url


@pytest.fixture
def admin(door: tuple[Sandbox, str]) -> Iterator[httpx.Client]:
    _, base_url = door
    with httpx.Client(base_url=base_url, headers={"X-SANDBOX-TOKEN": ADMIN_TOKEN}, timeout=10.0) as client:
        yield client


@pytest.fixture
def api(door: tuple[Sandbox, str]) -> Iterator[httpx.Client]:
    _, base_url = door
    with httpx.Client(base_url=base_url, headers={"X-API-KEY": API_KEY}, timeout=10.0) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-SANDBOX-TOKEN": "wrong"}, {"X-API-KEY": API_KEY}],
    ids=["no-token", "wrong-token", "api-key-only"],
)
@pytest.mark.parametrize(("method", "path", "body"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_side_door_needs_the_token(
    door: tuple[Sandbox, str], headers: dict[str, str], method: str, path: str, body: object
) -> None:
    sb, base_url = door
    before = (len(sb.world.events), dataclasses.asdict(sb.faults))
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        response = client.request(method, path, json=body)
    assert response.status_code in DENIED, f"{method} {path} with {headers}: {response.status_code}"
    assert (len(sb.world.events), dataclasses.asdict(sb.faults)) == before, (
        "a refused side-door call changed things"
    )


def test_side_door_is_off_without_an_admin_token() -> None:
    with api_client(make_sandbox(admin_token=None)) as client:
        response = client.get("/_sandbox/calls", headers={"X-SANDBOX-TOKEN": ""})
    assert response.status_code in DENIED


def test_side_door_is_not_under_the_api(api: httpx.Client) -> None:
    response = api.get(f"{API}/_sandbox/calls", headers={"X-SANDBOX-TOKEN": ADMIN_TOKEN})
    assert response.status_code == 404, f"side door reachable under /panel/api: {response.status_code}"


def test_side_door_mutation_is_visible_through_the_api(admin: httpx.Client, api: httpx.Client) -> None:
    events = all_events(api)
    target = events[0]["id"]
    response = admin.post(
        "/_sandbox/world/set_event_field",
        json={"id": target, "field": "notes", "value": "set through the door"},
    )
    assert response.is_success, f"set_event_field: {response.status_code} {response.text[:200]}"
    after = json_of(api.get(f"{API}/event/{target}"), "event after side-door change")
    assert after["notes"] == "set through the door"
    assert parse_answer_datetime(after["updatedAt"]) >= parse_answer_datetime(events[0]["updatedAt"])

    added = json_of(admin.post("/_sandbox/world/add_event", json={}), "add_event")
    assert added["id"] in {e["id"] for e in all_events(api)}, "an event added through the door is not listed"
    assert_shape(json_of(api.get(f"{API}/event/{added['id']}"), "added event"), "EventDTO", "added event")

    admin.post("/_sandbox/world/remove_event", json={"id": added["id"]}).raise_for_status()
    error_reason(api.get(f"{API}/event/{added['id']}"), {404}, "event removed through the door")


def test_side_door_touch_moves_updated_at(admin: httpx.Client, api: httpx.Client) -> None:
    target = all_events(api)[1]
    admin.post("/_sandbox/world/touch_event", json={"id": target["id"]}).raise_for_status()
    after = json_of(api.get(f"{API}/event/{target['id']}"), "touched event")
    assert parse_answer_datetime(after["updatedAt"]) > parse_answer_datetime(target["updatedAt"])


def test_side_door_faults_and_calls(
    door: tuple[Sandbox, str], admin: httpx.Client, api: httpx.Client
) -> None:
    sb, _ = door
    admin.delete("/_sandbox/calls").raise_for_status()
    try:
        admin.put("/_sandbox/faults", json={"error_rate": 1.0}).raise_for_status()
        assert api.get(f"{API}/user/current").status_code >= 500, "a fault set through the door had no effect"
    finally:
        admin.put("/_sandbox/faults", json={"error_rate": 0.0}).raise_for_status()
    answer = api.get(f"{API}/user/current")
    assert answer.status_code == 200
    calls = json_of(admin.get("/_sandbox/calls"), "side-door call log")
    assert [(c["method"], c["path"]) for c in calls] == [("GET", f"{API}/user/current")] * 2, calls
    assert [c["status"] for c in calls][-1] == 200
    # The body's size as sent: what `make bench` adds up as the JSON the API served.
    assert calls[-1]["bytes"] == len(answer.content) > 0, calls[-1]
    assert sb.calls[-1].status == 200
