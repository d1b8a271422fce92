"""`syncd sync` and `syncd status` as a user runs them, against `syncd sandbox`."""

from __future__ import annotations

import datetime as dt
import json
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
        r"^events\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d+s\s+120\s+0\s+0\s+succeeded \(incremental, "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)",
        status.stdout,
        re.M,
    ), status.stdout
    as_json = run_syncd("status", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["leader"] is None
    assert document["intents"] == {
        "by_status": {"pending": 0, "in_flight": 0, "succeeded": 0, "failed": 0, "withdrawn": 0},
        "oldest_pending_age_s": None,
    }
    [events] = [r for r in document["resources"] if r["resource"] == "events"]
    assert (events["live"], events["deleted"], events["rejected"]) == (120, 0, 0)
    assert events["last_run"]["status"] == "succeeded"
    assert events["last_run"]["mode"] == "incremental"
    assert events["last_run"]["counts"]["unchanged"] == 100
    assert dt.datetime.fromisoformat(events["last_success_at"]).tzinfo is not None
    for result in (first, second, status, as_json):
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
