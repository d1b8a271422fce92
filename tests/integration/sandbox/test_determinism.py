"""Same seed, anchor and size: the same world, answer for answer. Another seed: another world."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.contract import API
from tests.integration.sandbox.default_world import api_client, make_sandbox

pytestmark = pytest.mark.integration

READS = [
    f"{API}/event/list?page=1&onPage=100",
    f"{API}/event/list?page=2&onPage=100",
    f"{API}/event-type/list?page=1&onPage=100",
    f"{API}/user/current",
    f"{API}/user/list",
    f"{API}/poll/list",
    f"{API}/user-event-type-tag/list",
    f"{API}/acl",
    f"{API}/integration/list",
    f"{API}/organization-cancellation-policy",
]


def answers(**overrides: object) -> dict[str, bytes]:
    with api_client(make_sandbox(**overrides)) as client:
        return {path: client.get(path).content for path in READS}


def test_same_seed_same_answers() -> None:
    first, second = answers(), answers()
    differing = [path for path in READS if first[path] != second[path]]
    assert not differing, f"two sandboxes with the same seed/anchor/events answer differently on {differing}"


def test_other_seed_other_world() -> None:
    base, other = answers(), answers(seed=8)
    assert base[READS[0]] != other[READS[0]], "seed 7 and seed 8 give the same event list"


def test_size_follows_events() -> None:
    with api_client(make_sandbox(events=15)) as client:
        body = client.get(f"{API}/event/list", params={"page": 1, "onPage": 100}).json()
    assert body["meta"]["itemsCount"] == 15, f"Sandbox(events=15) lists {body['meta']['itemsCount']} events"
