"""`syncd replay` and `syncd replay --follow` as a user runs them, against `syncd sandbox`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env

pytestmark = pytest.mark.acceptance


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with sandbox_process(events=20, seed=4) as (_, base_url):
        yield base_url


def _event(base_url: str, event_id: int) -> dict[str, object]:
    answer = httpx.get(f"{base_url}/panel/api/event/{event_id}", headers={"X-API-KEY": CANARY_KEY})
    answer.raise_for_status()
    data = answer.json()
    assert isinstance(data, dict)
    return data


def _active(base_url: str) -> list[int]:
    answer = httpx.get(
        f"{base_url}/panel/api/event/list",
        params={"onPage": 100, "filter[state]": "active"},
        headers={"X-API-KEY": CANARY_KEY},
    )
    return [item["id"] for item in answer.json()["items"]]


def _enqueue(engine: Engine, kind: str, event_id: int, payload: dict[str, object]) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                    "VALUES (:k, :e, CAST(:p AS jsonb)) RETURNING id"
                ),
                {"k": kind, "e": event_id, "p": json.dumps(payload)},
            ).scalar_one()
        )


def _status(engine: Engine, intent_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM syncd.write_intents WHERE id = :i"), {"i": intent_id}
            ).scalar_one()
        )


def test_replay_once_then_exit_codes(
    sandbox_url: str, database_url: URL, engine: Engine, tmp_path: Path
) -> None:
    env = clean_env(
        {
            "SYNCD_API_URL": sandbox_url,
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
        },
        home=tmp_path,
    )
    first, second = _active(sandbox_url)[:2]
    notes = _enqueue(engine, "notes", first, {"notes": "from the CRM"})
    done = run_syncd("replay", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 succeeded" in done.stdout
    assert _status(engine, notes) == "succeeded"
    assert _event(sandbox_url, first)["notes"] == "from the CRM"

    _enqueue(engine, "cancel", second, {"reason": "one"})
    twice = _enqueue(engine, "cancel", second, {"reason": "two"})
    failed = run_syncd("replay", env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "1 failed" in failed.stdout
    assert _status(engine, twice) == "failed"
    assert CANARY_KEY not in done.stdout + done.stderr + failed.stdout + failed.stderr
    assert "Traceback" not in failed.stderr


def test_replay_without_a_key_is_a_usage_error(database_url: URL, tmp_path: Path) -> None:
    result = run_syncd(
        "replay", env=clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)
    )
    assert result.returncode == 2
    assert "SYNCD_API_KEY" in result.stderr


def test_follow_replays_new_intents_and_stops_on_sigterm(
    sandbox_url: str, database_url: URL, engine: Engine, tmp_path: Path
) -> None:
    env = clean_env(
        {
            "SYNCD_API_URL": sandbox_url,
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
        },
        home=tmp_path,
    )
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("syncd")), "replay", "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        event_id = _active(sandbox_url)[0]
        intent_id = _enqueue(engine, "no_show", event_id, {})
        deadline = time.monotonic() + 20
        while _status(engine, intent_id) != "succeeded":
            assert time.monotonic() < deadline, "follow mode did not replay the intent"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert _event(sandbox_url, event_id)["state"] == "no_show"
    assert CANARY_KEY not in stderr
