"""The queue contract (tests/queue_contract.py) on PostgreSQL: `syncd.db.intent_queue`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from sqlalchemy import Engine, text

from syncd.db.intent_queue import PostgresIntentQueue
from syncd.db.intents import enqueue
from tests.queue_contract import *  # noqa: F403  # the contract's tests, collected here

pytestmark = pytest.mark.integration


class PostgresUnderTest:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.queue = PostgresIntentQueue(engine)

    def add(
        self,
        kind: str,
        event_id: int,
        payload: dict[str, Any],
        *,
        expected_updated_at: dt.datetime | None = None,
    ) -> int:
        with self.engine.begin() as conn:
            return enqueue(conn, kind, event_id, payload, expected_updated_at=expected_updated_at)

    def row(self, intent_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(text("SELECT * FROM syncd.write_intents WHERE id = :id"), {"id": intent_id})
            return dict(found.one()._mapping)

    def attempts(self, intent_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT * FROM syncd.intent_attempts WHERE intent_id = :id ORDER BY id"),
                {"id": intent_id},
            )
            return [dict(row._mapping) for row in found]

    def mirrored(self, event_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT notes, deleted_at IS NOT NULL AS deleted FROM simplymeet.events WHERE id = :id"),
                {"id": event_id},
            ).one_or_none()
        return None if found is None else dict(found._mapping)

    def await_orphans(self) -> None:
        """An invalidated session leaves pg_stat_activity within moments, not at once."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                left = conn.execute(
                    text(
                        "SELECT count(*) FROM syncd.write_intents AS w WHERE w.status = 'in_flight' "
                        "AND EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = w.claimed_pid)"
                    )
                ).scalar_one()
            if not left:
                return
            time.sleep(0.02)
        raise AssertionError("the abandoned session is still alive")


@pytest.fixture
def subject(engine: Engine) -> PostgresUnderTest:
    return PostgresUnderTest(engine)
