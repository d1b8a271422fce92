"""The sandbox's own checks (the contract tests from the docs live in tests/integration/sandbox)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncd.sandbox import Sandbox
from syncd.sandbox.query import parse_php_query
from tests.reference import dtos, resolve_type

pytestmark = pytest.mark.unit

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
API = "/panel/api"


def make(**kw: Any) -> Sandbox:
    sb = Sandbox(api_key="k", events=kw.pop("events", 120), seed=4, anchor=ANCHOR, admin_token="adm", **kw)
    sb.clock = lambda: NOW
    return sb


@pytest.fixture
def sb() -> Sandbox:
    return make()


@pytest.fixture
def client(sb: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(transport=sb.transport(), base_url="http://sandbox", headers={"X-API-KEY": "k"}) as c:
        yield c


def assert_dto(obj: Any, dto: str, where: str) -> None:
    if obj is None:
        return
    fields = dtos()[dto]
    assert list(obj) == [f.name for f in fields], where
    for f in fields:
        ref = resolve_type(f.type)
        value = obj[f.name]
        if ref.dto and value is not None:
            for i, item in enumerate(value if ref.is_list else [value]):
                assert_dto(item, ref.dto, f"{where}.{f.name}[{i}]")


def test_php_query_nesting() -> None:
    q = parse_php_query("page=2&filter[ids][]=1&filter[ids][]=2&filter[state]=canceled&filter[userList][]=")
    assert q == {"page": "2", "filter": {"ids": ["1", "2"], "state": "canceled", "userList": [""]}}


def test_same_seed_same_bytes() -> None:
    a, b = make(), make()
    with (
        httpx.Client(transport=a.transport(), base_url="http://s", headers={"X-API-KEY": "k"}) as ca,
        httpx.Client(transport=b.transport(), base_url="http://s", headers={"X-API-KEY": "k"}) as cb,
    ):
        for path in ("/event/list?skipPagination=1", "/poll/list", "/event-type/list", "/user/list"):
            assert ca.get(API + path).content == cb.get(API + path).content


def test_every_documented_field_is_answered(client: httpx.Client) -> None:
    for ev in client.get(f"{API}/event/list", params={"skipPagination": 1}).json()["items"]:
        assert_dto(ev, "EventDTO", f"event {ev['id']}")
    for et in client.get(f"{API}/event-type/list").json()["items"]:
        assert_dto(et, "EventTypeDTO", "event type")
    for poll in client.get(f"{API}/poll/list").json():
        assert_dto(poll, "PollDTO", "poll")
        assert_dto(poll["user"], "UserDTO", "poll.user")
    assert_dto(client.get(f"{API}/user-cancellation-policy").json(), "CancellationPolicyDTO", "policy")


def test_paging_is_complete_and_stable(client: httpx.Client) -> None:
    seen: list[int] = []
    for page in range(1, 100):
        body = client.get(
            f"{API}/event/list", params={"page": page, "onPage": 7, "orderField": "updatedAt"}
        ).json()
        seen += [e["id"] for e in body["items"]]
        if page >= body["meta"]["pagesCount"]:
            break
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) == 120


def test_cancel_moves_updated_at_and_refuses_twice(sb: Sandbox, client: httpx.Client) -> None:
    eid = client.get(f"{API}/event/list", params={"filter[state]": "active"}).json()["items"][0]["id"]
    assert client.post(f"{API}/event/cancel/{eid}", json={"reason": "r"}).status_code == 200
    ev = client.get(f"{API}/event/{eid}").json()
    assert (ev["state"], ev["cancellation"]["reason"]) == ("canceled", "r")
    assert datetime.fromisoformat(ev["updatedAt"]) == NOW
    assert client.put(f"{API}/event/cancel/{eid}", json={}).status_code == 400


def test_bad_input_names_the_field(sb: Sandbox, client: httpx.Client) -> None:
    r = client.put(
        f"{API}/event/reschedule/1001", json={"start": "2026-02-01T10:00", "end": "x", "eventTypeId": 201}
    )
    assert r.status_code == 400
    assert r.json()["message"].startswith("start:")
    assert client.get(f"{API}/event/list", params={"onPage": 0}).status_code == 400
    with httpx.Client(transport=sb.transport(), base_url="http://s") as anonymous:
        assert anonymous.get(f"{API}/acl").status_code == 401


def test_faults_are_seeded() -> None:
    def outcomes() -> list[str]:
        sb = make(events=5, error_rate=0.3, drop_rate=0.2, malformed_rate=0.2)
        out = []
        with httpx.Client(transport=sb.transport(), base_url="http://s", headers={"X-API-KEY": "k"}) as c:
            for _ in range(40):
                try:
                    out.append(str(c.get(f"{API}/acl").status_code))
                except httpx.RemoteProtocolError:
                    out.append("drop")
        return out

    first = outcomes()
    assert first == outcomes()
    assert "drop" in first
    assert "200" in first


def test_side_door(sb: Sandbox, client: httpx.Client) -> None:
    door = {"X-SANDBOX-TOKEN": "adm"}
    new_id = client.post("/_sandbox/world/add_event", json={"notes": "side door"}, headers=door).json()["id"]
    assert sb.world.event_dto(new_id)["notes"] == "side door"
    assert client.get(f"{API}/event/{new_id}").json()["id"] == new_id
    assert client.get("/_sandbox/calls", headers=door).json()[-1]["status"] == 200
    assert client.get("/_sandbox/calls").status_code == 401
    client.put("/_sandbox/faults", json={"drop_rate": 1.0}, headers=door)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{API}/acl")
