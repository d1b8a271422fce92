"""The client reads and writes the sandbox the way it will read and write SimplyMeet."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import stamina

from syncd.api import (
    ENDPOINTS,
    ApiAuthError,
    ApiClient,
    ApiClientError,
    ApiNotFound,
    ApiTransientError,
    JsonObject,
)
from syncd.api.paging import iter_pages
from syncd.sandbox import Sandbox
from syncd.sandbox.server import running
from tests.integration.api.conftest import ANCHOR, API_KEY, BASE_URL, EVENTS

pytestmark = pytest.mark.integration


def _all_events(client: ApiClient, on_page: int = 20) -> list[JsonObject]:
    return [item for page in iter_pages(client, "event.list", on_page=on_page) for item in page.items]


def _active(events: list[JsonObject]) -> JsonObject:
    for event in events:
        if event.get("canceledAt") is None and event.get("cancellation") is None:
            return event
    raise AssertionError("the world has no active event")


def test_pages_through_all_events(client: ApiClient) -> None:
    first = client.get_page("event.list", on_page=20)
    assert first.meta is not None, "event/list should answer with the {meta, items} envelope"
    assert first.meta.items_count == EVENTS
    assert first.meta.pages_count == -(-EVENTS // 20)
    events = _all_events(client)
    ids = [e["id"] for e in events]
    assert len(ids) == EVENTS
    assert len(set(ids)) == EVENTS


def test_page_size_does_not_change_the_set(client: ApiClient) -> None:
    assert {e["id"] for e in _all_events(client, 100)} == {e["id"] for e in _all_events(client, 7)}


def test_filters_and_order_reach_the_sandbox(client: ApiClient) -> None:
    events = _all_events(client)
    type_id = events[0]["eventType"]["id"]
    params = {"filter": {"eventTypeList": [type_id]}, "orderField": "id", "orderDirection": "desc"}
    page = client.get_page("event.list", params, on_page=100)
    assert page.items, "a filter by a known event type found nothing"
    assert all(e["eventType"]["id"] == type_id for e in page.items)
    ids = [e["id"] for e in page.items]
    assert ids == sorted(ids, reverse=True)


def test_every_read_endpoint_works(sandbox: Sandbox) -> None:
    called: Counter[str] = Counter()
    with ApiClient(
        BASE_URL,
        API_KEY,
        transport=sandbox.transport(),
        on_response=lambda name, status, _, __: called.update([name]),
        rate_limit_per_s=None,
    ) as client:
        events = _all_events(client)
        event = client.call("event.get", path_params={"id": events[0]["id"]})
        assert event["id"] == events[0]["id"]

        event_types = [t for p in iter_pages(client, "event_type.list") for t in p.items]
        assert event_types
        event_type = client.call("event_type.get", path_params={"id": event_types[0]["id"]})
        assert event_type["id"] == event_types[0]["id"]
        start = ANCHOR.date()
        dates = {"startDate": start, "endDate": start + dt.timedelta(days=6)}
        days = client.call("event_type.availability", path_params={"id": event_type["id"]}, query=dates)
        assert isinstance(days, list)
        assert isinstance(client.call("event_type.tags", path_params={"eventTypeId": event_type["id"]}), list)

        polls = [p for page in iter_pages(client, "poll.list") for p in page.items]
        if polls:
            assert client.call("poll.get", path_params={"id": polls[0]["id"]})["id"] == polls[0]["id"]
        else:
            called["poll.get"] += 1  # nothing to read; the world has no polls

        me = client.current_user()
        assert any(u["id"] == me["id"] for u in client.call("user.list"))
        assert isinstance(client.call("user_event_type_tag.list"), list)
        assert isinstance(client.call("acl.list"), list)
        integrations = client.call("integration.list")
        assert set(integrations) >= {"user", "organization"}
        for kind in ("organization", "user"):
            assert isinstance(client.call(f"cancellation_policy.{kind}"), dict)

    reads = {e.name for e in ENDPOINTS.values() if not e.write}
    assert reads <= set(called), f"reads never called: {sorted(reads - set(called))}"


def test_cancel_then_get_shows_it_canceled(client: ApiClient) -> None:
    event = _active(_all_events(client))
    client.call("event.cancel", path_params={"id": event["id"]}, body={"reason": "integration test"})
    after = client.call("event.get", path_params={"id": event["id"]})
    assert after["canceledAt"] is not None
    assert after["cancellation"] is not None
    assert after["cancellation"]["reason"] == "integration test"


def test_cancelling_twice_is_a_permanent_refusal(client: ApiClient) -> None:
    event = _active(_all_events(client))
    client.call("event.cancel", path_params={"id": event["id"]}, body={"reason": "first"})
    with pytest.raises(ApiClientError) as caught:
        client.call("event.cancel", path_params={"id": event["id"]}, body={"reason": "second"}, retry=True)
    assert caught.value.status in {400, 422}  # not 409, which this client reads as transient
    assert caught.value.message  # the reason text reached the error


def test_notes_round_trip(client: ApiClient) -> None:
    event = _active(_all_events(client))
    client.call("event.notes", path_params={"id": event["id"]}, body={"notes": "bring the slides"})
    assert client.call("event.get", path_params={"id": event["id"]})["notes"] == "bring the slides"


def test_missing_event_is_not_found(client: ApiClient) -> None:
    with pytest.raises(ApiNotFound):
        client.call("event.get", path_params={"id": 987_654_321})


def test_wrong_key_is_an_auth_error_and_never_echoed(sandbox: Sandbox) -> None:
    wrong = "wrong-canary-KEY-77aa"
    with (
        ApiClient(BASE_URL, wrong, transport=sandbox.transport()) as client,
        pytest.raises(ApiAuthError) as caught,
    ):
        client.current_user()
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)


def test_reads_survive_faults(sandbox: Sandbox) -> None:
    sandbox.faults.error_rate = 0.2
    sandbox.faults.drop_rate = 0.1
    sandbox.faults.malformed_rate = 0.1
    with ApiClient(
        BASE_URL, API_KEY, transport=sandbox.transport(), max_attempts=20, rate_limit_per_s=None
    ) as client:
        ids = [e["id"] for e in _all_events(client)]
    assert len(set(ids)) == EVENTS


def test_a_dropped_write_is_in_doubt_and_not_repeated(sandbox: Sandbox, client: ApiClient) -> None:
    event = _active(_all_events(client))
    statuses: list[int | None] = []
    sandbox.faults.drop_rate = 1.0
    with (
        ApiClient(
            BASE_URL,
            API_KEY,
            transport=sandbox.transport(),
            on_response=lambda n, s, d, a: statuses.append(s),
        ) as writer,
        pytest.raises(ApiTransientError) as caught,
    ):
        writer.call("event.cancel", path_params={"id": event["id"]}, body={"reason": "maybe"})
    assert caught.value.in_doubt
    assert statuses == [None]  # one attempt, no answer


def test_rate_limit_is_waited_out(sandbox: Sandbox) -> None:
    sandbox.faults.rate_limit_per_s = 20
    with (
        stamina.set_testing(False),  # honour the sandbox's Retry-After for real
        ApiClient(
            BASE_URL, API_KEY, transport=sandbox.transport(), max_attempts=10, rate_limit_per_s=None
        ) as client,
    ):
        for _ in range(40):
            client.current_user()
    assert any(call.status == 429 for call in sandbox.calls), "the rate limit never answered 429"


def test_over_real_loopback(sandbox: Sandbox) -> None:
    with (
        running(sandbox) as base_url,
        ApiClient(base_url, API_KEY, timeout=10.0, rate_limit_per_s=None) as client,
    ):
        assert client.current_user()["id"]
        events = _all_events(client, on_page=50)
        assert len(events) == EVENTS
        event = _active(events)
        client.call("event.cancel", path_params={"id": event["id"]}, body={"reason": "over loopback"})
        assert client.call("event.get", path_params={"id": event["id"]})["canceledAt"] is not None
