"""`syncd sandbox`, `syncd check` and `syncd demo` as a user runs them."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd.db.engine import make_engine
from syncd.db.intents import enqueue
from syncd.db.webhooks import add_subscription
from syncd.webhooks import generate_secret
from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.acceptance


@pytest.fixture
def sandbox() -> Iterator[tuple[subprocess.Popen[str], str]]:
    with sandbox_process(events=40, seed=3) as started:
        yield started


def test_sandbox_serves_checks_the_key_and_stops_cleanly_on_sigterm(
    sandbox: tuple[subprocess.Popen[str], str],
) -> None:
    process, base_url = sandbox
    ok = httpx.get(
        f"{base_url}/panel/api/event/list", params={"onPage": 5}, headers={"X-API-KEY": CANARY_KEY}
    )
    assert ok.status_code == 200
    assert ok.json()["meta"]["itemsCount"] == 40
    assert httpx.get(f"{base_url}/panel/api/event/list", headers={"X-API-KEY": "wrong"}).status_code == 401
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert CANARY_KEY not in stderr


def test_check_with_a_good_and_a_bad_key(
    sandbox: tuple[subprocess.Popen[str], str], database_url: URL, tmp_path: Path
) -> None:
    _, base_url = sandbox
    base = {"SYNCD_API_URL": base_url, "SYNCD_DATABASE_URL": url_for_env(database_url)}
    good = run_syncd("check", env=clean_env({**base, "SYNCD_API_KEY": CANARY_KEY}, home=tmp_path))
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("ok  ") == 3
    bad = run_syncd("check", env=clean_env({**base, "SYNCD_API_KEY": "wrong-key-0123456789"}, home=tmp_path))
    assert bad.returncode == 1
    failures = [line for line in bad.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert "api" in failures[0]
    assert "401" in failures[0]
    assert "wrong-key-0123456789" not in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stderr


def test_check_without_a_key_says_how_to_set_one(tmp_path: Path, database_url: URL) -> None:
    result = run_syncd(
        "check", env=clean_env({"SYNCD_DATABASE_URL": url_for_env(database_url)}, home=tmp_path)
    )
    assert result.returncode == 1
    assert "SYNCD_API_KEY" in result.stdout


def test_demo_with_no_settings_at_all(tmp_path: Path) -> None:
    result = run_syncd("demo", "--events", "150", env=clean_env(home=tmp_path), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"events\s+full\s+succeeded\s+2\s+150\s", result.stdout), result.stdout
    assert "replay: 3 succeeded" in result.stdout, result.stdout
    assert re.search(r"event \d+ state=canceled", result.stdout), result.stdout
    assert "Prefers a call in the morning" in result.stdout
    assert "syncd --data-dir DIR db psql" in result.stdout  # how to keep the data and look
    # The daemon for a few seconds: scheduled runs, an INSERT replayed within a second, a clean stop.
    assert re.search(r"scheduled runs events x[2-9]", result.stdout), result.stdout
    found = re.search(r"replayed to the API in (\d+) ms", result.stdout)
    assert found, result.stdout
    assert int(found.group(1)) < 1000
    assert "stopped cleanly (exit 0)" in result.stdout
    assert "Traceback" not in result.stderr


ADMIN_TOKEN = "side-door-token-5f2a"


def _snapshot(engine: Engine) -> dict[str, object]:
    """Everything the demo must not touch in a configured database."""
    with engine.connect() as conn:
        counts = {
            table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()  # our names
            for table in (
                "simplymeet.events",
                "simplymeet.users",
                "syncd.sync_runs",
                "syncd.changes",
                "syncd.webhook_deliveries",
            )
        }
        intents = conn.execute(
            text("SELECT id, kind, event_id, status, attempts FROM syncd.write_intents ORDER BY id")
        ).all()
        subscriptions = conn.execute(
            text("SELECT id, url, enabled, cursor_id FROM syncd.webhook_subscriptions ORDER BY id")
        ).all()
    return {
        **counts,
        "intents": [tuple(r) for r in intents],
        "subscriptions": [tuple(r) for r in subscriptions],
    }


def test_demo_leaves_the_configured_database_and_api_untouched(
    database_url: URL, receiver: Receiver, tmp_path: Path
) -> None:
    engine = make_engine(database_url, application_name="syncd-test")
    try:
        with engine.begin() as conn:
            intent_id = enqueue(conn, "notes", 4242, {"notes": "the user's own decision"})
            add_subscription(conn, receiver.url, generate_secret(), description="the user's subscriber")
        before = _snapshot(engine)
        with sandbox_process(events=20, seed=5, extra=["--admin-token", ADMIN_TOKEN]) as (_, real_api):
            env = clean_env(
                {
                    "SYNCD_DATABASE_URL": url_for_env(database_url),
                    "SYNCD_API_URL": real_api,
                    "SYNCD_API_KEY": CANARY_KEY,
                    "SYNCD_DATA_DIR": str(tmp_path / "real-data"),
                },
                home=tmp_path,
            )
            result = run_syncd("demo", "--events", "60", env=env, timeout=90)
            calls = httpx.get(f"{real_api}/_sandbox/calls", headers={"X-SANDBOX-TOKEN": ADMIN_TOKEN})
        after = _snapshot(engine)
    finally:
        engine.dispose()
    assert after == before
    assert result.returncode == 0, result.stdout + result.stderr
    assert before["intents"] == [(intent_id, "notes", 4242, "pending", 0)]
    assert before["simplymeet.events"] == 0
    assert receiver.received == []
    assert calls.status_code == 200
    assert calls.json() == []  # the "real" API got no request
    assert not (tmp_path / "real-data").exists()
    first = result.stdout.splitlines()[0]
    demo_dir = re.search(r"embedded PostgreSQL in (\S+), removed at the end", first)
    assert demo_dir, first
    assert "your settings and data are not used" in first
    assert not Path(demo_dir.group(1)).exists()  # the throwaway data dir went with the demo
    assert CANARY_KEY not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def _run_printed(line: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a `[VAR= ...] syncd ARGS` line the demo printed, as a shell would."""
    words = shlex.split(line)
    assignments = {}
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    assert words[0] == "syncd", line
    return run_syncd(*words[1:], env={**env, **assignments})


