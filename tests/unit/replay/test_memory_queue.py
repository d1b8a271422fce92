"""The queue contract (tests/queue_contract.py) on the in-memory queue the replay unit tests use."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from syncd.intent_queue import MemoryIntentQueue
from tests.queue_contract import *  # noqa: F403  # the contract's tests, collected here

pytestmark = pytest.mark.unit


class MemoryUnderTest:
    def __init__(self) -> None:
        self.queue = MemoryIntentQueue()

    def add(
        self,
        kind: str,
        event_id: int,
        payload: dict[str, Any],
        *,
        expected_updated_at: dt.datetime | None = None,
    ) -> int:
        return self.queue.add(kind, event_id, payload, expected_updated_at=expected_updated_at)

    def row(self, intent_id: int) -> dict[str, Any]:
        return dataclasses.asdict(self.queue.intents[intent_id])

    def attempts(self, intent_id: int) -> list[dict[str, Any]]:
        rows = sorted(self.queue.attempts_of(intent_id), key=lambda a: a.id)
        return [dataclasses.asdict(a) for a in rows]

    def mirrored(self, event_id: int) -> dict[str, Any] | None:
        event = self.queue.mirror.get(event_id)
        if event is None:
            return None
        return {"notes": event.get("notes"), "deleted": event_id in self.queue.deleted}

    def await_orphans(self) -> None:
        return None


@pytest.fixture
def subject() -> MemoryUnderTest:
    return MemoryUnderTest()
