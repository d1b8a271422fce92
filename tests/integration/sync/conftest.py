"""A sandbox with a frozen, movable clock, a client on its in-process transport, and a sync runner."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stamina
from sqlalchemy import Engine, select

from syncd.api import ApiClient
from syncd.db.mirror_tables import table_for
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from syncd.sync import SyncOptions, SyncSummary, sync
from tests.helpers import Clock
from tests.integration.sync.stateful_model import FIGURES

API_KEY = "sync-it-key-5f0c2a91"
BASE_URL = "http://sandbox"
EVENTS = 250  # three pages of 100
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """What the stateful tests ran and checked (test_stateful.py), per profile and in all, with or without -s."""
    if not FIGURES:
        return
    total: Counter[str] = Counter()
    terminalreporter.section("stateful tests: examples, steps, rules, invariants checked")
    for name, figures in FIGURES.items():
        total.update(figures)
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.items())))
    terminalreporter.write_line(
        f"all {len(FIGURES)} profiles: " + ", ".join(f"{k} {v}" for k, v in sorted(total.items()))
    )


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    # attempts only caps; each client's max_attempts decides. Waits become 0.
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock(ANCHOR + dt.timedelta(hours=1))


@pytest.fixture
def sb(clock: Clock) -> Sandbox:
    return Sandbox(api_key=API_KEY, events=EVENTS, seed=5, anchor=ANCHOR, clock=clock)


@pytest.fixture
def client(sb: Sandbox) -> Iterator[ApiClient]:
    with ApiClient(
        BASE_URL, API_KEY, transport=sb.transport(), rate_limit_per_s=None, max_attempts=10
    ) as api:
        yield api


Run = Callable[..., SyncSummary]


@pytest.fixture
def run(engine: Engine, client: ApiClient, clock: Clock) -> Run:
    """`run("events", full=True, page_source=...)`: one sync of the named resources (all when none)."""

    def go(*names: str, **kwargs: Any) -> SyncSummary:
        kwargs.setdefault("options", SyncOptions())
        kwargs.setdefault("clock", clock)
        resources = [RESOURCES[n] for n in names] if names else None
        return sync(engine, kwargs.pop("client", client), resources, **kwargs)

    return go


def mirrored_events(engine: Engine) -> dict[int, dict[str, Any]]:
    """Event id -> {raw, deleted_at} as the mirror holds it."""
    table = table_for(RESOURCES["events"])
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.raw, table.c.deleted_at)).all()
    return {row.id: {"raw": row.raw, "deleted_at": row.deleted_at} for row in rows}


def live_ids(engine: Engine) -> set[int]:
    return {i for i, row in mirrored_events(engine).items() if row["deleted_at"] is None}


def event_pages_read(sb: Sandbox) -> list[str]:
    return [call.query for call in sb.calls if call.path.endswith("/event/list") and call.status == 200]
