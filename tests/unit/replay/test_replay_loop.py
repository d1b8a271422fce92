"""The replay loop on the in-memory queue and a scripted API: no PostgreSQL, no HTTP.

Crash points (after the answer, after marking sent), settling in doubt by reading back, per-event
order, unsent refusals, batches split on a 4xx, the conflict guard, retries until exhausted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from syncd.dispatch import Decision, ReadFailed, Request
from syncd.intent_queue import ClaimedIntent, JsonObject, MemoryIntentQueue, MemorySession
from syncd.replay import ReplayOptions, ReplaySummary, replay_once

pytestmark = pytest.mark.unit

ONE = ReplayOptions(concurrency=1, backoff_base_s=0.0, backoff_cap_s=0.0, finish_hold_s=0.0)
MANY = ReplayOptions(concurrency=4, backoff_base_s=0.0, backoff_cap_s=0.0)
UPDATED = "2026-01-01T00:00:00+00:00"


class Busy(Exception):
    """A 503 before anything happened: transient."""


class Lost(Exception):
    """The answer never came: in doubt."""


class Refused(Exception):
    """A 422: rejected."""


class ScriptedApi:
    """The API's events, and per event the errors its next writes meet (`effect`: applied first)."""

    def __init__(self, *event_ids: int) -> None:
        self.events: dict[int, JsonObject] = {
            i: {"id": i, "state": "active", "notes": None, "updatedAt": UPDATED, "eventType": {"id": 5}}
            for i in event_ids
        }
        self.script: dict[int, list[tuple[BaseException, bool]]] = {}
        self.writes: list[tuple[str, list[int], Any]] = []
        self.reads = 0
        self.unreadable = False

    def fail(self, event_id: int, error: BaseException, *, effect: bool = False) -> None:
        self.script.setdefault(event_id, []).append((error, effect))

    def _write(self, kind: str, event_ids: list[int], value: Any) -> None:
        self.writes.append((kind, event_ids, value))
        for event_id in event_ids:
            steps = self.script.get(event_id)
            if steps:
                error, effect = steps.pop(0)
                if effect:
                    self._apply(kind, event_id, value)
                raise error
        for event_id in event_ids:
            self._apply(kind, event_id, value)

    def _apply(self, kind: str, event_id: int, value: Any) -> None:
        event = self.events[event_id]
        if kind == "notes":
            event["notes"] = value
        elif kind == "cancel":
            event["state"] = "canceled"

    # -- the Dispatcher contract ---------------------------------------------------------------------

    def single(self, intent: ClaimedIntent, event_type_id: Callable[[], int | None]) -> Request:
        value = intent.payload.get("notes") if intent.kind == "notes" else intent.payload.get("reason")
        if intent.kind == "notes" and not isinstance(value, str):
            raise ValueError("notes: must be a string")
        body = {intent.kind: value}
        return Request(
            "PUT",
            f"/{intent.kind}/{intent.event_id}",
            body,
            lambda: self._write(intent.kind, [intent.event_id], value),
        )

    def batch(self, kind: str, intents: Sequence[ClaimedIntent]) -> Request:
        ids = [i.event_id for i in intents]
        reason = intents[0].payload.get("reason")
        return Request("PUT", f"/{kind}-list", {"ids": ids}, lambda: self._write(kind, ids, reason))

    def decide(self, kind: str, error: BaseException | None) -> Decision:
        if error is None:
            return Decision("succeeded", 200)
        if isinstance(error, Busy):
            return Decision("transient", 503, "HTTP 503")
        if isinstance(error, Refused):
            return Decision("rejected", 422, "HTTP 422")
        return Decision("in_doubt", None, "the answer was lost")

    def read(self, event_id: int) -> JsonObject | None:
        self.reads += 1
        if self.unreadable:
            raise ReadFailed("HTTP 503", status=503, retryable=True)
        event = self.events.get(event_id)
        return dict(event) if event is not None else None

    def read_many(self, event_ids: Sequence[int]) -> dict[int, JsonObject]:
        return {i: found for i in event_ids if (found := self.read(i)) is not None}

    def read_request(self, event_id: int) -> dict[str, Any]:
        return {"method": "GET", "path": f"/event/{event_id}", "body": None}

    def applied(self, intent: ClaimedIntent, event: JsonObject | None) -> bool | None:
        if event is None:
            return False
        if intent.kind == "notes":
            return event.get("notes") == intent.payload.get("notes")
        return event.get("state") == "canceled"

    def updated_at(self, event: JsonObject) -> dt.datetime | None:
        return dt.datetime.fromisoformat(str(event["updatedAt"]))

    def writes_to(self, event_id: int) -> list[Any]:
        return [value for _, ids, value in self.writes if event_id in ids]


