from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import stamina
from structlog.testing import capture_logs

from syncd.api import (
    ApiAuthError,
    ApiClient,
    ApiClientError,
    ApiError,
    ApiKeyRefused,
    ApiNotFound,
    ApiTransientError,
)
from tests.unit.api.mock_api import BASE_URL, CANARY_KEY, Recorder, sequence

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]
EMPTY = httpx.Response(200)
UNAVAILABLE = httpx.Response(503, json={"message": "maintenance"})


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


# -- every kind of endpoint: verb, path, body, query --------------------------------------------


def _call(endpoint: str, body: Any = None, **path_params: int) -> Callable[[ApiClient], object]:
    return lambda c: c.call(endpoint, path_params=path_params or None, body=body)


WRITES: list[tuple[str, Callable[[ApiClient], object], str, str, Any]] = [
    ("cancel", _call("event.cancel", {"reason": "ill"}, id=5), "PUT", "/panel/api/event/cancel/5", {"reason": "ill"}),
    ("cancel_list", _call("event.cancel_list", {"ids": [1, 2], "reason": "x"}), "PUT",
     "/panel/api/event/cancel-list", {"ids": [1, 2], "reason": "x"}),
    ("reschedule", _call("event.reschedule", {"start": "2026-12-01 10:00:00"}, id=5), "PUT",
     "/panel/api/event/reschedule/5", {"start": "2026-12-01 10:00:00"}),
    ("notes", _call("event.notes", {"notes": "n"}, id=5), "PUT", "/panel/api/event/notes/5", {"notes": "n"}),
    ("invite", _call("event.invite", {"emails": ["a@x.io"]}, id=5), "POST",
     "/panel/api/event/invite-participants/5", {"emails": ["a@x.io"]}),
    ("no_show", _call("event.no_show", id=5), "PUT", "/panel/api/event/no-show/5", None),
    ("no_show_list", _call("event.no_show_list", {"ids": [1]}), "PUT", "/panel/api/event/no-show-list", {"ids": [1]}),
    ("delete", _call("event.delete", id=5), "DELETE", "/panel/api/event/5", None),
    ("delete_list", _call("event.delete_list", {"ids": [1, 2]}), "DELETE", "/panel/api/event/delete-list",
     {"ids": [1, 2]}),
    ("resend", _call("event.resend_notification", id=5), "PUT", "/panel/api/event/resend-notification/5", None),
    ("edit", _call("event.edit", {"invitee": {"fullName": "A"}}, id=5), "PUT", "/panel/api/event/5",
     {"invitee": {"fullName": "A"}}),
    ("tag_add", _call("event_type.tag_add", eventTypeId=3, tagId=4), "PUT", "/panel/api/event-type/3/tag/4", None),
    ("tag_remove", _call("event_type.tag_remove", eventTypeId=3, tagId=4), "DELETE",
     "/panel/api/event-type/3/tag/4", None),
    ("poll_delete", _call("poll.delete", id=8), "DELETE", "/panel/api/poll/8", None),
    ("poll_result", _call("poll.result", {"uuid": "u", "availability": [1]}), "POST",
     "/panel/api/poll/result", {"uuid": "u", "availability": [1]}),
    ("tag_delete", _call("user_event_type_tag.delete", id=9), "DELETE", "/panel/api/user-event-type-tag/9", None),
    ("availability_rule", _call("availability_rule.save", {"eventTypeIds": [1]}), "PUT",
     "/panel/api/availability-rule", {"eventTypeIds": [1]}),
]  # fmt: skip

OBJECT_CALLS: list[tuple[str, Callable[[ApiClient], object], str, str, Any]] = [
    ("get_event", _call("event.get", id=5), "GET", "/panel/api/event/5", None),
    ("create_event", _call("event.create", {"eventType": 1}), "POST", "/panel/api/event", {"eventType": 1}),
    ("get_event_type", _call("event_type.get", id=3), "GET", "/panel/api/event-type/3", None),
    ("single_use_link", _call("event_type.single_use_link", id=3), "POST",
     "/panel/api/event-type/single-use-link/3", None),
    ("get_poll", _call("poll.get", id=8), "GET", "/panel/api/poll/8", None),
    ("create_poll", _call("poll.create", {"name": "p"}), "POST", "/panel/api/poll", {"name": "p"}),
    ("current_user", lambda c: c.current_user(), "GET", "/panel/api/user/current", None),
    ("create_tag", _call("user_event_type_tag.create", {"name": "t"}), "POST",
     "/panel/api/user-event-type-tag", {"name": "t"}),
    ("update_tag", _call("user_event_type_tag.update", {"name": "t"}, id=9), "PUT",
     "/panel/api/user-event-type-tag/9", {"name": "t"}),
    ("integrations", _call("integration.list"), "GET", "/panel/api/integration/list", None),
    ("org_policy", _call("cancellation_policy.organization"), "GET",
     "/panel/api/organization-cancellation-policy", None),
    ("user_policy", _call("cancellation_policy.user"), "GET", "/panel/api/user-cancellation-policy", None),
    ("update_policy", _call("cancellation_policy.user_update", {"enabled": True}), "PUT",
     "/panel/api/user-cancellation-policy", {"enabled": True}),
]  # fmt: skip

