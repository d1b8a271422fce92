"""A sandbox with a movable clock, a client on its in-process transport, and helpers to queue and inspect intents."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stamina
from sqlalchemy import Engine, text

from syncd.api import ApiClient
from syncd.db.mirror_tables import table_for
from syncd.replay import ReplayOptions, ReplaySummary, replay_once
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from syncd.sync import SyncOptions, sync
from tests.helpers import Clock, postgres_replay

API_KEY = "replay-it-key-3b9e7d10"
BASE_URL = "http://sandbox"
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
# Retries due almost at once, so a test moves from one pass to the next without waiting.
FAST = ReplayOptions(backoff_base_s=0.01, backoff_cap_s=0.02, concurrency=4)


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.fixture
def clock() -> Clock:
    return Clock(ANCHOR + dt.timedelta(hours=1))


@pytest.fixture
def sb(clock: Clock) -> Sandbox:
    return Sandbox(api_key=API_KEY, events=30, seed=11, anchor=ANCHOR, clock=clock)


@pytest.fixture
def client(sb: Sandbox) -> Iterator[ApiClient]:
    with ApiClient(BASE_URL, API_KEY, transport=sb.transport(), rate_limit_per_s=None, max_attempts=3) as api:
        yield api


@pytest.fixture
def mirrored(engine: Engine, client: ApiClient) -> None:
    """The mirror holds the events, as after a sync."""
    assert sync(engine, client, [RESOURCES["events"]], full=True, options=SyncOptions()).ok


Replay = Callable[..., ReplaySummary]


@pytest.fixture
def replay(engine: Engine, client: ApiClient) -> Replay:
    def go(options: ReplayOptions = FAST, **kwargs: Any) -> ReplaySummary:
        return replay_once(*postgres_replay(engine, kwargs.pop("client", client)), options, **kwargs)

    return go


def active_events(sb: Sandbox) -> list[int]:
    return [i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active"]


def enqueue(
    engine: Engine, kind: str, event_id: int, payload: dict[str, Any] | None = None, **extra: Any
) -> int:
    """A CRM's INSERT: kind, event_id, payload (and optional columns)."""
    columns = ["kind", "event_id", "payload", *extra]
    values = [":kind", ":event_id", "CAST(:payload AS jsonb)", *(f":{name}" for name in extra)]
    params = {"kind": kind, "event_id": event_id, "payload": json.dumps(payload or {}), **extra}
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    f"INSERT INTO syncd.write_intents ({', '.join(columns)}) VALUES ({', '.join(values)}) RETURNING id"
                ),
                params,
            ).scalar_one()
        )


def intent(engine: Engine, intent_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM syncd.write_intents WHERE id = :id"), {"id": intent_id}).one()
    return dict(row._mapping)


def attempts(engine: Engine, intent_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM syncd.intent_attempts WHERE intent_id = :id ORDER BY id"), {"id": intent_id}
        )
        return [dict(row._mapping) for row in rows]


def mirrored_event(engine: Engine, event_id: int) -> dict[str, Any] | None:
    table = table_for(RESOURCES["events"])
    with engine.connect() as conn:
        row = conn.execute(table.select().where(table.c.id == event_id)).one_or_none()
    return None if row is None else dict(row._mapping)


def calls_to(sb: Sandbox, fragment: str, method: str | None = None) -> int:
    return sum(1 for c in sb.calls if fragment in c.path and (method is None or c.method == method))