def run(queue: MemoryIntentQueue, api: ScriptedApi, options: ReplayOptions = ONE) -> ReplaySummary:
    return replay_once(queue, api, options)


def outcomes(queue: MemoryIntentQueue, intent_id: int) -> list[str | None]:
    return [a.outcome for a in sorted(queue.attempts_of(intent_id), key=lambda a: a.id)]


def test_writes_succeed_and_their_events_are_read_back_into_the_mirror() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1, 2)
    ids = [queue.add("notes", 1, {"notes": "a"}), queue.add("notes", 2, {"notes": "b"})]
    summary = run(queue, api)
    assert sorted(summary.succeeded) == ids
    assert summary.ok
    assert [queue.status(i) for i in ids] == ["succeeded", "succeeded"]
    assert {i: queue.mirror[i]["notes"] for i in (1, 2)} == {1: "a", 2: "b"}
    assert [outcomes(queue, i) for i in ids] == [["succeeded"], ["succeeded"]]
    assert queue.attempts_of(ids[0])[0].request == {
        "method": "PUT",
        "path": "/notes/1",
        "body": {"notes": "a"},
    }


def test_an_event_s_intents_go_in_order_whatever_the_workers() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1, 2, 3)
    for n in range(6):
        for event_id in (1, 2, 3):
            queue.add("notes", event_id, {"notes": f"{event_id}.{n}"})
    summary = run(queue, api, MANY)
    assert len(summary.succeeded) == 18
    for event_id in (1, 2, 3):
        assert api.writes_to(event_id) == [f"{event_id}.{n}" for n in range(6)]
        assert api.events[event_id]["notes"] == f"{event_id}.5"


def test_an_answer_lost_after_the_write_took_effect_is_settled_by_reading_back_never_resent() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add("notes", 1, {"notes": "once"})
    api.fail(1, Lost(), effect=True)
    first = run(queue, api)
    assert first.retrying == [intent_id]
    assert queue.intents[intent_id].sent_at is not None  # in doubt, kept for the next claim
    second = run(queue, api)
    assert second.settled == [intent_id]
    assert queue.status(intent_id) == "succeeded"
    assert api.writes_to(1) == ["once"]
    assert outcomes(queue, intent_id) == ["in_doubt", "settled_applied"]
    assert queue.mirror[1]["notes"] == "once"


def test_an_answer_lost_before_the_write_took_effect_is_sent_again_after_reading_back() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add("notes", 1, {"notes": "twice"})
    api.fail(1, Lost(), effect=False)
    run(queue, api)
    second = run(queue, api)
    assert second.succeeded == [intent_id]
    assert second.settled == []
    assert api.writes_to(1) == ["twice", "twice"]
    assert outcomes(queue, intent_id) == ["in_doubt", "settled_not_applied", "succeeded"]