@pytest.fixture
def keep_dir() -> Iterator[Path]:
    """A new directory for `--keep`, outside pytest's basetemp: a concurrent pytest run makes that
    private again (0700), locking out the embedded server's own user when tests run as root."""
    parent = Path(tempfile.mkdtemp(prefix="syncd-test-demo-keep-"))
    yield parent / "explore"
    shutil.rmtree(parent, ignore_errors=True)


def test_demo_keep_keeps_the_data_and_prints_commands_that_reach_it(keep_dir: Path, tmp_path: Path) -> None:
    keep = keep_dir
    # A configured database the hints must get around (the demo never connects to it).
    env = clean_env({"SYNCD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/not_the_demo"}, home=tmp_path)
    result = run_syncd("demo", "--events", "40", "--keep", str(keep), env=env, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"in {keep}, kept for exploring" in result.stdout.splitlines()[0]
    assert (keep / "postgres" / "PG_VERSION").exists()
    printed = [line.strip() for line in result.stdout.splitlines() if f"--data-dir {keep}" in line]
    status_line = next(line for line in printed if line.endswith(" status"))
    psql_line = next(line for line in printed if line.endswith(" db psql"))
    status = _run_printed(status_line, env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(r"^events\s.*\s40\s", status.stdout, re.MULTILINE), status.stdout
    count = _run_printed(f"{psql_line} -- -tAc 'SELECT count(*) FROM simplymeet.events'", env)
    assert count.returncode == 0, count.stdout + count.stderr
    assert count.stdout.strip() == "40"
    # Refused: a directory that holds something (the kept demo), or the configured data_dir.
    again = run_syncd("demo", "--keep", str(keep), env=env)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        f"syncd: error: --keep {keep}: exists and is not an empty directory; name a new or empty one"
    )
    data_dir = tmp_path / "data"
    mine = run_syncd("demo", "--keep", str(data_dir), env={**env, "SYNCD_DATA_DIR": str(data_dir)})
    assert mine.returncode == 2
    assert "is the configured data_dir" in mine.stderr
    assert not data_dir.exists()
