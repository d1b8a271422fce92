"""`syncd sandbox`, `syncd check` and `syncd demo` as a user runs them."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env

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
    assert "syncd db psql" in result.stdout
    # The daemon for a few seconds: scheduled runs, an INSERT replayed within a second, a clean stop.
    assert re.search(r"scheduled runs events x[2-9]", result.stdout), result.stdout
    found = re.search(r"replayed to the API in (\d+) ms", result.stdout)
    assert found, result.stdout
    assert int(found.group(1)) < 1000
    assert "stopped cleanly (exit 0)" in result.stdout
    assert "Traceback" not in result.stderr
