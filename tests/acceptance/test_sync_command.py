"""`syncd sync` and `syncd status` as a user runs them, against `syncd sandbox`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.helpers import CANARY_KEY, clean_env, run_syncd, sandbox_process, url_for_env

pytestmark = pytest.mark.acceptance


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    with sandbox_process(events=120, seed=4) as (_, base_url):
        yield base_url


def test_sync_then_status(sandbox_url: str, database_url: URL, tmp_path: Path) -> None:
    env = clean_env(
        {
            "SYNCD_API_URL": sandbox_url,
            "SYNCD_API_KEY": CANARY_KEY,
            "SYNCD_DATABASE_URL": url_for_env(database_url),
            "SYNCD_LOG_FORMAT": "json",
        },
        home=tmp_path,
    )
    first = run_syncd("sync", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"^events\s+full\s+succeeded\s+2\s+120\s", first.stdout, re.M), first.stdout
    assert '"event": "sync.resource_done"' in first.stderr
    second = run_syncd("sync", "events", env=env)
    assert second.returncode == 0, second.stderr
    assert re.search(r"^events\s+incremental\s+succeeded\s+1\s+0\s+0\s+100\s", second.stdout, re.M), (
        second.stdout
    )
    status = run_syncd("status", env=env)
    assert status.returncode == 0, status.stderr
    assert re.search(
        r"^events\s+\S+ \S+\s+\d+s\s+120\s+0\s+0\s+succeeded \(incremental", status.stdout, re.M
    ), status.stdout
    for result in (first, second, status):
        assert CANARY_KEY not in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_sync_usage_errors(database_url: URL, tmp_path: Path) -> None:
    base = {"SYNCD_DATABASE_URL": url_for_env(database_url)}
    unknown = run_syncd("sync", "meetings", env=clean_env({**base, "SYNCD_API_KEY": "k" * 20}, home=tmp_path))
    assert unknown.returncode == 2
    assert "unknown resource 'meetings'" in unknown.stderr
    assert "events" in unknown.stderr
    keyless = run_syncd("sync", env=clean_env(base, home=tmp_path))
    assert keyless.returncode == 2
    assert keyless.stderr.count("\n") == 1
    assert "SYNCD_API_KEY" in keyless.stderr