LIST_CALLS: list[tuple[str, Callable[[ApiClient], object], str]] = [
    ("list_users", _call("user.list"), "/panel/api/user/list"),
    ("user_tags", _call("user_event_type_tag.list"), "/panel/api/user-event-type-tag/list"),
    ("acl", _call("acl.list"), "/panel/api/acl"),
    ("event_type_tags", _call("event_type.tags", eventTypeId=3), "/panel/api/event-type/3/tag/list"),
    ("availability", _call("event_type.availability", id=3), "/panel/api/event-type/availability/3"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "call", "method", "path", "body"), WRITES, ids=[w[0] for w in WRITES])
def test_writes_send_the_documented_request(
    make_client: MakeClient, name: str, call: Callable[[ApiClient], object], method: str, path: str, body: Any
) -> None:
    client, calls = make_client(lambda r: EMPTY)
    assert call(client) is None
    request = calls.requests[0]
    assert (request.method, request.url.path) == (method, path)
    assert calls.body() == body
    if body is not None:
        assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("name", "call", "method", "path", "body"), OBJECT_CALLS, ids=[o[0] for o in OBJECT_CALLS]
)
def test_object_calls_return_the_decoded_object(
    make_client: MakeClient, name: str, call: Callable[[ApiClient], object], method: str, path: str, body: Any
) -> None:
    client, calls = make_client(lambda r: ok({"id": 1, "nested": {"a": [1]}}))
    assert call(client) == {"id": 1, "nested": {"a": [1]}}
    assert (calls.requests[0].method, calls.requests[0].url.path) == (method, path)
    assert calls.body() == body


@pytest.mark.parametrize("shape", ["array", "envelope"])
@pytest.mark.parametrize(("name", "call", "path"), LIST_CALLS, ids=[c[0] for c in LIST_CALLS])
def test_list_calls_accept_both_shapes(
    make_client: MakeClient, name: str, call: Callable[[ApiClient], object], path: str, shape: str
) -> None:
    items = [{"id": 1}, {"id": 2}]
    answer = items if shape == "array" else {"meta": {"pagesCount": 1}, "items": items}
    client, calls = make_client(lambda r: ok(answer))
    assert call(client) == answer
    assert calls.requests[0].method == "GET"
    assert calls.paths == [path]


def test_a_query_is_encoded_as_the_backend_reads_it(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: ok([]))
    query = {
        "startDate": dt.date(2026, 1, 1),
        "endDate": "2026-01-07",
        "timezone": "Europe/Berlin",
        "durationId": 4,
    }
    client.call("event_type.availability", path_params={"id": 3}, query=query)
    assert calls.requests[0].url.params.multi_items() == [
        ("startDate", "2026-01-01"),
        ("endDate", "2026-01-07"),
        ("timezone", "Europe/Berlin"),
        ("durationId", "4"),
    ]


def test_every_request_carries_key_agent_and_accept(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: ok({}), user_agent="syncd-test/1")
    client.current_user()
    headers = calls.requests[0].headers
    assert headers["X-API-KEY"] == CANARY_KEY
    assert headers["User-Agent"] == "syncd-test/1"
    assert headers["Accept"] == "application/json"
    assert str(calls.requests[0].url) == f"{BASE_URL}/panel/api/user/current"


def test_timeouts_are_explicit_for_every_phase(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: ok({}), timeout=12.0)
    client.current_user()
    assert calls.requests[0].extensions["timeout"] == {
        "connect": 10.0,
        "read": 12.0,
        "write": 12.0,
        "pool": 12.0,
    }


@pytest.mark.parametrize("bad_id", [0, -1, True])
def test_bad_ids_are_refused_before_sending(make_client: MakeClient, bad_id: int) -> None:
    client, calls = make_client(lambda r: ok({}))
    with pytest.raises(ValueError, match="not a valid id"):
        client.call("event.get", path_params={"id": bad_id})
    assert calls.requests == []


