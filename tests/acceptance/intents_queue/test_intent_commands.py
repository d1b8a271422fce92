"""`syncd intent ...`, `syncd intents ...` and `syncd db grant` as a user runs them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from tests.helpers import clean_env, run_syncd, url_for_env

pytestmark = pytest.mark.acceptance


@pytest.fixture
def env(database_url: URL, tmp_path: Path) -> dict[str, str]:
    return clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)


def _ok(*args: str, env: dict[str, str]) -> str:
    result = run_syncd(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_each_kind_queues_an_intent_and_prints_its_id(env: dict[str, str]) -> None:
    commands = [
        ("cancel", "101", "--reason", "customer asked"),
        (
            "reschedule",
            "102",
            "--start",
            "2031-03-01 10:00:00",
            "--end",
            "2031-03-01 10:30:00",
            "--event-type-id",
            "4",
        ),
        ("notes", "103", "--text", ""),
        ("invite", "104", "--email", "ann@example.com", "--email", "bob@example.org", "--message", "Hi"),
        ("no-show", "105"),
        ("delete", "106"),
        ("resend", "107", "--expected-updated-at", "2031-03-01T09:00:00+00:00"),
    ]
    ids = [int(_ok("intent", *command, env=env)) for command in commands]
    assert ids == sorted(ids)

    listed = json.loads(_ok("intents", "list", "--json", env=env))
    assert [(i["id"], i["kind"], i["event_id"], i["status"]) for i in reversed(listed)] == [
        (intent_id, kind, event_id, "pending")
        for intent_id, kind, event_id in zip(
            ids,
            ["cancel", "reschedule", "notes", "invite", "no_show", "delete", "resend_notification"],
            range(101, 108),
            strict=True,
        )
    ]
    payloads = {i["kind"]: i["payload"] for i in listed}
    assert payloads["reschedule"] == {
        "start": "2031-03-01 10:00:00",
        "end": "2031-03-01 10:30:00",
        "eventTypeId": 4,
    }
    assert payloads["invite"] == {"emails": ["ann@example.com", "bob@example.org"], "message": "Hi"}
    assert payloads["notes"] == {"notes": ""}
    assert payloads["resend_notification"] == {}
    assert listed[0]["expected_updated_at"].startswith("2031-03-01T09:00:00")

    table = _ok("intents", "list", "--limit", "3", env=env).splitlines()
    assert table[0].split() == [
        "id",
        "kind",
        "event",
        "status",
        "attempts",
        "next",
        "attempt",
        "last",
        "error",
    ]
    assert len(table) == 4
    assert table[1].split()[:5] == [str(ids[-1]), "resend_notification", "107", "pending", "0"]


def test_a_refused_intent_is_one_line_and_exit_2(env: dict[str, str]) -> None:
    result = run_syncd(
        "intent", "reschedule", "5", "--start", "2031-02-30 10:00:00", "--end", "2031-03-01 10:00:00", env=env
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        'syncd: error: write intent refused: reschedule payload "start" is not a real date-time'
    )
    assert "Traceback" not in result.stderr

    bad_email = run_syncd(
        "intent", "invite", "5", "--email", "ann@example.com", "--email", "bob at example", env=env
    )
    assert bad_email.returncode == 2
    assert bad_email.stderr.strip().splitlines() == [
        'syncd: error: write intent refused: invite payload "emails[1]" is not an e-mail address: "bob at example" '
        "(an address is local@domain.tld, without spaces)"
    ]
    assert _ok("intents", "list", env=env).strip() == "no intents"


def test_a_reschedule_into_the_past_needs_allow_past(env: dict[str, str]) -> None:
    # Plain times are in api_timezone here (UTC): the command line refuses them exactly.
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    start, end = (f"{t:%Y-%m-%d %H:%M:%S}" for t in (an_hour_ago, an_hour_ago + dt.timedelta(minutes=30)))
    args = ("intent", "reschedule", "5", "--start", start, "--end", end)
    refused = run_syncd(*args, env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f'syncd: error: write intent refused: reschedule payload "start" is in the past: "{start}" '
        "(set allow_past to queue it anyway (syncd intent reschedule --allow-past))"
    ]
    intent_id = int(_ok(*args, "--allow-past", env=env))
    [listed] = json.loads(_ok("intents", "list", "--json", env=env))
    assert (listed["id"], listed["allow_past"], listed["payload"]["start"]) == (intent_id, True, start)


def test_idempotency_key_from_the_command_line(env: dict[str, str]) -> None:
    first = _ok("intent", "notes", "9", "--text", "x", "--idempotency-key", "crm-9", env=env)
    assert _ok("intent", "notes", "9", "--text", "x", "--idempotency-key", "crm-9", env=env) == first
    other = run_syncd("intent", "notes", "9", "--text", "y", "--idempotency-key", "crm-9", env=env)
    assert other.returncode == 2
    assert "already names intent" in other.stderr


def test_withdraw_retry_and_their_refusals(env: dict[str, str], database_url: URL) -> None:
    kept = _ok("intent", "cancel", "1", env=env).strip()
    dropped = _ok("intent", "delete", "2", env=env).strip()
    assert "withdrawn" in _ok("intents", "withdraw", dropped, env=env)
    again = run_syncd("intents", "withdraw", dropped, env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"syncd: error: cannot withdraw intent {dropped}: it is withdrawn; only pending intents can be withdrawn"
    )
    not_failed = run_syncd("intents", "retry", kept, env=env)
    assert not_failed.returncode == 2
    assert "only failed intents can be retried" in not_failed.stderr

    libpq = url_for_env(database_url.set(drivername="postgresql"))
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(
            "UPDATE syncd.write_intents SET status = 'failed', failure_reason = 'rejected', "
            "last_error = '404 event 1 not found' WHERE id = %s",
            (int(kept),),
        )
    failed = _ok("intents", "list", "--status", "failed", env=env)
    assert "failed (rejected)" in failed
    assert "404 event 1 not found" in failed
    assert "pending again" in _ok("intents", "retry", kept, env=env)
    assert "no intents" in _ok("intents", "list", "--status", "failed", env=env)
    missing = run_syncd("intents", "retry", "999999", env=env)
    assert (missing.returncode, missing.stderr.strip()) == (2, "syncd: error: there is no intent 999999")


def test_db_grant(env: dict[str, str], database_url: URL) -> None:
    role = f"syncd_test_crm_{uuid.uuid4().hex[:8]}"
    libpq = url_for_env(database_url.set(drivername="postgresql"))
    missing = run_syncd("db", "grant", "--writer", role, env=env)
    assert missing.returncode == 2
    assert f"role '{role}' does not exist" in missing.stderr
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    try:
        out = _ok("db", "grant", "--writer", role, "--reader", role, env=env)
        assert f"granted writer rights to role {role}:" in out
        assert f"granted reader rights to role {role}:" in out
        assert "INSERT" in out
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    usage = run_syncd("db", "grant", env=env)
    assert usage.returncode == 2
    assert "--reader ROLE and/or --writer ROLE" in usage.stderr


def test_the_schema_must_be_current(empty_database_url: URL, tmp_path: Path) -> None:
    env = clean_env({"SYNCD_DATABASE_URL": url_for_env(empty_database_url)}, home=tmp_path)
    result = run_syncd("intent", "cancel", "1", env=env)
    assert result.returncode == 1
    assert "syncd db upgrade" in result.stderr
