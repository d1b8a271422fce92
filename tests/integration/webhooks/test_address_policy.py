"""The webhook address policy at connect time, against a real migrated database and a real receiver on
127.0.0.1: a refused address is recorded as a failed attempt (and retried), and the receiver is never
reached. Only loopback is ever connected to: names resolve through the system resolver (numeric
forms and `localhost`, answered without DNS) or through the policy's resolver seam."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine

from syncd.netpolicy import AddressPolicy, IPAddress, check_target, resolve
from syncd.webhooks import WebhookOptions, deliver_due, send_test, webhook_client
from tests.integration.webhooks.conftest import FAST, LOOPBACK, add_change, attempts, row, subscribe
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration

ANY = "0.0.0.0"  # noqa: S104  # a target under test: nothing binds to it

# Every way of writing "this host" that must not get past the default policy.
LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "127.1",
    "2130706433",
    "0x7f.1",
    "017700000001",
    "[::ffff:127.0.0.1]",
]


def _url(receiver: Receiver, host: str) -> str:
    return f"http://{host}:{urlsplit(receiver.url).port}/hook"


@pytest.fixture
def strict() -> Iterator[httpx.Client]:
    """The default policy: public addresses only."""
    with webhook_client(WebhookOptions(timeout_s=5.0)) as http:
        yield http


@pytest.mark.parametrize("host", [*LOOPBACK_FORMS, "[::1]", ANY])
def test_loopback_in_any_spelling_is_refused_at_connect_time_and_never_reached(
    engine: Engine, strict: httpx.Client, receiver: Receiver, host: str
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, _url(receiver, host))
    summary = deliver_due(engine, strict, WebhookOptions())
    assert (summary.delivered, summary.failed) == (0, 1)
    assert receiver.received == []
    failing = row(engine, subscription_id)
    kind = "unspecified" if host == ANY else "loopback"
    assert f"is {kind}: refused by webhook policy" in failing["last_error"]
    assert failing["cursor_id"] == 0  # kept: the change is retried after the usual backoff
    assert failing["attempts"] == 1
    assert failing["next_attempt_at"] > failing["failing_since"]
    [attempt] = attempts(engine, subscription_id)
    assert (attempt["outcome"], attempt["status_code"]) == ("failed", None)
    assert attempt["error"].startswith("ConnectError: ")


@pytest.mark.parametrize("host", LOOPBACK_FORMS[:-1])
def test_the_numeric_spellings_are_the_loopback_address_an_operator_may_allow(
    engine: Engine, client: httpx.Client, receiver: Receiver, host: str
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, _url(receiver, host))
    assert deliver_due(engine, client, WebhookOptions()).delivered == 1  # `client` allows loopback
    assert len(receiver.received) == 1
    assert row(engine, subscription_id)["last_error"] is None


def test_unspecified_is_refused_even_when_private_addresses_are_allowed(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, _url(receiver, ANY))
    assert deliver_due(engine, client, WebhookOptions()).failed == 1
    assert receiver.received == []
    assert (
        "0.0.0.0 is unspecified: refused by webhook policy (never allowed)"
        in row(engine, subscription_id)["last_error"]
    )


def test_an_allow_list_allows_its_networks_only(engine: Engine, receiver: Receiver) -> None:
    add_change(engine)
    allowed, _ = subscribe(engine, _url(receiver, "127.0.0.1"))
    policy = AddressPolicy.from_settings(False, ["10.0.0.0/8"])
    with webhook_client(WebhookOptions(policy=policy)) as http:
        assert deliver_due(engine, http, FAST).failed == 1
    assert receiver.received == []
    time.sleep(0.05)  # FAST's retry comes due
    policy = AddressPolicy.from_settings(False, ["127.0.0.0/8"])
    with webhook_client(WebhookOptions(policy=policy)) as http:
        assert deliver_due(engine, http, FAST).delivered == 1
    assert len(receiver.received) == 1
    assert row(engine, allowed)["attempts"] == 0


def test_a_name_that_resolves_elsewhere_at_connect_time_is_refused(
    engine: Engine, receiver: Receiver
) -> None:
    """DNS rebinding: public when the subscription is added, loopback when syncd connects."""
    answers = iter(["93.184.215.14", "127.0.0.1"])  # the public one is only checked, never connected to

    def rebinding(host: str, port: int) -> list[IPAddress]:
        assert host == "hooks.example.test"
        return [ipaddress.ip_address(next(answers))]

    policy = AddressPolicy(resolver=rebinding)
    url = _url(receiver, "hooks.example.test")
    check_target(url, policy)  # `syncd webhooks add` lets it through
    add_change(engine)
    subscription_id, _ = subscribe(engine, url)
    with webhook_client(WebhookOptions(policy=policy)) as http:
        assert deliver_due(engine, http, WebhookOptions()).failed == 1
    assert receiver.received == []
    assert row(engine, subscription_id)["last_error"] == (
        "ConnectError: hooks.example.test resolves to 127.0.0.1, which is loopback: refused by webhook "
        "policy (webhook_allow_private / webhook_allow_cidrs)"
    )


def test_a_name_is_connected_to_at_its_checked_address_and_keeps_its_host_header(
    engine: Engine, receiver: Receiver
) -> None:
    policy = AddressPolicy(allow_private=True, resolver=lambda host, port: resolve("127.0.0.1", port))
    add_change(engine)
    subscribe(engine, _url(receiver, "hooks.example.test"))
    with webhook_client(WebhookOptions(policy=policy)) as http:
        assert deliver_due(engine, http, WebhookOptions()).delivered == 1
    [request] = receiver.received
    assert request.headers["host"] == f"hooks.example.test:{urlsplit(receiver.url).port}"


def test_a_test_ping_obeys_the_policy(engine: Engine, strict: httpx.Client, receiver: Receiver) -> None:
    subscription_id, _ = subscribe(engine, receiver.url)
    answer = send_test(engine, strict, subscription_id)
    assert not answer.ok
    assert answer.error == (
        "ConnectError: address 127.0.0.1 is loopback: refused by webhook policy "
        "(webhook_allow_private / webhook_allow_cidrs)"
    )
    assert receiver.received == []


def test_environment_proxies_are_not_used(
    engine: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would be the address connected to, and the receiver's would go unchecked."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    add_change(engine)
    subscribe(engine, receiver.url)
    with webhook_client(WebhookOptions(policy=LOOPBACK)) as http:
        assert deliver_due(engine, http, WebhookOptions()).delivered == 1
    assert len(receiver.received) == 1


def test_a_hostile_answer_is_stored_as_a_short_printable_excerpt(
    engine: Engine, client: httpx.Client, receiver: Receiver
) -> None:
    add_change(engine)
    subscription_id, _ = subscribe(engine, receiver.url)
    receiver.body = b"\x1b[2J\x1b[31mPWNED\r\nX-Injected: 1\x00\x07" + b"secret-internal-data " * 100
    receiver.fail(1, status=500)
    deliver_due(engine, client, FAST)
    error = row(engine, subscription_id)["last_error"]
    assert error.startswith("HTTP 500: [2J [31mPWNED X-Injected: 1 secret-internal-data")
    assert len(error) == len("HTTP 500: ") + 100
    assert all(ch.isprintable() for ch in error)
    assert attempts(engine, subscription_id)[0]["error"] == error
    # A 2xx's body, however long, is not stored at all.
    time.sleep(0.05)  # FAST's retry comes due
    deliver_due(engine, client, FAST)
    assert [a["error"] for a in attempts(engine, subscription_id)] == [error, None]
    assert row(engine, subscription_id)["last_error"] is None