def test_unknown_endpoint_and_missing_path_parameters(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: ok({}))
    with pytest.raises(ValueError, match="unknown endpoint 'nope'"):
        client.call("nope")
    with pytest.raises(ValueError, match=r"'event.get' takes path parameters \['id'\], got \[\]"):
        client.call("event.get")
    assert calls.requests == []


def test_context_manager_closes(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: ok({}))
    with client as entered:
        assert entered is client
    with pytest.raises(RuntimeError):
        client.current_user()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"base_url": "api.test"}, "http"),
    ({"api_key": ""}, "api_key"),
    ({"max_attempts": 0}, "max_attempts"),
])  # fmt: skip
def test_constructor_refuses_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"base_url": BASE_URL, "api_key": CANARY_KEY} | kwargs
    with pytest.raises(ValueError, match=match):
        ApiClient(**args)


# -- answers ------------------------------------------------------------------------------------


def test_empty_answer_endpoints_ignore_the_body(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: httpx.Response(200, content=b"not json"))
    client.call("event.cancel", path_params={"id": 5}, body={"reason": "x"})  # no error: the body is not read


@pytest.mark.parametrize("content", [b"", b"{not json", b"<html>oops</html>", b"\xff\xfe"])
def test_unreadable_2xx_is_transient_and_retried_on_reads(make_client: MakeClient, content: bytes) -> None:
    client, calls = make_client(sequence(httpx.Response(200, content=content), ok({"id": 5})))
    assert client.call("event.get", path_params={"id": 5}) == {"id": 5}
    assert len(calls.requests) == 2


def test_unreadable_2xx_on_a_write_is_in_doubt(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: httpx.Response(201, content=b"{trunc"))
    with pytest.raises(ApiTransientError, match="not valid JSON") as caught:
        client.call("event.create", body={"eventType": 1})
    assert caught.value.in_doubt
    assert caught.value.status == 201
    assert len(calls.requests) == 1


@pytest.mark.parametrize(("call", "answer", "match"), [
    (lambda c: c.call("event.get", path_params={"id": 5}), [1, 2], "expected a JSON object, got an array"),
    (lambda c: c.call("user.list"), {"user": []}, "without an items list"),
    (lambda c: c.call("user.list"), [1, 2], "list of objects, got an array"),
    (lambda c: c.call("user.list"), "text", "expected a list of objects, got a string"),
])  # fmt: skip
def test_wrong_shape_is_an_error(
    make_client: MakeClient, call: Callable[[ApiClient], object], answer: Any, match: str
) -> None:
    client, _ = make_client(lambda r: ok(answer), max_attempts=1)
    with pytest.raises(ApiTransientError, match=match):
        call(client)


def test_wrong_list_shape_is_retried_on_reads(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(ok({"oops": 1}), ok([{"id": 1}])))
    assert client.call("acl.list") == [{"id": 1}]
    assert len(calls.requests) == 2


def test_paging_an_object_endpoint_is_refused(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: ok({}))
    with pytest.raises(ValueError, match=r"'event\.get' is not a list endpoint"):
        client.get_page("event.get")
    assert calls.requests == []


# -- error mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (400, ApiClientError), (401, ApiKeyRefused), (403, ApiAuthError), (404, ApiNotFound), (405, ApiClientError),
    (408, ApiTransientError), (409, ApiTransientError), (410, ApiClientError), (422, ApiClientError),
    (429, ApiTransientError), (500, ApiTransientError), (502, ApiTransientError), (503, ApiTransientError),
    (302, ApiError),
])  # fmt: skip
def test_status_maps_to_error_class(make_client: MakeClient, status: int, kind: type[ApiError]) -> None:
    client, _ = make_client(lambda r: httpx.Response(status, json={"message": "why"}), max_attempts=1)
    with pytest.raises(kind) as caught:
        client.call("event.get", path_params={"id": 5})
    error = caught.value
    assert type(error) is kind
    assert (error.status, error.endpoint, error.method, error.path) == (
        status,
        "event.get",
        "GET",
        "/panel/api/event/5",
    )
    assert error.retryable is (kind is ApiTransientError)


@pytest.mark.parametrize(("body", "message"), [
    ({"message": "Event not found"}, "Event not found"),
    ({"error": "invalid_reason"}, "invalid_reason"),
    ({"error": {"message": "nested reason", "code": 7}}, "nested reason"),
    ({"error": {"code": 7}}, '{"code": 7}'),
    ({"message": "", "error": "second choice"}, "second choice"),
    ({"detail": "x"}, '{"detail":"x"}'),  # the body as sent
])  # fmt: skip
def test_message_comes_from_json_message_or_error(make_client: MakeClient, body: Any, message: str) -> None:
    client, _ = make_client(lambda r: httpx.Response(400, json=body))
    with pytest.raises(ApiClientError) as caught:
        client.call("event.get", path_params={"id": 5})
    assert caught.value.message == message
    assert str(caught.value) == f"GET /panel/api/event/5 (event.get): HTTP 400: {message}"


