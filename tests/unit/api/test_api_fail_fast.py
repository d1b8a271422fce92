"""An API that cannot be reached or refuses the key: told apart, named in a few words, and given up on
quickly in one-shot mode (`unreachable_budget_s`), while the daemon's client keeps trying."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from syncd.api import ApiAuthError, ApiClient, ApiKeyRefused, ApiTransientError, ApiUnreachable
from tests.unit.api.mock_api import Recorder, sequence

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]

REFUSED = httpx.ConnectError("[Errno 111] Connection refused")
USERS = httpx.Response(200, json=[{"id": 1}])
NO_KEY = httpx.Response(401, json={"message": "missing or invalid X-API-KEY header"})


@pytest.mark.parametrize(("error", "reason"), [
    (REFUSED, "connection refused"),
    (httpx.ConnectError("[Errno -2] Name or service not known"), "name or service not known"),
    (
        httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                           "certificate (_ssl.c:1006)"),
        "TLS: certificate verify failed: self-signed certificate",
    ),
    (httpx.ConnectTimeout(""), "no answer to the connect (timed out)"),
    (httpx.ConnectError(""), "connection failed"),
])  # fmt: skip
def test_no_connection_is_unreachable_with_a_short_reason(
    make_client: MakeClient, error: Exception, reason: str
) -> None:
    client, calls = make_client(sequence(error), max_attempts=3)
    with pytest.raises(ApiUnreachable) as caught:
        client.call("user.list")
    assert caught.value.reason == reason
    assert isinstance(caught.value, ApiTransientError)  # the daemon and the replay retry it as before
    assert not caught.value.in_doubt
    assert len(calls.requests) == 3
    assert client.problem == f"api unreachable: {reason}"


def test_other_network_errors_are_not_unreachable(make_client: MakeClient) -> None:
    client, _ = make_client(sequence(httpx.ReadTimeout("slow")), max_attempts=2)
    with pytest.raises(ApiTransientError) as caught:
        client.call("user.list")
    assert not isinstance(caught.value, ApiUnreachable)
    assert client.problem is None


def test_a_401_is_a_refused_key_not_retried_and_403_is_not(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(NO_KEY), max_attempts=5)
    with pytest.raises(ApiKeyRefused):
        client.call("user.list")
    assert len(calls.requests) == 1
    assert client.problem == "the API refused the key (HTTP 401 on GET /panel/api/user/list)"

    client, _ = make_client(sequence(httpx.Response(403, json={"message": "plan"})))
    with pytest.raises(ApiAuthError) as caught:
        client.call("user.list")
    assert not isinstance(caught.value, ApiKeyRefused)
    assert client.problem is None


def test_the_problem_clears_with_the_next_answer(make_client: MakeClient) -> None:
    client, _ = make_client(sequence(REFUSED, NO_KEY, USERS), max_attempts=1)
    with pytest.raises(ApiUnreachable):
        client.call("user.list")
    assert (client.problem or "").startswith("api unreachable")
    with pytest.raises(ApiKeyRefused):
        client.call("user.list")
    assert (client.problem or "").startswith("the API refused the key")
    assert client.call("user.list") == [{"id": 1}]
    assert client.problem is None


def test_one_shot_gives_up_within_its_budget(make_client: MakeClient) -> None:
    def slow_refusal(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        raise REFUSED

    client, calls = make_client(slow_refusal, max_attempts=100, unreachable_budget_s=0.4)
    started = time.monotonic()
    with pytest.raises(ApiUnreachable):
        client.call("user.list")
    assert time.monotonic() - started < 1.0
    assert 2 <= len(calls.requests) < 20


def test_one_shot_bounds_each_connect_by_the_budget_left(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(USERS), unreachable_budget_s=2.0)
    client.call("user.list")
    timeouts = calls.requests[0].extensions["timeout"]
    assert 0 < timeouts["connect"] <= 2.0
    assert timeouts["read"] == 30.0  # only the connect is bounded by the budget


@pytest.mark.parametrize(("first", "kind"), [(REFUSED, ApiUnreachable), (NO_KEY, ApiKeyRefused)])
def test_one_shot_fails_the_next_calls_unsent(
    make_client: MakeClient, first: httpx.Response | Exception, kind: type[Exception]
) -> None:
    client, calls = make_client(sequence(first, USERS), max_attempts=1, unreachable_budget_s=5.0)
    with pytest.raises(kind):
        client.call("user.list")
    with pytest.raises(kind) as caught:
        client.call("event.get", path_params={"id": 5})
    assert len(calls.requests) == 1  # the second call never left
    assert caught.value.endpoint == "event.get"


def test_the_daemon_client_tries_every_call(make_client: MakeClient) -> None:
    client, calls = make_client(sequence(REFUSED, USERS), max_attempts=1)
    with pytest.raises(ApiUnreachable):
        client.call("user.list")
    assert client.call("user.list") == [{"id": 1}]
    assert len(calls.requests) == 2
