"""Writes change the world as the real service would, as far as the docs tell."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from syncd.sandbox import Sandbox
from tests.integration.sandbox.contract import (
    API,
    REFUSED,
    WorldIds,
    all_events,
    assert_empty_success,
    assert_shape,
    bare_array,
    envelope,
    error_reason,
    json_of,
    parse_answer_datetime,
    php,
)
from tests.integration.sandbox.endpoints import UNKNOWN_ID

pytestmark = pytest.mark.integration


def get_event(client: httpx.Client, event_id: int) -> dict[str, Any]:
    event = json_of(client.get(f"{API}/event/{event_id}"), f"GET event/{event_id}")
    assert_shape(event, "EventDTO", f"event/{event_id}")
    return event


def updated_at(event: dict[str, Any]) -> dt.datetime:
    return parse_answer_datetime(event["updatedAt"])


def assert_cancelled(event: dict[str, Any], before: dict[str, Any], reason: str) -> None:
    eid = event["id"]
    assert event["state"] != before["state"], f"event {eid}: state still {event['state']!r} after cancel"
    assert "cancel" in event["state"].lower(), (
        f"event {eid}: state {event['state']!r} does not read as cancelled"
    )
    assert event["canceledAt"] is not None, f"event {eid}: canceledAt still null after cancel"
    parse_answer_datetime(event["canceledAt"])
    assert event["cancellation"] is not None, f"event {eid}: cancellation still null after cancel"
    assert event["cancellation"]["reason"] == reason, (
        f"event {eid}: cancellation.reason {event['cancellation']}"
    )
    assert updated_at(event) > updated_at(before), f"event {eid}: updatedAt did not move forward on cancel"


# -- cancel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_cancel(client: httpx.Client, ids: WorldIds, method: str) -> None:
    before = ids.active_events()[0]
    reason = 'Client asked — «перенос» "quoted"'
    assert_empty_success(
        client.request(method, f"{API}/event/cancel/{before['id']}", json={"reason": reason}),
        f"{method} cancel",
    )
    assert_cancelled(get_event(client, before["id"]), before, reason)


def test_cancel_shows_in_the_list(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    client.put(f"{API}/event/cancel/{before['id']}", json={"reason": "r"}).raise_for_status()
    listed = {e["id"]: e for e in all_events(client)}
    assert listed[before["id"]]["canceledAt"] is not None, "the list still shows the event uncancelled"


def test_cancelling_twice_is_refused(client: httpx.Client, ids: WorldIds) -> None:
    event_id = ids.active_events()[0]["id"]
    client.put(f"{API}/event/cancel/{event_id}", json={"reason": "first"}).raise_for_status()
    error_reason(
        client.put(f"{API}/event/cancel/{event_id}", json={"reason": "again"}), REFUSED, "second cancel"
    )
    assert get_event(client, event_id)["cancellation"]["reason"] == "first", (
        "a refused cancel changed the reason"
    )


def test_cancel_list(client: httpx.Client, ids: WorldIds) -> None:
    chosen = ids.active_events()[:3]
    response = client.put(
        f"{API}/event/cancel-list", json={"ids": [e["id"] for e in chosen], "reason": "Batch"}
    )
    assert_empty_success(response, "cancel-list")
    for before in chosen:
        assert_cancelled(get_event(client, before["id"]), before, "Batch")


def test_cancel_unknown_is_404(client: httpx.Client) -> None:
    error_reason(
        client.put(f"{API}/event/cancel/{UNKNOWN_ID}", json={"reason": "x"}), {404}, "cancel unknown"
    )


# -- reschedule ----------------------------------------------------------------------------------


def test_reschedule(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    old_start = parse_answer_datetime(before["scheduledAt"])
    start = dt.datetime(2027, 2, 1, 10, tzinfo=dt.UTC)
    end = start + dt.timedelta(minutes=45)
    response = client.put(
        f"{API}/event/reschedule/{before['id']}",
        json={"start": php(start), "end": php(end), "eventTypeId": before["eventType"]["id"]},
    )
    assert_empty_success(response, "reschedule")
    after = get_event(client, before["id"])
    new_start, new_end = parse_answer_datetime(after["scheduledAt"]), parse_answer_datetime(after["endDate"])
    # The request's zone is not stated: the instant must be 10:00 in some zone, i.e. within ±14 h of 10:00 UTC.
    assert abs(new_start - start) <= dt.timedelta(hours=14), (
        f"scheduledAt {after['scheduledAt']} vs {php(start)}"
    )
    assert new_start != old_start, "scheduledAt did not move"
    assert new_end - new_start == end - start, f"endDate {after['endDate']} does not keep the asked span"
    added = len(after["rescheduling"]) - len(before["rescheduling"])
    assert added == 1, f"reschedule added {added} rescheduling entries"
    previous = {parse_answer_datetime(r["previouslyScheduledAt"]) for r in after["rescheduling"] if r}
    assert old_start in previous, f"no rescheduling remembers the old start {before['scheduledAt']}"
    assert updated_at(after) > updated_at(before), "updatedAt did not move forward on reschedule"


@pytest.mark.parametrize(
    "start",
    ["12/01/2027 10:00", "next tuesday", "2027-13-45 10:00:00", ""],
    ids=["us", "prose", "bad-date", "blank"],
)
def test_reschedule_wrong_format_is_refused(client: httpx.Client, ids: WorldIds, start: str) -> None:
    event = ids.active_events()[0]
    response = client.put(
        f"{API}/event/reschedule/{event['id']}",
        json={"start": start, "end": "2027-02-01 11:00:00", "eventTypeId": event["eventType"]["id"]},
    )
    error_reason(response, REFUSED, f"reschedule with start={start!r}")
    assert get_event(client, event["id"])["scheduledAt"] == event["scheduledAt"], (
        "a refused reschedule moved it"
    )


def test_reschedule_end_before_start_is_refused(client: httpx.Client, ids: WorldIds) -> None:
    event = ids.active_events()[0]
    response = client.put(
        f"{API}/event/reschedule/{event['id']}",
        json={
            "start": "2027-02-01 11:00:00",
            "end": "2027-02-01 10:00:00",
            "eventTypeId": event["eventType"]["id"],
        },
    )
    error_reason(response, REFUSED, "reschedule ending before it starts")


# -- notes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "notes",
    ["Plain note", "", 'Ünïcödé — "quoted" \\ back\nslash 日本語 🎉'],
    ids=["plain", "empty", "unicode"],
)
def test_notes_round_trip(client: httpx.Client, ids: WorldIds, notes: str) -> None:
    before = ids.active_events()[0]
    assert_empty_success(client.put(f"{API}/event/notes/{before['id']}", json={"notes": notes}), "notes")
    after = get_event(client, before["id"])
    assert after["notes"] == notes, f"notes {after['notes']!r} after writing {notes!r}"
    assert after["notes"] is not None


def test_empty_notes_stay_distinct_from_null(client: httpx.Client, ids: WorldIds) -> None:
    null_event = next(e for e in ids.events if e["notes"] is None)
    empty_event = next(e for e in ids.events if e["notes"] == "")
    client.put(f"{API}/event/notes/{ids.active_events()[0]['id']}", json={"notes": ""}).raise_for_status()
    assert get_event(client, null_event["id"])["notes"] is None, "null notes became something else"
    assert get_event(client, empty_event["id"])["notes"] == "", '"" notes became something else'


# -- participants ----------------------------------------------------------------------------------


def test_invite_participants(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    emails = ["first.guest@example.org", "zweiter.gast@example.de"]
    response = client.post(
        f"{API}/event/invite-participants/{before['id']}", json={"emails": emails, "message": "Welcome"}
    )
    assert_empty_success(response, "invite-participants")
    after = get_event(client, before["id"])
    had = {p["email"] for p in before["participants"]}
    now_there = {p["email"] for p in after["participants"]}
    assert set(emails) <= now_there, f"invited {emails}, participants now {sorted(now_there)}"
    assert had <= now_there, "inviting dropped earlier participants"
    assert len(after["participants"]) == len(before["participants"]) + 2, (
        "participants not appended once each"
    )


def test_invite_bad_email_is_refused_by_name(client: httpx.Client, ids: WorldIds) -> None:
    event = ids.active_events()[0]
    response = client.post(
        f"{API}/event/invite-participants/{event['id']}",
        json={"emails": ["ok@example.org", "not-an-email"], "message": ""},
    )
    reason = error_reason(response, REFUSED, "invite with a bad e-mail")
    assert "not-an-email" in reason, f"the refusal does not name the bad e-mail: {reason!r}"
    after = get_event(client, event["id"])
    assert len(after["participants"]) == len(event["participants"]), (
        "a refused invite still added participants"
    )


# -- no-show -------------------------------------------------------------------------------------


def test_no_show(client: httpx.Client, ids: WorldIds, now: Callable[[], dt.datetime]) -> None:
    before = ids.active_events(past=True, now=now())[0]
    assert_empty_success(client.put(f"{API}/event/no-show/{before['id']}"), "no-show")
    after = get_event(client, before["id"])
    assert after["state"] != before["state"], f"state still {after['state']!r} after no-show"
    assert updated_at(after) > updated_at(before), "updatedAt did not move forward on no-show"


def test_no_show_list(client: httpx.Client, ids: WorldIds, now: Callable[[], dt.datetime]) -> None:
    chosen = ids.active_events(past=True, now=now())[:3]
    response = client.put(f"{API}/event/no-show-list", json={"ids": [e["id"] for e in chosen]})
    assert_empty_success(response, "no-show-list")
    for before in chosen:
        after = get_event(client, before["id"])
        assert after["state"] != before["state"], f"event {before['id']}: state unchanged by no-show-list"


# -- delete --------------------------------------------------------------------------------------


def test_delete(client: httpx.Client, ids: WorldIds) -> None:
    event_id = ids.events[0]["id"]
    assert_empty_success(client.delete(f"{API}/event/{event_id}"), "delete")
    error_reason(client.get(f"{API}/event/{event_id}"), {404}, "GET a deleted event")
    listed = all_events(client)
    assert event_id not in {e["id"] for e in listed}, "a deleted event is still listed"
    assert len(listed) == len(ids.events) - 1


def test_delete_list_with_a_json_body(client: httpx.Client, ids: WorldIds) -> None:
    doomed = [e["id"] for e in ids.events[:3]]
    assert_empty_success(
        client.request("DELETE", f"{API}/event/delete-list", json={"ids": doomed}), "delete-list"
    )
    for event_id in doomed:
        error_reason(client.get(f"{API}/event/{event_id}"), {404}, f"GET deleted event {event_id}")
    assert not set(doomed) & {e["id"] for e in all_events(client)}, "deleted events are still listed"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "event/{id}"),
        ("DELETE", "event/{id}"),
        ("PUT", "event/notes/{id}"),
        ("PUT", "event/no-show/{id}"),
        ("PUT", "event/resend-notification/{id}"),
        ("GET", "event-type/{id}"),
        ("GET", "poll/{id}"),
        ("DELETE", "poll/{id}"),
        ("PUT", "user-event-type-tag/{id}"),
        ("DELETE", "user-event-type-tag/{id}"),
    ],
)
def test_unknown_id_is_404(client: httpx.Client, method: str, path: str) -> None:
    body = {"notes": "x"} if "notes" in path else {"position": 1, "name": "x", "color": "#000000"}
    url = f"{API}/{path.format(id=UNKNOWN_ID)}"
    response = client.request(method, url, json=body if method == "PUT" else None)
    error_reason(response, {404}, f"{method} {url}")


def test_resend_notification_answers_empty(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    assert_empty_success(client.put(f"{API}/event/resend-notification/{before['id']}"), "resend-notification")


# -- create and edit -------------------------------------------------------------------------------


def test_create_event(client: httpx.Client, ids: WorldIds) -> None:
    start = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)
    body = {
        "scheduledAt": php(start),
        "eventType": ids.event_type_id,
        "invitee": {
            "fullName": "Łukasz Contract",
            "email": "lukasz@example.org",
            "timezone": "Europe/Warsaw",
        },
        "name": "Kick-off",
    }
    created = json_of(client.post(f"{API}/event", json=body), "create event")
    assert_shape(created, "EventDTO", "created event")
    assert created["eventType"]["id"] == ids.event_type_id
    assert created["invitee"]["email"] == "lukasz@example.org"
    assert created["invitee"]["fullName"] == "Łukasz Contract"
    assert abs(parse_answer_datetime(created["scheduledAt"]) - start) <= dt.timedelta(hours=14)
    assert get_event(client, created["id"]) == created, (
        "GET of the created event differs from the POST answer"
    )
    assert created["id"] in {e["id"] for e in all_events(client)}, "the created event is not listed"


def test_edit_event_invitee(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    body = {"invitee": {"fullName": "Ĳsbrand Renamed", "phoneNumber": "+31 20 555 0100"}}
    assert_empty_success(client.put(f"{API}/event/{before['id']}", json=body), "edit event")
    after = get_event(client, before["id"])
    assert after["invitee"]["fullName"] == "Ĳsbrand Renamed"
    assert after["invitee"]["phoneNumber"] == "+31 20 555 0100"
    assert updated_at(after) > updated_at(before), "updatedAt did not move forward on edit"


# -- polls -----------------------------------------------------------------------------------------


def test_poll_lifecycle(client: httpx.Client, ids: WorldIds) -> None:
    body = {
        "eventTypeId": ids.event_type_id,
        "voteVisibility": True,
        "commentVisibility": True,
        "emailNotification": False,
        "duration": 45,
        "name": "Quarterly — «review»",
        "availability": [{"date": "2027-01-11 10:00:00"}, {"date": "2027-01-12 15:30:00"}],
    }
    created = json_of(client.post(f"{API}/poll", json=body), "create poll")
    assert_shape(created, "PollDTO", "created poll")
    assert created["name"] == body["name"]
    assert created["duration"] == 45
    assert len(created["availability"]) == 2, f"poll availability {created['availability']}"
    fetched = json_of(client.get(f"{API}/poll/{created['id']}"), "GET poll")
    assert fetched == created, "GET poll differs from the POST answer"
    assert created["id"] in {p["id"] for p in bare_array(client.get(f"{API}/poll/list"), "polls")}

    slot = created["availability"][0]
    result = {
        "uuid": created["uuid"],
        "availability": [slot["id"]],
        "email": "voter@example.org",
        "comment": "Yes",
    }
    assert_empty_success(client.post(f"{API}/poll/result", json=result), "poll result")
    voted = json_of(client.get(f"{API}/poll/{created['id']}"), "GET poll after vote")
    assert_shape(voted, "PollDTO", "voted poll")
    results = next(a for a in voted["availability"] if a["id"] == slot["id"])["results"]
    assert {"email": "voter@example.org", "comment": "Yes"} in [
        {"email": r["email"], "comment": r["comment"]} for r in results
    ], f"vote not recorded: {results}"

    assert_empty_success(client.delete(f"{API}/poll/{created['id']}"), "delete poll")
    error_reason(client.get(f"{API}/poll/{created['id']}"), {404}, "GET deleted poll")
    assert created["id"] not in {p["id"] for p in bare_array(client.get(f"{API}/poll/list"), "polls")}


def test_poll_result_for_unknown_poll_is_refused(client: httpx.Client) -> None:
    body = {"uuid": "00000000-0000-0000-0000-000000000000", "availability": [1], "email": "a@example.org"}
    error_reason(client.post(f"{API}/poll/result", json=body), {*REFUSED, 404}, "result for unknown poll")


# -- tags ------------------------------------------------------------------------------------------


def test_user_event_type_tag_crud(client: httpx.Client) -> None:
    created = json_of(
        client.post(f"{API}/user-event-type-tag", json={"position": 5, "name": "Ärzte", "color": "#ff8800"}),
        "create tag",
    )
    assert_shape(created, "UserEventTypeTagDTO", "created tag")
    assert (created["name"], created["color"], created["position"]) == ("Ärzte", "#ff8800", 5)
    tags = bare_array(client.get(f"{API}/user-event-type-tag/list"), "tags")
    assert created in tags, "the created tag is not listed as created"

    updated = json_of(
        client.put(
            f"{API}/user-event-type-tag/{created['id']}",
            json={"position": 6, "name": "Doctors", "color": "#0088ff"},
        ),
        "update tag",
    )
    assert_shape(updated, "UserEventTypeTagDTO", "updated tag")
    assert updated["id"] == created["id"]
    assert (updated["name"], updated["color"], updated["position"]) == ("Doctors", "#0088ff", 6)
    assert updated in bare_array(client.get(f"{API}/user-event-type-tag/list"), "tags")

    assert_empty_success(client.delete(f"{API}/user-event-type-tag/{created['id']}"), "delete tag")
    remaining = bare_array(client.get(f"{API}/user-event-type-tag/list"), "tags")
    assert created["id"] not in {t["id"] for t in remaining}, "a deleted tag is still listed"


def test_event_type_tag_attach_and_detach(client: httpx.Client, ids: WorldIds) -> None:
    created = json_of(
        client.post(f"{API}/user-event-type-tag", json={"position": 1, "name": "Fresh", "color": "#123456"}),
        "tag",
    )
    tag_list = f"{API}/event-type/{ids.event_type_id}/tag/list"
    assert created["id"] not in {t["id"] for t in bare_array(client.get(tag_list), "tags")}
    assert_empty_success(
        client.put(f"{API}/event-type/{ids.event_type_id}/tag/{created['id']}"), "attach tag"
    )
    attached = bare_array(client.get(tag_list), "tags")
    assert created["id"] in {t["id"] for t in attached}, "attached tag not in the event type's tag list"
    for i, tag in enumerate(attached):
        assert_shape(tag, "EventTypeTagDTO", f"event type tag [{i}]")
    assert_empty_success(client.delete(f"{API}/event-type/{ids.event_type_id}/tag/{created['id']}"), "detach")
    assert created["id"] not in {t["id"] for t in bare_array(client.get(tag_list), "tags")}, (
        "tag still attached"
    )


# -- cancellation policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["organization", "user"])
def test_cancellation_policy_put_then_get(client: httpx.Client, kind: str) -> None:
    url = f"{API}/{kind}-cancellation-policy"
    body = {
        "enabled": True,
        "period": 720,
        "label": "12 h «notice»",
        "text": "Cancel 12 h ahead.",
        "overwritePersonal": True,
    }
    response = client.put(url, json=body)
    assert response.is_success, f"PUT {url}: {response.status_code} {response.text[:200]}"
    policy = json_of(client.get(url), f"GET {url}")
    assert_shape(policy, "CancellationPolicyDTO", url)
    got = {k: policy[k] for k in ("enabled", "period", "label", "text")}
    assert got == {k: body[k] for k in got}, f"{url}: wrote {body}, read {policy}"
    if kind == "organization":  # "Overwrite personal cancellation policy" only means something there
        assert policy["overwrite_personal"] is True, (
            f"{url}: overwritePersonal did not come back as overwrite_personal"
        )
    assert policy["type"] == kind, f"{url}: type {policy['type']!r}, the docs say 'user' or 'organization'"


# -- what the request DTOs imply ---------------------------------------------------------------


def test_reschedule_needs_the_event_type(client: httpx.Client, ids: WorldIds) -> None:
    # The docs: "the new date and time for the event, the event type ID, and an optional user ID".
    event = ids.active_events()[0]
    response = client.put(
        f"{API}/event/reschedule/{event['id']}",
        json={"start": "2027-02-01 10:00:00", "end": "2027-02-01 11:00:00"},
    )
    error_reason(response, REFUSED, "reschedule without eventTypeId")


def test_reschedule_assigns_the_given_user(client: httpx.Client, ids: WorldIds) -> None:
    before = ids.active_events()[0]
    users = bare_array(client.get(f"{API}/user/list"), "users")
    other = next(u for u in users if u["id"] != before["user"]["id"])
    response = client.put(
        f"{API}/event/reschedule/{before['id']}",
        json={
            "start": "2027-02-02 10:00:00",
            "end": "2027-02-02 11:00:00",
            "eventTypeId": before["eventType"]["id"],
            "userId": other["id"],
        },
    )
    assert_empty_success(response, "reschedule with userId")
    after = get_event(client, before["id"])
    assert after["user"]["id"] == other["id"], (
        f"userId {other['id']} asked, event user is {after['user']['id']}"
    )
    newest = [r for r in after["rescheduling"] if r not in before["rescheduling"]]
    assert newest, "no rescheduling entry added"
    assert newest[0]["previousUser"] is not None, "rescheduling.previousUser empty after a change of user"
    assert newest[0]["previousUser"]["id"] == before["user"]["id"], "previousUser is not the former owner"


def test_invite_without_message(client: httpx.Client, ids: WorldIds) -> None:
    # The docs: "an array of participant emails and an optional message".
    event = ids.active_events()[0]
    response = client.post(
        f"{API}/event/invite-participants/{event['id']}", json={"emails": ["solo@example.org"]}
    )
    assert_empty_success(response, "invite without message")
    assert "solo@example.org" in {p["email"] for p in get_event(client, event["id"])["participants"]}


def test_cancel_list_without_reason(client: httpx.Client, ids: WorldIds) -> None:
    # The docs: "an array of event IDs to be cancelled and an optional reason".
    chosen = [e["id"] for e in ids.active_events()[:2]]
    assert_empty_success(
        client.put(f"{API}/event/cancel-list", json={"ids": chosen}), "cancel-list, no reason"
    )
    for event_id in chosen:
        assert get_event(client, event_id)["canceledAt"] is not None


def test_create_event_with_wrong_date_format_is_refused(client: httpx.Client, ids: WorldIds) -> None:
    body = {
        "scheduledAt": "01.03.2027 09:30",
        "eventType": ids.event_type_id,
        "invitee": {"fullName": "A", "email": "a@example.org"},
    }
    error_reason(client.post(f"{API}/event", json=body), REFUSED, "create with a non Y-m-d H:i:s date")


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "-1"])
def test_non_integer_event_id(client: httpx.Client, bad_id: str) -> None:
    response = client.get(f"{API}/event/{bad_id}")
    error_reason(response, {400, 404, 422}, f"GET event/{bad_id}")


def test_cancel_moves_the_event_to_the_front_of_updated_at_desc(client: httpx.Client, ids: WorldIds) -> None:
    target = ids.active_events()[-1]
    client.put(f"{API}/event/cancel/{target['id']}", json={"reason": "late"}).raise_for_status()
    first = client.get(
        f"{API}/event/list",
        params={"page": 1, "onPage": 1, "orderField": "updatedAt", "orderDirection": "desc"},
    ).json()["items"][0]
    assert first["id"] == target["id"], "the event changed last is not first by updatedAt desc"


def test_created_poll_keeps_its_dates(client: httpx.Client, ids: WorldIds) -> None:
    body = {
        "eventTypeId": ids.event_type_id,
        "voteVisibility": False,
        "commentVisibility": False,
        "emailNotification": True,
        "duration": 30,
        "name": "Dates",
        "availability": [{"date": "2027-01-11 10:00:00"}],
    }
    created = json_of(client.post(f"{API}/poll", json=body), "create poll")
    got = parse_answer_datetime(created["availability"][0]["date"])
    assert abs(got - dt.datetime(2027, 1, 11, 10, tzinfo=dt.UTC)) <= dt.timedelta(hours=14), got
    assert created["eventType"] is not None, "created poll has no eventType"
    assert created["eventType"]["id"] == ids.event_type_id, "created poll's eventType is not the one asked"


def test_current_user_is_in_the_user_list(client: httpx.Client) -> None:
    me = json_of(client.get(f"{API}/user/current"), "current user")
    assert me["id"] in {u["id"] for u in bare_array(client.get(f"{API}/user/list"), "users")}


def test_availability_dates_stay_in_the_asked_range(client: httpx.Client, ids: WorldIds) -> None:
    params = {"startDate": "2027-01-04", "endDate": "2027-01-10", "timezone": "UTC"}
    days = bare_array(client.get(f"{API}/event-type/availability/{ids.event_type_id}", params=params), "days")
    assert days, "no availability days for a week in the future"
    for day in days:
        assert "2027-01-04" <= day["date"][:10] <= "2027-01-10", (
            f"availability date {day['date']} out of range"
        )


def test_edit_event_ignores_the_body_id(client: httpx.Client, ids: WorldIds) -> None:
    # The docs: EditEventRequestDTO.id "Event id. Ignore this field." The path says which event.
    target, bystander = ids.active_events()[:2]
    body = {"id": bystander["id"], "invitee": {"fullName": "Path Wins", "phoneNumber": None}}
    assert_empty_success(client.put(f"{API}/event/{target['id']}", json=body), "edit with a body id")
    assert get_event(client, target["id"])["invitee"]["fullName"] == "Path Wins"
    assert get_event(client, bystander["id"]) == bystander, "the event named by the ignored body id changed"


def test_edit_event_answers(client: httpx.Client, ids: WorldIds) -> None:
    before = next(e for e in ids.active_events() if e["answers"])
    answer = before["answers"][0]
    body = {"answers": [{"id": answer["id"], "value": "Geändert"}]}
    assert_empty_success(client.put(f"{API}/event/{before['id']}", json=body), "edit answers")
    after = get_event(client, before["id"])
    changed = next(a for a in after["answers"] if a["id"] == answer["id"])
    assert changed["value"] == "Geändert", f"answer {answer['id']} is {changed['value']!r}"
    untouched = [a for a in after["answers"] if a["id"] != answer["id"]]
    assert untouched == [a for a in before["answers"] if a["id"] != answer["id"]], "other answers changed"


def test_create_event_with_everything(client: httpx.Client) -> None:
    _, types = envelope(
        client.get(f"{API}/event-type/list", params={"page": 1, "onPage": 100}), "event types"
    )
    flexible = next(t for t in types if t["eventTypeDurations"] and t["questions"])
    duration = flexible["eventTypeDurations"][-1]
    question = flexible["questions"][0]
    body = {
        "scheduledAt": "2027-03-02 14:00:00",
        "eventType": flexible["id"],
        "invitee": {
            "fullName": "Ørjan O'Brien",
            "email": "orjan@example.org",
            "timezone": "Europe/Oslo",
            "locale": "nb",
            "phoneNumber": "+47 22 00 00 00",
        },
        "durationId": duration["id"],
        "answers": [{"question": question["uuid"], "value": "Oslo"}],
        "participants": [{"email": "colleague@example.org"}],
        "locationType": "custom",
        "location": "Karl Johans gate 1",
        "name": "Custom name",
        "description": 'Custom "description" \\ here',
    }
    created = json_of(client.post(f"{API}/event", json=body), "create event")
    assert_shape(created, "EventDTO", "created event")
    assert created["duration"] == duration["duration"], (
        f"durationId {duration} gave duration {created['duration']}"
    )
    span = parse_answer_datetime(created["endDate"]) - parse_answer_datetime(created["scheduledAt"])
    assert span == dt.timedelta(minutes=duration["duration"]), f"endDate - scheduledAt = {span}"
    assert [(a["questionUuid"], a["value"]) for a in created["answers"]] == [(question["uuid"], "Oslo")]
    assert [p["email"] for p in created["participants"]] == ["colleague@example.org"]
    assert (created["locationType"], created["location"]) == ("custom", "Karl Johans gate 1")
    assert (created["name"], created["description"]) == (body["name"], body["description"])
    assert created["invitee"]["fullName"] == "Ørjan O'Brien"
    assert created["invitee"]["phoneNumber"] == "+47 22 00 00 00"
    assert created["canceledAt"] is None
    assert created["cancellation"] is None


def test_invalid_json_body_is_refused(client: httpx.Client, ids: WorldIds) -> None:
    event_id = ids.active_events()[0]["id"]
    response = client.put(
        f"{API}/event/cancel/{event_id}", content=b'{"reason": ', headers={"Content-Type": "application/json"}
    )
    error_reason(response, REFUSED, "cancel with a broken JSON body")
    assert get_event(client, event_id)["canceledAt"] is None


def test_writes_follow_the_sandbox_clock(client: httpx.Client, ids: WorldIds, sandbox: Sandbox) -> None:
    target = ids.active_events()[0]
    start = sandbox.clock()
    client.put(f"{API}/event/cancel/{target['id']}", json={"reason": "clock"}).raise_for_status()
    end = sandbox.clock()
    after = get_event(client, target["id"])
    for name in ("canceledAt", "updatedAt"):
        stamp = parse_answer_datetime(after[name])
        assert start - dt.timedelta(seconds=1) <= stamp <= end, (
            f"{name} {after[name]} not from the clock ({start})"
        )


def test_writes_on_a_deleted_event_are_404(client: httpx.Client, ids: WorldIds) -> None:
    event_id = ids.active_events()[0]["id"]
    client.delete(f"{API}/event/{event_id}").raise_for_status()
    error_reason(client.put(f"{API}/event/cancel/{event_id}", json={"reason": "x"}), {404}, "cancel deleted")
    error_reason(client.put(f"{API}/event/notes/{event_id}", json={"notes": "x"}), {404}, "notes on deleted")
    error_reason(client.delete(f"{API}/event/{event_id}"), {404}, "delete twice")


def test_state_filter_sees_a_fresh_cancel(client: httpx.Client, ids: WorldIds) -> None:
    target = ids.active_events()[0]
    client.put(f"{API}/event/cancel/{target['id']}", json={"reason": "x"}).raise_for_status()
    state = get_event(client, target["id"])["state"]
    listed = all_events(client, **{"filter[state]": state})
    assert target["id"] in {e["id"] for e in listed}, f"filter[state]={state} misses the event just cancelled"
