"""Outgoing webhooks without I/O: signatures (checked by the `standardwebhooks` library), the payload,
backoff, secrets, URLs, kinds filters, the safe-prefix rule and the `list` table."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from syncd.db.feed import Change, _contiguous
from syncd.db.webhooks import Subscription
from syncd.webhooks import (
    WebhookOptions,
    backoff_s,
    encode,
    generate_secret,
    message_id,
    payload,
    secret_key,
    sign,
    signed_headers,
)
from syncd.webhooks_cli import check_url, parse_kinds, subscriptions_table

pytestmark = pytest.mark.unit

AT = dt.datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=dt.UTC)


def _change(**overrides: object) -> Change:
    values: dict[str, object] = {
        "id": 42,
        "occurred_at": AT,
        "resource": "events",
        "object_id": "1017",
        "kind": "event.rescheduled",
        "kinds": ["event.updated", "event.rescheduled"],
        "fields": {"scheduledAt": {"old": "2026-12-01T10:00:00+00:00", "new": "2026-12-02T10:00:00+00:00"}},
        "data": {"id": 1017, "state": "active", "notes": "café ☕"},
        "origin": "sync",
    }
    values.update(overrides)
    return Change(**values)  # type: ignore[arg-type]


# --- signatures -----------------------------------------------------------------------------------


def test_generated_secrets_are_standard_and_distinct() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert secret_key(first) == base64.b64decode(first[6:])


def test_a_signed_delivery_verifies_with_the_standard_webhooks_library() -> None:
    secret = generate_secret()
    body = encode(payload(_change()))
    headers = signed_headers(secret, message_id(42), body)
    assert headers["webhook-id"] == "chg_42"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == json.loads(body)


def test_a_tampered_body_wrong_secret_or_stale_timestamp_fails_verification() -> None:
    secret = generate_secret()
    body = encode(payload(_change()))
    headers = signed_headers(secret, "chg_42", body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"1017", b"1018"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(body, headers)
    stale = signed_headers(secret, "chg_42", body, timestamp=int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(body, stale)


def test_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    # A fixed vector, computed independently by the library's own signer.
    secret = "whsec_" + base64.b64encode(bytes(range(24))).decode()
    body = b'{"type":"event.created"}'
    ours = sign(secret, "chg_7", 1_700_000_000, body)
    theirs = Webhook(secret).sign("chg_7", dt.datetime.fromtimestamp(1_700_000_000, dt.UTC), body.decode())
    assert ours == theirs


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("abc", "starts with 'whsec_'"),
        ("whsec_!!!not-base64", "valid base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "decodes to 5"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "decodes to 65"),
    ],
)
def test_bad_secrets_are_refused_without_quoting_them(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as caught:
        secret_key(secret)
    assert problem in str(caught.value)
    assert secret not in str(caught.value) or secret == "abc"


# --- the payload ----------------------------------------------------------------------------------


def test_payload_follows_the_contract() -> None:
    assert payload(_change()) == {
        "type": "event.rescheduled",
        "timestamp": "2026-11-25T09:30:15.123456Z",
        "data": {
            "change_id": 42,
            "resource": "events",
            "id": "1017",
            "kinds": ["event.updated", "event.rescheduled"],
            "changes": {
                "scheduledAt": {"old": "2026-12-01T10:00:00+00:00", "new": "2026-12-02T10:00:00+00:00"}
            },
            "object": {"id": 1017, "state": "active", "notes": "café ☕"},
            "origin": "sync",
        },
    }


def test_body_is_compact_utf8_json_in_contract_order() -> None:
    created = _change(kind="event.created", kinds=["event.created"], fields=None)
    body = encode(payload(created))
    assert b" " not in body.replace(b"caf\xc3\xa9 \xe2\x98\x95", b"")  # compact: no spaces but the data's
    assert "café ☕".encode() in body  # UTF-8, not \u escapes
    assert body.startswith(b'{"type":"event.created","timestamp":"2026-11-25T09:30:15.123456Z","data":')
    assert b'"changes":null' in body


def test_timestamp_is_utc_whatever_the_offset() -> None:
    local = AT.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert payload(_change(occurred_at=local))["timestamp"] == "2026-11-25T09:30:15.123456Z"


# --- backoff --------------------------------------------------------------------------------------


def test_backoff_is_the_retry_policy_with_the_options_of_webhooks() -> None:
    options = WebhookOptions()  # 5 s doubling up to an hour, jitter 20 % below
    assert [backoff_s(options, n, rng=lambda: 0.0) for n in (1, 2, 3, 13)] == [5.0, 10.0, 20.0, 3600.0]
    assert backoff_s(options, 3, rng=lambda: 1.0) == pytest.approx(20.0 * 0.8)
    assert backoff_s(options, 1, retry_after=1e6, rng=lambda: 0.0) == 3600.0


# --- kinds and URLs -------------------------------------------------------------------------------


def test_kinds_filters_accept_kinds_and_wildcards_and_name_a_wrong_one() -> None:
    assert parse_kinds("event.cancelled, event.*,user.updated,event.*") == [
        "event.cancelled",
        "event.*",
        "user.updated",
    ]
    assert parse_kinds("*") == ["*"]
    with pytest.raises(ValueError, match=r"unknown change kind 'event\.cancel'"):
        parse_kinds("event.cancel")
    with pytest.raises(ValueError, match=r"unknown change kind 'evnt\.\*'"):
        parse_kinds("evnt.*")
    with pytest.raises(ValueError, match="at least one kind"):
        parse_kinds(" , ")


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/syncd", "http://127.0.0.1:8080/in?token=x", "HTTPS://Example.com"]
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert check_url(f" {url} ") == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/x", "not an http:// or https:// URL"),
        ("example.com/hook", "not an http:// or https:// URL"),
        ("https:///path", "has no host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("https://example.com/x#frag", "#fragment"),
    ],
)
def test_bad_urls_are_refused_naming_the_url(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        check_url(url)
    assert repr(url) in str(caught.value)


# --- the safe prefix ------------------------------------------------------------------------------


def test_contiguous_stops_at_the_first_hole() -> None:
    rows = [(5, True), (6, False), (8, True), (9, True)]
    assert _contiguous(rows, 4) == [(5, True), (6, False)]
    assert _contiguous(rows, 3) == []
    assert _contiguous([], 10) == []
    assert _contiguous([(11, True), (12, True)], 10) == [(11, True), (12, True)]


# --- the list table -------------------------------------------------------------------------------


def _subscription(**overrides: object) -> Subscription:
    values: dict[str, object] = {
        "id": 3,
        "url": "https://user:pa55word@hooks.example.com/in",
        "kinds": ["event.*"],
        "enabled": True,
        "description": None,
        "created_at": AT,
        "cursor_id": 41,
        "attempts": 0,
        "failing_since": None,
        "next_attempt_at": AT,
        "last_error": None,
        "disabled_at": None,
        "disabled_reason": None,
        "replay_through": None,
        "resume_after": None,
    }
    values.update(overrides)
    return Subscription(**values)  # type: ignore[arg-type]


def test_list_table_shows_state_cursor_backlog_and_error_never_a_password() -> None:
    table = subscriptions_table(
        [
            (_subscription(), 7),
            (
                _subscription(
                    id=4,
                    url="http://127.0.0.1:9/x",
                    kinds=[],
                    attempts=3,
                    failing_since=AT,
                    last_error="HTTP 500: oops\nmore",
                ),
                100_000,
            ),
            (
                _subscription(
                    id=5, enabled=False, disabled_at=AT, disabled_reason="the receiver answered 410 Gone"
                ),
                0,
            ),
        ],
        100_000,
    )
    lines = table.splitlines()
    assert lines[0].split() == [
        "id",
        "state",
        "kinds",
        "cursor",
        "backlog",
        "next",
        "attempt",
        "url",
        "last",
        "error",
    ]
    assert "pa55word" not in table
    assert "https://user:****@hooks.example.com/in" in lines[1]
    assert lines[1].split()[:5] == ["3", "ok", "event.*", "41", "7"]
    assert "failing (3 attempts)" in lines[2]
    assert "100000+" in lines[2]
    assert "HTTP 500: oops more" in lines[2]
    assert "disabled (the receiver answered 410 Gone)" in lines[3]
    assert subscriptions_table([], 10) == "no webhook subscriptions"


def test_the_receiver_example_in_the_docs_verifies_our_signatures() -> None:
    from tests.helpers import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8")
    example = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/webhooks.md", "exec"), namespace)  # noqa: S102  # our own docs
    verify = namespace["verify"]
    assert callable(verify)
    secret = generate_secret()
    body = encode(payload(_change()))
    headers = signed_headers(secret, "chg_42", body)
    verify(secret, headers, body)
    with pytest.raises(ValueError, match="no valid signature"):
        verify(secret, headers, body + b" ")
    with pytest.raises(ValueError, match="no valid signature"):
        verify(generate_secret(), headers, body)
    with pytest.raises(ValueError, match="stale"):
        verify(secret, signed_headers(secret, "chg_42", body, timestamp=int(time.time()) - 301), body)


def test_webhook_settings_have_defaults_feed_the_options_and_are_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from syncd.engine_options import webhook_options
    from syncd.settings import SettingsError, load_settings

    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings()
    options = webhook_options(settings)
    assert (options.retry_for_s, options.timeout_s, options.connect_timeout_s, options.batch) == (
        86_400.0,
        10.0,
        5.0,
        100,
    )
    monkeypatch.setenv("SYNCD_WEBHOOK_RETRY_FOR_S", "3600")
    assert webhook_options(load_settings()).retry_for_s == 3600.0
    monkeypatch.setenv("SYNCD_WEBHOOK_TIMEOUT_S", "0")
    with pytest.raises(SettingsError, match=r"invalid setting webhook_timeout_s \[SYNCD_WEBHOOK_TIMEOUT_S\]"):
        load_settings()


def test_a_receivers_answer_is_kept_as_a_short_printable_excerpt_and_a_2xx_body_not_at_all() -> None:
    import httpx

    from syncd.webhooks import post

    hostile = "\x1b[31mALERT\r\nSet-Cookie: x=1\x00\u202eevil\t" + "A" * 5000
    answers = {"/fail": 500, "/ok": 200, "/moved": 302}

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers[request.url.path]
        headers = {"location": "https://elsewhere.test/" + "p" * 300} if status == 302 else {}
        return httpx.Response(status, text=hostile, headers=headers)

    secret = generate_secret()
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        failed = post(client, "http://r.test/fail", secret, "chg_1", b"{}")
        ok = post(client, "http://r.test/ok", secret, "chg_1", b"{}")
        moved = post(client, "http://r.test/moved", secret, "chg_1", b"{}")
    assert failed.error is not None
    assert failed.error.startswith("HTTP 500: [31mALERT Set-Cookie: x=1 evil AAAA")
    excerpt = failed.error.removeprefix("HTTP 500: ")
    assert len(excerpt) == 100
    assert excerpt.endswith("...")
    assert all(ch.isprintable() for ch in failed.error)
    assert (ok.ok, ok.error) == (True, None)
    assert moved.error == f"HTTP 302: redirect to https://elsewhere.test/{'p' * 74}... not followed"
