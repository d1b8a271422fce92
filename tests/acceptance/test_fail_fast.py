"""Failing fast with the right exit code: an API that cannot be reached (1) or refuses the key (2),
and bad settings of any kind (2), each one line on stderr, never a traceback."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env

pytestmark = pytest.mark.acceptance


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_an_unreachable_api_fails_a_one_shot_sync_within_15s(database_url: URL, tmp_path: Path) -> None:
    env = clean_env(
        {
            "SYNCD_API_URL": "http://127.0.0.1:9",  # nothing listens on the discard port
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
            "SYNCD_LOG_FORMAT": "json",
        },
        home=tmp_path,
    )
    started = time.monotonic()
    result = run_syncd("sync", env=env, timeout=60)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert took < 15, f"took {took:.1f}s"
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "syncd: the API at http://127.0.0.1:9 cannot be reached: connection refused"
    # One resource tried and said so; no retry chatter, no other resource tried.
    events = [json.loads(line)["event"] for line in lines[:-1]]
    assert events.count("sync.resource_done") == 1, result.stderr
    assert "api.retry" not in events
    assert CANARY_KEY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # The resource tried claims no mode it never ran; the ones after it were not attempted.
    status = run_syncd("status", env=env)
    assert re.search(r"^users\s.*\sfailed \(before fetching, \S+Z\)", status.stdout, re.M), status.stdout
    document = json.loads(run_syncd("status", "--json", env=env).stdout)
    runs = {r["resource"]: r["last_run"] for r in document["resources"]}
    assert runs["users"]["status"] == "failed"
    assert runs["users"]["fetched"] is False
    assert runs["events"] is None


def test_a_refused_key_exits_2_after_one_request(database_url: URL, tmp_path: Path) -> None:
    with sandbox_process(events=50, seed=2) as (_, base_url):
        env = clean_env(
            {
                "SYNCD_API_URL": base_url,
                "SYNCD_API_KEY": "wrong-key-0123456789",
                "SYNCD_DATABASE_URL": url_for_env(database_url),
                "SYNCD_LOG_FORMAT": "json",
                "SYNCD_LOG_LEVEL": "debug",  # every attempt is an api.request line
            },
            home=tmp_path,
        )
        result = run_syncd("sync", env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        f"syncd: error: the API at {base_url} refused the key (HTTP 401): "
        "check SYNCD_API_KEY or SYNCD_API_KEY_FILE"
    )
    requests = [e for e in map(json.loads, lines[:-1]) if e["event"] == "api.request"]
    assert [r["status"] for r in requests] == [401]
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_data_dir_that_cannot_be_created_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    data_dir = blocker / "sub"  # as root, permissions stop nothing; a file in the path does
    result = run_syncd("db", "upgrade", "--data-dir", str(data_dir), env=clean_env(home=tmp_path))
    assert result.returncode == 2
    assert _one_line(result.stderr) == f"syncd: error: cannot create data_dir {data_dir}: Not a directory"


def test_sandbox_on_a_port_in_use_exits_2(taken_port: int, tmp_path: Path) -> None:
    result = run_syncd("sandbox", "--port", str(taken_port), env=clean_env(home=tmp_path), timeout=30)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith(f"syncd: error: cannot listen on 127.0.0.1:{taken_port}: Address already in use")
    assert "--port" in line


def test_run_on_a_health_port_in_use_exits_2(taken_port: int, database_url: URL, tmp_path: Path) -> None:
    env = clean_env(
        {
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
            "SYNCD_HEALTH_PORT": str(taken_port),
        },
        home=tmp_path,
    )
    result = run_syncd("run", env=env, timeout=60)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert f"cannot listen on 127.0.0.1:{taken_port}" in line
    assert "health_port" in line


@pytest.mark.parametrize("kind", ["missing", "a directory", "empty"])
def test_an_unusable_key_file_exits_2(kind: str, tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    if kind == "a directory":
        key_file.mkdir()
    elif kind == "empty":
        key_file.write_text("\n")
    env = clean_env({"SYNCD_API_KEY_FILE": str(key_file)}, home=tmp_path)
    result = run_syncd("sync", env=env)
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert line.startswith("syncd: error: invalid setting api_key_file: ")
    assert str(key_file) in line


def _queue_notes(engine: Engine, *event_ids: int) -> list[int]:
    with engine.begin() as conn:
        return [
            int(
                conn.execute(
                    text(
                        "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                        "VALUES ('notes', :e, CAST(:p AS jsonb)) RETURNING id"
                    ),
                    {"e": event_id, "p": json.dumps({"notes": "from the CRM"})},
                ).scalar_one()
            )
            for event_id in event_ids
        ]


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT status FROM syncd.write_intents ORDER BY id")).scalars())


def test_replay_gives_up_on_an_unreachable_api_and_keeps_the_intents(
    database_url: URL, engine: Engine, tmp_path: Path
) -> None:
    _queue_notes(engine, 1, 2, 3, 4, 5, 6)
    env = clean_env(
        {
            "SYNCD_API_URL": "http://127.0.0.1:9",
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
        },
        home=tmp_path,
    )
    started = time.monotonic()
    result = run_syncd("replay", env=env, timeout=60)
    assert time.monotonic() - started < 15  # one intent's budget, not one per intent
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == "syncd: the API at http://127.0.0.1:9 cannot be reached: connection refused"
    assert "6 to retry" in result.stdout
    assert _statuses(engine) == ["pending"] * 6  # queued for a later pass, none failed
    assert "Traceback" not in result.stderr


def test_replay_with_a_refused_key_exits_2(database_url: URL, engine: Engine, tmp_path: Path) -> None:
    _queue_notes(engine, 1, 2)
    with sandbox_process(events=20, seed=2) as (_, base_url):
        env = clean_env(
            {
                "SYNCD_API_URL": base_url,
                "SYNCD_API_KEY": "wrong-key-0123456789",
                "SYNCD_DATABASE_URL": url_for_env(database_url),
            },
            home=tmp_path,
        )
        result = run_syncd("replay", env=env, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"syncd: error: the API at {base_url} refused the key (HTTP 401): "
        "check SYNCD_API_KEY or SYNCD_API_KEY_FILE"
    )
    assert _statuses(engine) == ["pending"] * 2
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
