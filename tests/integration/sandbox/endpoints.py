"""Every endpoint of ENDPOINTS.md, with a request a docs-only client would send and the answer's shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.sandbox.contract import API, WorldIds, php

UNKNOWN_ID = 987_654_321


@dataclass(frozen=True)
class Call:
    url: str
    json: Any = None
    params: dict[str, Any] | list[tuple[str, Any]] | None = None

    def send(self, client: httpx.Client, method: str, **kwargs: Any) -> httpx.Response:
        return client.request(method, self.url, json=self.json, params=self.params, **kwargs)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # exactly as ENDPOINTS.md writes it
    # "empty", a DTO name, "DTO[]" (bare array), "envelope:DTO", or "empty|DTO" where the docs are ambiguous
    answer: str
    request: Callable[[WorldIds], Call]
    # Run before the request (e.g. attach a tag before detaching it).
    setup: Callable[[httpx.Client, WorldIds], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path.removeprefix(API)}"


def _future(days: int, hour: int = 10) -> str:
    # Far enough after the fixed anchor to be in the future for any clock the tests use.
    base = dt.datetime(2027, 1, 4, hour, tzinfo=dt.UTC)
    return php(base + dt.timedelta(days=days))


def _event(ids: WorldIds) -> int:
    return int(ids.active_events()[0]["id"])


def _events(ids: WorldIds, n: int = 2) -> list[int]:
    return [int(e["id"]) for e in ids.active_events()[:n]]


def _poll_body(ids: WorldIds) -> dict[str, Any]:
    return {
        "eventTypeId": ids.event_type_id,
        "voteVisibility": True,
        "commentVisibility": False,
        "emailNotification": False,
        "duration": 30,
        "name": "Contract poll",
        "availability": [{"date": _future(1)}, {"date": _future(2)}],
    }


POLICY = {
    "enabled": True,
    "period": 1440,
    "label": "24 hours",
    "text": "Cancel a day ahead.",
    "overwritePersonal": False,
}


def _poll_id(ids: WorldIds) -> int:
    assert ids.poll_id is not None, "the default world has no poll to read"
    return int(ids.poll_id)


def _attach_tag(client: httpx.Client, ids: WorldIds) -> None:
    client.put(f"{API}/event-type/{ids.event_type_id}/tag/{ids.tag_id}").raise_for_status()


def _create_poll(client: httpx.Client, ids: WorldIds) -> None:
    response = client.post(f"{API}/poll", json=_poll_body(ids))
    response.raise_for_status()
    ids.poll = response.json()


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", f"{API}/acl", "AclRuleDTO[]", lambda ids: Call(f"{API}/acl")),
    Endpoint(
        "PUT",
        f"{API}/availability-rule",
        "empty",
        lambda ids: Call(
            f"{API}/availability-rule",
            json={
                "eventTypeIds": [ids.event_type_id],
                "availabilityRules": [
                    {
                        "type": "weekday",
                        "hourIntervals": [{"start": "09:00", "end": "17:00"}],
                        "config": {"weekday": "wednesday"},
                    }
                ],
                "periodType": "range",
                "periodTypeConfig": {"start": "2027-01-01", "end": "2027-12-31"},
                "availabilityType": "weekday",
            },
        ),
    ),
    Endpoint(
        "GET",
        f"{API}/organization-cancellation-policy",
        "CancellationPolicyDTO",
        lambda ids: Call(f"{API}/organization-cancellation-policy"),
    ),
    Endpoint(
        "PUT",
        f"{API}/organization-cancellation-policy",
        "empty|CancellationPolicyDTO",
        lambda ids: Call(f"{API}/organization-cancellation-policy", json=POLICY),
    ),
    Endpoint(
        "GET",
        f"{API}/user-cancellation-policy",
        "CancellationPolicyDTO",
        lambda ids: Call(f"{API}/user-cancellation-policy"),
    ),
    Endpoint(
        "PUT",
        f"{API}/user-cancellation-policy",
        "empty|CancellationPolicyDTO",
        lambda ids: Call(f"{API}/user-cancellation-policy", json=POLICY),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/cancel/{{id}}",
        "empty",
        lambda ids: Call(f"{API}/event/cancel/{_event(ids)}", json={"reason": "Contract test"}),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/cancel-list",
        "empty",
        lambda ids: Call(f"{API}/event/cancel-list", json={"ids": _events(ids), "reason": "Contract test"}),
    ),
    Endpoint("DELETE", f"{API}/event/{{id}}", "empty", lambda ids: Call(f"{API}/event/{_event(ids)}")),
    Endpoint(
        "DELETE",
        f"{API}/event/delete-list",
        "empty",
        lambda ids: Call(f"{API}/event/delete-list", json={"ids": _events(ids)}),
    ),
    Endpoint(
        "POST",
        f"{API}/event",
        "EventDTO",
        lambda ids: Call(
            f"{API}/event",
            json={
                "scheduledAt": _future(3),
                "eventType": ids.event_type_id,
                "invitee": {
                    "fullName": "Zoë Contract",
                    "email": "zoe.contract@example.org",
                    "timezone": "Europe/Berlin",
                    "locale": "de",
                },
            },
        ),
    ),
    Endpoint("GET", f"{API}/event/{{id}}", "EventDTO", lambda ids: Call(f"{API}/event/{_event(ids)}")),
    Endpoint(
        "PUT",
        f"{API}/event/{{id}}",
        "empty",
        lambda ids: Call(
            f"{API}/event/{_event(ids)}",
            json={"invitee": {"fullName": "Renamed Invitee", "phoneNumber": "+49 30 1234567"}, "answers": []},
        ),
    ),
    Endpoint(
        "GET",
        f"{API}/event/list",
        "envelope:EventDTO",
        lambda ids: Call(f"{API}/event/list", params={"page": 1, "onPage": 10}),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/notes/{{id}}",
        "empty",
        lambda ids: Call(f"{API}/event/notes/{_event(ids)}", json={"notes": "Bring the contract."}),
    ),
    Endpoint(
        "POST",
        f"{API}/event/invite-participants/{{id}}",
        "empty",
        lambda ids: Call(
            f"{API}/event/invite-participants/{_event(ids)}",
            json={"emails": ["guest.one@example.org"], "message": "Join us"},
        ),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/no-show/{{id}}",
        "empty",
        lambda ids: Call(f"{API}/event/no-show/{_event(ids)}"),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/no-show-list",
        "empty",
        lambda ids: Call(f"{API}/event/no-show-list", json={"ids": _events(ids)}),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/reschedule/{{id}}",
        "empty",
        lambda ids: Call(
            f"{API}/event/reschedule/{_event(ids)}",
            json={
                "start": _future(5),
                "end": _future(5, hour=11),
                "eventTypeId": ids.active_events()[0]["eventType"]["id"],
            },
        ),
    ),
    Endpoint(
        "PUT",
        f"{API}/event/resend-notification/{{id}}",
        "empty",
        lambda ids: Call(f"{API}/event/resend-notification/{_event(ids)}"),
    ),
    Endpoint(
        "GET",
        f"{API}/event-type/list",
        "envelope:EventTypeDTO",
        lambda ids: Call(f"{API}/event-type/list", params={"page": 1, "onPage": 10}),
    ),
    Endpoint(
        "GET",
        f"{API}/event-type/{{id}}",
        "EventTypeDTO",
        lambda ids: Call(f"{API}/event-type/{ids.event_type_id}"),
    ),
    Endpoint(
        "GET",
        f"{API}/event-type/availability/{{id}}",
        "EventTypeAvailabilityDTO[]",
        lambda ids: Call(
            f"{API}/event-type/availability/{ids.event_type_id}",
            params={"startDate": "2027-01-04", "endDate": "2027-01-10", "timezone": "Europe/Berlin"},
        ),
    ),
    Endpoint(
        "GET",
        f"{API}/event-type/{{eventTypeId}}/tag/list",
        "EventTypeTagDTO[]",
        lambda ids: Call(f"{API}/event-type/{ids.event_type_id}/tag/list"),
    ),
    Endpoint(
        "PUT",
        f"{API}/event-type/{{eventTypeId}}/tag/{{tagId}}",
        "empty",
        lambda ids: Call(f"{API}/event-type/{ids.event_type_id}/tag/{ids.tag_id}"),
    ),
    Endpoint(
        "DELETE",
        f"{API}/event-type/{{eventTypeId}}/tag/{{tagId}}",
        "empty",
        lambda ids: Call(f"{API}/event-type/{ids.event_type_id}/tag/{ids.tag_id}"),
        setup=_attach_tag,
    ),
    Endpoint(
        "POST",
        f"{API}/event-type/single-use-link/{{id}}",
        "SingleUseLinkDTO",
        lambda ids: Call(f"{API}/event-type/single-use-link/{ids.event_type_id}"),
    ),
    Endpoint(
        "GET", f"{API}/integration/list", "IntegrationListDTO", lambda ids: Call(f"{API}/integration/list")
    ),
    Endpoint("GET", f"{API}/poll/list", "PollDTO[]", lambda ids: Call(f"{API}/poll/list")),
    Endpoint("POST", f"{API}/poll", "PollDTO", lambda ids: Call(f"{API}/poll", json=_poll_body(ids))),
    Endpoint("GET", f"{API}/poll/{{id}}", "PollDTO", lambda ids: Call(f"{API}/poll/{_poll_id(ids)}")),
    Endpoint("DELETE", f"{API}/poll/{{id}}", "empty", lambda ids: Call(f"{API}/poll/{_poll_id(ids)}")),
    Endpoint(
        "POST",
        f"{API}/poll/result",
        "empty",
        lambda ids: Call(
            f"{API}/poll/result",
            json={
                "uuid": ids.poll["uuid"],
                "availability": [ids.poll["availability"][0]["id"]],
                "email": "voter@example.org",
                "comment": "Works for me",
            },
        ),
        setup=_create_poll,
    ),
    Endpoint("GET", f"{API}/user/current", "UserDTO", lambda ids: Call(f"{API}/user/current")),
    Endpoint("GET", f"{API}/user/list", "UserDTO[]", lambda ids: Call(f"{API}/user/list")),
    Endpoint(
        "GET",
        f"{API}/user-event-type-tag/list",
        "UserEventTypeTagDTO[]",
        lambda ids: Call(f"{API}/user-event-type-tag/list"),
    ),
    Endpoint(
        "POST",
        f"{API}/user-event-type-tag",
        "UserEventTypeTagDTO",
        lambda ids: Call(
            f"{API}/user-event-type-tag", json={"position": 9, "name": "VIP", "color": "#aa3355"}
        ),
    ),
    Endpoint(
        "PUT",
        f"{API}/user-event-type-tag/{{id}}",
        "UserEventTypeTagDTO",
        lambda ids: Call(
            f"{API}/user-event-type-tag/{ids.tag_id}",
            json={"position": 2, "name": "Renamed", "color": "#112233"},
        ),
    ),
    Endpoint(
        "DELETE",
        f"{API}/user-event-type-tag/{{id}}",
        "empty",
        lambda ids: Call(f"{API}/user-event-type-tag/{ids.tag_id}"),
    ),
]

ENDPOINT_IDS = [e.id for e in ENDPOINTS]