def test_a_crash_after_the_answer_before_it_was_recorded_is_settled_not_resent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1, 2)
    ids = [queue.add("notes", 1, {"notes": "a"}), queue.add("notes", 2, {"notes": "b"})]
    recorded = MemorySession.succeed

    def crash(self: MemorySession, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the process died before the commit")

    monkeypatch.setattr(MemorySession, "succeed", crash)
    with pytest.raises(RuntimeError, match="before the commit"):
        run(queue, api, ReplayOptions(concurrency=1, finish_group=10, finish_hold_s=60.0))
    assert [queue.status(i) for i in ids] == ["in_flight", "in_flight"]
    monkeypatch.setattr(MemorySession, "succeed", recorded)
    summary = run(queue, api)
    assert sorted(summary.taken_over) == ids
    assert sorted(summary.settled) == ids
    assert api.writes_to(1) == ["a"]
    assert api.writes_to(2) == ["b"]


def test_a_crash_after_marking_sent_before_the_call_sends_it_once_after_settling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add("notes", 1, {"notes": "n"}, expected_updated_at=dt.datetime.fromisoformat(UPDATED))
    marked = MemorySession.mark_sent

    def crash(self: MemorySession, *args: Any, **kwargs: Any) -> Any:
        marked(self, *args, **kwargs)
        raise RuntimeError("the process died before the call")

    monkeypatch.setattr(MemorySession, "mark_sent", crash)
    with pytest.raises(RuntimeError, match="before the call"):
        run(queue, api)
    assert api.writes == []
    monkeypatch.setattr(MemorySession, "mark_sent", marked)
    summary = run(queue, api)
    assert summary.taken_over == [intent_id]
    assert summary.succeeded == [intent_id]
    assert api.writes_to(1) == ["n"]
    assert outcomes(queue, intent_id) == [None, "settled_not_applied", "succeeded"]


def test_a_request_that_cannot_be_built_is_rejected_at_once_and_unsent() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    bad = queue.add("notes", 1, {"notes": 5})
    after = queue.add("notes", 1, {"notes": "next"})
    summary = run(queue, api)
    assert summary.failed == [bad]
    assert queue.intents[bad].failure_reason == "rejected"
    assert "request not sent: ValueError: notes: must be a string" in (queue.intents[bad].last_error or "")
    [attempt] = queue.attempts_of(bad)
    assert (attempt.request, attempt.outcome) == (None, "rejected")
    assert summary.succeeded == [after]  # its event's next intent does not wait behind it
    assert api.writes_to(1) == ["next"]


def test_a_rejected_list_call_is_split_so_only_the_bad_intent_fails() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1, 2, 3)
    ids = [queue.add("cancel", i, {"reason": "r"}) for i in (1, 2, 3)]
    api.fail(2, Refused())  # the list call
    api.fail(2, Refused())  # and then the call alone
    summary = run(queue, api, ReplayOptions(concurrency=1, batch_size=10))
    assert api.writes[0] == ("cancel", [1, 2, 3], "r")
    assert summary.failed == [ids[1]]
    assert sorted(summary.succeeded) == [ids[0], ids[2]]
    assert [api.events[i]["state"] for i in (1, 2, 3)] == ["canceled", "active", "canceled"]


def test_the_conflict_guard_fails_an_intent_whose_event_changed_upstream() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add(
        "notes", 1, {"notes": "n"}, expected_updated_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    summary = run(queue, api)
    assert summary.failed == [intent_id]
    assert queue.intents[intent_id].failure_reason == "conflict"
    assert api.writes == []
    assert outcomes(queue, intent_id) == ["conflict"]


def test_transient_errors_are_retried_until_the_attempts_are_used_up() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add("notes", 1, {"notes": "n"})
    for _ in range(3):
        api.fail(1, Busy())
    options = ReplayOptions(concurrency=1, max_attempts=2, backoff_base_s=0.0, backoff_cap_s=0.0)
    assert run(queue, api, options).retrying == [intent_id]
    assert run(queue, api, options).failed == [intent_id]
    assert queue.intents[intent_id].failure_reason == "exhausted"
    assert outcomes(queue, intent_id) == ["transient", "transient"]


def test_an_unreadable_event_in_doubt_costs_no_attempt_and_is_retried() -> None:
    queue, api = MemoryIntentQueue(), ScriptedApi(1)
    intent_id = queue.add("notes", 1, {"notes": "n"})
    api.fail(1, Lost(), effect=True)
    run(queue, api)
    api.unreadable = True
    assert run(queue, api).retrying == [intent_id]
    assert queue.intents[intent_id].attempts == 1
    assert queue.intents[intent_id].sent_at is not None
    api.unreadable = False
    assert run(queue, api).settled == [intent_id]


def test_the_loop_imports_neither_the_database_nor_http() -> None:
    """replay.py depends on the two seams only: every import it makes is named here."""
    import ast
    from pathlib import Path

    import syncd.replay

    tree = ast.parse(Path(syncd.replay.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    syncd_modules = {name for name in imported if name and name.startswith("syncd")}
    assert syncd_modules == {
        "syncd.dispatch",
        "syncd.intent_kinds",
        "syncd.intent_queue",
        "syncd.logs",
        "syncd.retry",
    }
    assert not {
        name for name in imported if name and name.split(".")[0] in ("sqlalchemy", "httpx", "psycopg")
    }