def test_message_from_a_text_body_is_a_short_single_line(make_client: MakeClient) -> None:
    body = "Bad\r\nRequest\n" + "x" * 1000
    client, _ = make_client(lambda r: httpx.Response(400, text=body))
    with pytest.raises(ApiClientError) as caught:
        client.call("event.get", path_params={"id": 5})
    assert len(caught.value.message) <= 200
    assert caught.value.message.startswith("Bad Request xxx")
    assert "\n" not in str(caught.value)
    assert "\r" not in str(caught.value)


def test_empty_error_body_falls_back_to_the_reason_phrase(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: httpx.Response(404))
    with pytest.raises(ApiNotFound, match="Not Found"):
        client.call("event.get", path_params={"id": 5})


# -- retries ------------------------------------------------------------------------------------


def test_reads_retry_on_503_then_succeed(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(UNAVAILABLE, UNAVAILABLE, ok({"id": 5})))
    with capture_logs() as logs:
        assert client.call("event.get", path_params={"id": 5}) == {"id": 5}
    assert len(calls.requests) == 3
    retries = [e for e in logs if e["event"] == "api.retry"]
    assert [(e["attempt"], e["status"], e["log_level"]) for e in retries] == [
        (1, 503, "warning"),
        (2, 503, "warning"),
    ]
    assert retries[0]["reason"] == "maintenance"


def test_reads_give_up_after_max_attempts(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: httpx.Response(503), max_attempts=3)
    with capture_logs() as logs, pytest.raises(ApiTransientError) as caught:
        client.call("user.list")
    assert caught.value.status == 503
    assert len(calls.requests) == 3
    assert (
        len([e for e in logs if e["event"] == "api.retry"]) == 2
    )  # no retry announced after the last attempt


def test_429_with_retry_after_is_retried(make_client: MakeClient) -> None:
    limited = httpx.Response(429, headers={"Retry-After": "2"}, json={"error": "slow down"})
    client, calls = make_client(sequence(limited, ok([{"id": 1}])))
    with capture_logs() as logs:
        assert client.call("user.list") == [{"id": 1}]
    assert len(calls.requests) == 2
    assert [e["retry_after"] for e in logs if e["event"] == "api.retry"] == [2.0]


