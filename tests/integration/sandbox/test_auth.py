"""X-API-KEY on every request: a missing or wrong key is refused with 401 and a JSON message."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from syncd.sandbox import Sandbox
from tests.integration.sandbox.contract import API, WorldIds, error_reason, json_of, learn_ids
from tests.integration.sandbox.default_world import api_client, make_sandbox
from tests.integration.sandbox.endpoints import ENDPOINT_IDS, ENDPOINTS, Endpoint

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Sandbox:
    return make_sandbox()


@pytest.fixture(scope="module")
def keyed(world: Sandbox) -> Iterator[httpx.Client]:
    with api_client(world) as client:
        yield client


@pytest.fixture(scope="module")
def module_ids(keyed: httpx.Client) -> WorldIds:
    return learn_ids(keyed)


@pytest.mark.parametrize("api_key", [None, "wrong-key", ""], ids=["missing", "wrong", "blank"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_refused_without_the_right_key(
    endpoint: Endpoint, api_key: str | None, world: Sandbox, keyed: httpx.Client, module_ids: WorldIds
) -> None:
    if endpoint.setup is not None:
        endpoint.setup(keyed, module_ids)
    with api_client(world, api_key=api_key) as anonymous:
        response = endpoint.request(module_ids).send(anonymous, endpoint.method)
    error_reason(response, {401}, f"{endpoint.id} with {api_key=}")


def test_refused_write_changes_nothing(world: Sandbox, keyed: httpx.Client, module_ids: WorldIds) -> None:
    event_id = module_ids.active_events()[-1]["id"]
    before = json_of(keyed.get(f"{API}/event/{event_id}"), "event before")
    with api_client(world, api_key="wrong-key") as anonymous:
        anonymous.put(f"{API}/event/cancel/{event_id}", json={"reason": "not allowed"})
        anonymous.put(f"{API}/event/notes/{event_id}", json={"notes": "not allowed"})
        anonymous.request("DELETE", f"{API}/event/{event_id}")
    after = json_of(keyed.get(f"{API}/event/{event_id}"), "event after")
    assert after == before, "a write refused with 401 still changed the event"


def test_key_is_checked_case_insensitively_by_header_name(world: Sandbox) -> None:
    # HTTP header names are case-insensitive: `x-api-key` is the same header.
    with httpx.Client(transport=world.transport(), base_url="http://sandbox") as raw:
        response = raw.get(f"{API}/user/current", headers={"x-api-key": "contract-key"})
    assert response.status_code == 200, f"lower-case header name refused: {response.status_code}"
