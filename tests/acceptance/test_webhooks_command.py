"""`syncd webhooks ...` as a user runs it, against a migrated database and a real receiver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from standardwebhooks import Webhook

from tests.helpers import clean_env, run_syncd, url_for_env
from tests.integration.webhooks.conftest import add_change
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.acceptance


@pytest.fixture
def env(database_url: URL, tmp_path: Path) -> dict[str, str]:
    # The receiver is on 127.0.0.1: allowed explicitly, as an operator would.
    return clean_env(
        {"SYNCD_DATABASE_URL": url_for_env(database_url), "SYNCD_WEBHOOK_ALLOW_PRIVATE": "true"},
        home=tmp_path,
    )


def _ok(*args: str, env: dict[str, str]) -> str:
    result = run_syncd(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _usage_error(*args: str, env: dict[str, str]) -> str:
    result = run_syncd(*args, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _add(*args: str, env: dict[str, str]) -> tuple[int, str]:
    out = _ok("webhooks", "add", *args, env=env).splitlines()
    assert [line.split()[0] for line in out] == ["id", "secret"], out
    return int(out[0].split()[1]), out[1].split()[1]


def test_add_list_test_disable_enable_replay_remove(
    env: dict[str, str], engine: Engine, receiver: Receiver
) -> None:
    first = add_change(engine)
    subscription_id, secret = _add(
        receiver.url, "--kinds", "event.*,user.created", "--description", "the CRM", "--from-start", env=env
    )
    assert secret.startswith("whsec_")
    later, later_secret = _add(receiver.url + "/later", env=env)  # from the end of the feed
    assert later_secret != secret

    table = _ok("webhooks", "list", env=env)
    lines = table.splitlines()
    assert lines[0].split()[:5] == ["id", "state", "kinds", "cursor", "backlog"]
    assert lines[1].split()[:5] == [str(subscription_id), "ok", "event.*,user.created", "0", "1"]
    assert lines[2].split()[:5] == [str(later), "ok", "all", "kinds", str(first)]
    listed = json.loads(_ok("webhooks", "list", "--json", env=env))
    assert [(s["id"], s["cursor_id"], s["backlog"], s["state"]) for s in listed] == [
        (subscription_id, 0, 1, "ok"),
        (later, first, 0, "ok"),
    ]
    assert listed[0]["description"] == "the CRM"
    assert "secret" not in listed[0]

    tested = run_syncd("webhooks", "test", str(subscription_id), env=env)
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.startswith(f"webhook subscription {subscription_id}: 200 in ")
    ping = receiver.received[0]
    assert Webhook(secret).verify(ping.body, ping.headers)["type"] == "webhook.test"

    assert "disabled at change 0" in _ok("webhooks", "disable", str(subscription_id), env=env)
    assert json.loads(_ok("webhooks", "list", "--json", env=env))[0]["state"] == "disabled"
    assert "resumes after change 0" in _ok("webhooks", "enable", str(subscription_id), env=env)
    replayed = _ok("webhooks", "replay", str(later), "--from", str(first), env=env)
    assert f"from {first} again" in replayed
    assert json.loads(_ok("webhooks", "list", "--json", env=env))[1]["cursor_id"] == first - 1

    assert "removed" in _ok("webhooks", "remove", str(later), env=env)
    assert [s["id"] for s in json.loads(_ok("webhooks", "list", "--json", env=env))] == [subscription_id]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM syncd.webhook_subscriptions")).scalar_one() == 1


def test_the_secret_is_printed_once_and_never_again(env: dict[str, str], receiver: Receiver) -> None:
    given = "whsec_" + "A" * 32 + "Qk9PT0JBUg=="  # a valid 30-byte key
    result = run_syncd("webhooks", "add", receiver.url, "--secret", given, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(given) == 1
    assert given not in result.stderr
    subscription_id = result.stdout.split()[1]
    receiver.status = 500
    outputs = [
        run_syncd(*args, env=env)
        for args in (
            ("webhooks", "list"),
            ("webhooks", "list", "--json"),
            ("webhooks", "test", subscription_id),
            ("webhooks", "disable", subscription_id),
            ("webhooks", "enable", subscription_id),
            ("--log-level", "debug", "webhooks", "test", subscription_id),
        )
    ]
    assert outputs[2].returncode == 1
    assert "500" in outputs[2].stderr
    for output in outputs:
        assert given not in output.stdout + output.stderr
        assert given[6:20] not in output.stdout + output.stderr


def test_bad_input_is_one_line_naming_what_and_exit_2(env: dict[str, str]) -> None:
    assert "'ftp://example.com' is not an http:// or https:// URL" in _usage_error(
        "webhooks", "add", "ftp://example.com", env=env
    )
    assert "unknown change kind 'event.cancel'" in _usage_error(
        "webhooks", "add", "https://example.com/x", "--kinds", "event.cancel", env=env
    )
    line = _usage_error("webhooks", "add", "https://example.com/x", "--secret", "whsec_c2hvcnQ=", env=env)
    assert "decodes to 5" in line
    assert "c2hvcnQ" not in line
    assert "not allowed with argument" in _usage_error(
        "webhooks", "add", "https://example.com/x", "--from-start", "--from", "3", env=env
    )
    assert "there is no webhook subscription 99" in _usage_error("webhooks", "enable", "99", env=env)
    assert "there is no webhook subscription 99" in _usage_error("webhooks", "test", "99", env=env)
    # A public address, written as one: nothing is resolved (and `add` connects to nothing).
    subscription_id = _ok("webhooks", "add", "https://93.184.215.14/x", env=env).split()[1]
    assert "never skips any" in _usage_error("webhooks", "replay", subscription_id, "--from", "50", env=env)
    assert "'0' is not a whole number > 0" in _usage_error(
        "webhooks", "replay", subscription_id, "--from", "1", "--to", "0", env=env
    )
    assert "'zero' is not a whole number" in _usage_error("webhooks", "remove", "zero", env=env)


def test_targets_that_are_not_public_are_refused_at_add_and_at_connect_unless_allowed(
    database_url: URL, tmp_path: Path, receiver: Receiver
) -> None:
    strict = clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)
    port = receiver.server.server_address[1]
    for url, says in (
        ("http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is link-local"),
        (f"http://localhost:{port}/hook", "localhost resolves to "),
        ("http://[::1]:8080/x", "address ::1 is loopback"),
        (f"http://2130706433:{port}/hook", "2130706433 resolves to 127.0.0.1, which is loopback"),
        ("http://[::ffff:10.0.0.5]/x", "(10.0.0.5) is private"),
        ("http://100.64.0.1/x", "address 100.64.0.1 is shared (CGNAT)"),
        ("http://[fd00::1]/x", "address fd00::1 is unique-local"),
    ):
        line = _usage_error("webhooks", "add", url, env=strict)
        assert says in line, line
        assert "refused by webhook policy (webhook_allow_private / webhook_allow_cidrs)" in line, line
    line = _usage_error("webhooks", "add", "http://0.0.0.0:8080/x", env=strict)
    assert "address 0.0.0.0 is unspecified: refused by webhook policy (never allowed)" in line
    assert _ok("webhooks", "list", env=strict).strip() == "no webhook subscriptions"

    loopback_only = {**strict, "SYNCD_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8"}
    subscription_id, _ = _add(f"http://2130706433:{port}/hook", env=loopback_only)
    assert "address ::1 is loopback" in _usage_error(
        "webhooks", "add", "http://[::1]:8080/x", env=loopback_only
    )

    # Allowed when added; refused again at connect time once the setting is gone.
    refused = run_syncd("webhooks", "test", str(subscription_id), env=strict)
    assert refused.returncode == 1
    assert "2130706433 resolves to 127.0.0.1, which is loopback: refused by webhook policy" in refused.stderr
    assert receiver.received == []
    assert _ok("webhooks", "test", str(subscription_id), env=loopback_only).startswith(
        f"webhook subscription {subscription_id}: 200 in "
    )
    assert len(receiver.received) == 1