def test_waits_follow_retry_after_in_seconds_and_as_a_date(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real waiting this once (stamina's test mode zeroes all waits), with sleep recorded instead.
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    soon = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    client, calls = make_client(
        sequence(
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(503, headers={"Retry-After": soon}),
            httpx.Response(429, headers={"Retry-After": "86400"}),
            httpx.Response(503),
            ok({"id": 1}),
        )
    )
    with stamina.set_testing(False):
        assert client.call("event.get", path_params={"id": 1}) == {"id": 1}
    assert len(calls.requests) == 5
    assert slept[0] == 3.0
    assert 25.0 < slept[1] <= 30.0
    assert slept[2] == 60.0  # capped
    assert 0.0 < slept[3] <= 30.0  # no Retry-After: jittered exponential backoff


def test_no_retry_on_permanent_errors(make_client: MakeClient) -> None:
    for status, kind in [(400, ApiClientError), (404, ApiNotFound), (401, ApiAuthError)]:
        client, calls = make_client(lambda r, s=status: httpx.Response(s))
        with pytest.raises(kind):
            client.call("event.get", path_params={"id": 5})
        assert len(calls.requests) == 1


def test_writes_do_not_retry_by_default(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(UNAVAILABLE, EMPTY))
    with capture_logs() as logs, pytest.raises(ApiTransientError) as caught:
        client.call("event.cancel", path_params={"id": 5}, body={"reason": "x"})
    assert len(calls.requests) == 1
    assert caught.value.in_doubt  # a 5xx may come after the server acted
    assert not [e for e in logs if e["event"] == "api.retry"]


def test_writes_retry_when_asked(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(UNAVAILABLE, EMPTY))
    client.call("event.cancel", path_params={"id": 5}, body={"reason": "x"}, retry=True)
    assert len(calls.requests) == 2


def test_reads_can_opt_out_of_retries(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(UNAVAILABLE, ok({})))
    with pytest.raises(ApiTransientError):
        client.call("user.current", retry=False)
    assert len(calls.requests) == 1


def test_rate_limited_write_is_not_in_doubt(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: httpx.Response(429))
    with pytest.raises(ApiTransientError) as caught:
        client.call("event.notes", path_params={"id": 5}, body={"notes": "n"})
    assert not caught.value.in_doubt


@pytest.mark.parametrize(("error", "in_doubt"), [
    (httpx.ConnectError("refused"), False),
    (httpx.ConnectTimeout("slow"), False),
    (httpx.ReadTimeout("slow"), True),
    (httpx.RemoteProtocolError("peer closed connection without sending complete message body"), True),
    (httpx.ReadError("reset"), True),
])  # fmt: skip
def test_network_errors_are_transient(make_client: MakeClient, error: Exception, in_doubt: bool) -> None:
    client, calls = make_client(sequence(error, ok({"id": 5})))
    assert client.call("event.get", path_params={"id": 5}) == {"id": 5}
    assert len(calls.requests) == 2

    client, calls = make_client(sequence(error, EMPTY))
    with pytest.raises(ApiTransientError) as caught:
        client.call("event.no_show", path_params={"id": 5})
    assert caught.value.status is None
    assert caught.value.in_doubt is in_doubt
    assert type(error).__name__ in caught.value.message
    assert caught.value.__cause__ is error


# -- secrets ------------------------------------------------------------------------------------


def test_key_never_reaches_messages_reprs_or_logs(make_client: MakeClient) -> None:
    echo = f"invalid key {CANARY_KEY}, headers: X-API-KEY: {CANARY_KEY}"
    client, _ = make_client(
        sequence(
            httpx.Response(503, text=echo),
            httpx.ConnectError(f"could not reach with {CANARY_KEY}"),
            httpx.Response(401, json={"message": echo}),
        )
    )
    with capture_logs() as logs, pytest.raises(ApiAuthError) as caught:
        client.call("event.get", path_params={"id": 5})
    error = caught.value
    seen = [str(error), repr(error), error.message, repr(client), repr(logs), *map(str, error.args)]
    for text in seen:
        assert CANARY_KEY not in text
    assert "[REDACTED]" in error.message


def test_key_is_not_in_a_transient_error_either(make_client: MakeClient) -> None:
    client, _ = make_client(
        lambda r: httpx.Response(500, json={"error": f"key={CANARY_KEY}"}), max_attempts=2
    )
    with capture_logs() as logs, pytest.raises(ApiTransientError) as caught:
        client.current_user()
    assert CANARY_KEY not in repr(caught.value)
    assert CANARY_KEY not in str(caught.value)
    assert CANARY_KEY not in repr(logs)


# -- observability ------------------------------------------------------------------------------


def test_request_log_and_response_hook(make_client: MakeClient) -> None:
    seen: list[tuple[str, int | None, float, int]] = []
    client, _ = make_client(
        sequence(httpx.ConnectError("x"), ok({"id": 5})), on_response=lambda *a: seen.append(a)
    )
    with capture_logs() as logs:
        client.call("event.get", path_params={"id": 5})
    requests = [e for e in logs if e["event"] == "api.request"]
    assert [(e["status"], e["attempt"], e["log_level"]) for e in requests] == [
        (None, 1, "debug"),
        (200, 2, "debug"),
    ]
    assert requests[1]["path"] == "/panel/api/event/{id}"
    assert requests[1]["method"] == "GET"
    assert requests[1]["endpoint"] == "event.get"
    assert isinstance(requests[1]["duration_ms"], float)
    assert [(name, status, attempt) for name, status, _, attempt in seen] == [
        ("event.get", None, 1),
        ("event.get", 200, 2),
    ]
    assert all(duration >= 0 for _, _, duration, _ in seen)


def test_a_failing_hook_does_not_fail_the_call(make_client: MakeClient) -> None:
    def hook(name: str, status: int | None, duration: float, attempt: int) -> None:
        raise RuntimeError("metrics down")

    client, calls = make_client(lambda r: EMPTY, on_response=hook)
    with capture_logs() as logs:
        client.call("event.cancel", path_params={"id": 5}, body={"reason": "x"})
    assert len(calls.requests) == 1
    assert any(e["event"] == "api.on_response_failed" for e in logs)


def test_errors_have_useful_reprs() -> None:
    error = ApiNotFound(404, "gone", "event.get", "GET", "/panel/api/event/5")
    assert repr(error) == (
        "ApiNotFound(status=404, message='gone', endpoint='event.get', method='GET', "
        "path='/panel/api/event/5', in_doubt=False)"
    )
    assert json.dumps(error.args) == '["GET /panel/api/event/5 (event.get): HTTP 404: gone"]'
