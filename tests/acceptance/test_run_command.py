"""`syncd run` as an operator runs it: two replicas against a sandbox subprocess, one killed with -9.

Shows: one leader at a time and a takeover after kill -9, an intent INSERT reaching the sandbox
within a second, no two runs of one resource at once, SIGTERM exits 0, and a refusal to start on a
schema that is behind.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.db.leader import who_leads
from tests.helpers import CANARY_KEY, clean_env, run_syncd, url_for_env
from tests.integration.daemon.test_daemon import assert_no_overlap, free_port, succeeded, wait_for

pytestmark = pytest.mark.acceptance

SYNCD = str(Path(sys.executable).with_name("syncd"))
LEADER_POLL_S = 0.5


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    process = subprocess.Popen(
        [SYNCD, "sandbox", "--port", "0", "--api-key", CANARY_KEY, "--events", "40", "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    assert process.stdout is not None
    found = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    assert found
    yield found.group(0)
    process.kill()
    process.communicate()


class Replica:
    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        self.port = free_port()
        self.log = (log_dir / f"{name}.log").open("w+")
        self.process = subprocess.Popen(
            [SYNCD, "run"],
            env={**env, "SYNCD_HEALTH_PORT": str(self.port)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def get(self, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)
        except httpx.TransportError:
            return None

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def leader_pid(engine: Engine) -> int | None:
    with engine.connect() as conn:
        found = who_leads(conn)
    if found is None:
        return None
    match = re.search(r"pid (\d+)$", found.application_name)
    return int(match.group(1)) if match else None


def insert_intent(engine: Engine, event_id: int, notes: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                    "VALUES ('notes', :id, CAST(:payload AS jsonb)) RETURNING id"
                ),
                {"id": event_id, "payload": json.dumps({"notes": notes})},
            ).scalar_one()
        )


def intent_status(engine: Engine, intent_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM syncd.write_intents WHERE id = :id"), {"id": intent_id}
            ).scalar_one()
        )


def timed(condition: Callable[[], Any], timeout_s: float, what: str) -> float:
    started = time.monotonic()
    wait_for(condition, timeout_s, what)
    return time.monotonic() - started


def test_two_replicas_kill_9_takeover_intents_and_sigterm(
    sandbox_url: str, database_url: URL, engine: Engine, tmp_path: Path
) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        f"leader_poll_s = {LEADER_POLL_S}\nshutdown_timeout_s = 15\n[schedule]\nevents = 1\nusers = 1\n"
    )
    env = clean_env(
        {
            "SYNCD_API_URL": sandbox_url,
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
            "SYNCD_CONFIG": str(config),
            "SYNCD_LOG_FORMAT": "json",
        },
        home=tmp_path,
    )
    first = Replica(env, tmp_path, "first")
    second: Replica | None = None
    try:
        wait_for(lambda: leader_pid(engine) == first.process.pid, 20, "the first replica to lead")
        second = Replica(env, tmp_path, "second")
        wait_for(lambda: second.get("/healthz") is not None, 20, "the second replica's /healthz")
        metrics = second.get("/metrics")
        assert metrics is not None
        assert "syncd_leader 0.0" in metrics.text
        wait_for(lambda: succeeded(engine, "events") >= 2, 20, "the leader's runs of events")
        ready = first.get("/readyz")
        assert ready is not None
        assert ready.status_code == 200, ready.text

        # An intent INSERT is replayed (the sandbox answered) within a second.
        with engine.connect() as conn:
            event_id = conn.execute(
                text("SELECT id FROM simplymeet.events WHERE state = 'active' ORDER BY id LIMIT 1")
            ).scalar_one()
        latencies = []
        for n in range(3):
            intent_id = insert_intent(engine, event_id, f"from the daemon test {n}")
            latencies.append(
                timed(lambda i=intent_id: intent_status(engine, i) == "succeeded", 5, "the intent")
            )
        print(f"INSERT-to-succeeded latency under `syncd run`: {[round(s, 3) for s in latencies]} s")
        assert max(latencies) < 1.0, latencies

        # kill -9 the leader: its session dies, and with it the lock.
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        takeover = timed(lambda: leader_pid(engine) == second.process.pid, LEADER_POLL_S + 5, "a takeover")
        print(f"takeover after kill -9: {takeover:.2f}s (leader_poll_s {LEADER_POLL_S})")
        assert takeover < LEADER_POLL_S + 3
        before = succeeded(engine, "events")
        wait_for(lambda: succeeded(engine, "events") >= before + 2, 15, "runs by the new leader")

        status = run_syncd("status", env=env, timeout=60)
        assert status.returncode == 0, status.stderr
        assert "leader    syncd-run " in status.stdout
        assert f"pid {second.process.pid} (session pid" in status.stdout
        assert "intents   3 succeeded" in status.stdout

        second.process.send_signal(signal.SIGTERM)
        assert second.process.wait(20) == 0, second.output()
        out = second.output()
        assert "daemon.stopped" in out
        assert "Traceback" not in out
        assert '"logger": "apscheduler' not in out  # its "Running job ..." chatter is held at warning
        assert CANARY_KEY not in out + first.output()
    finally:
        first.close()
        if second is not None:
            second.close()
    assert_no_overlap(engine)


def test_run_refuses_a_schema_that_is_behind(empty_database_url: URL, tmp_path: Path) -> None:
    env = clean_env(
        {"SYNCD_API_KEY": CANARY_KEY, "SYNCD_DATABASE_URL": url_for_env(empty_database_url)}, home=tmp_path
    )
    result = run_syncd("run", env=env, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "syncd db upgrade" in lines[0]
