"""`syncd sandbox --profile NAME[,NAME]` as a user runs it."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import CANARY_KEY, run_syncd, sandbox_process

pytestmark = pytest.mark.acceptance


def test_unknown_profile_is_one_line_exit_2_naming_the_known_ones() -> None:
    result = run_syncd("sandbox", "--port", "0", "--profile", "string-ids,strict", timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--profile: unknown profile 'strict' (known: default, partial-nested," in lines[0]


def test_a_profiled_sandbox_answers_as_its_profiles_say() -> None:
    with sandbox_process(events=20, seed=2, extra=["--profile", "string-ids,bare-lists"]) as (_, base_url):
        client = httpx.Client(base_url=base_url, headers={"X-API-KEY": CANARY_KEY})
        with client:
            event_types = client.get("/panel/api/event-type/list").json()
            events = client.get("/panel/api/event/list").json()
    assert isinstance(event_types, list)
    assert isinstance(event_types[0]["id"], str)
    assert isinstance(events["items"][0]["id"], str)
