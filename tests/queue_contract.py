"""The write-intent queue's contract (`syncd.intent_queue`), one suite for every queue.

A ring's test module imports these tests and defines a `subject` fixture: a `QueueUnderTest` over
the in-memory queue (tests/unit/replay/test_memory_queue.py) or over PostgreSQL
(tests/integration/intents_queue/test_postgres_queue.py). The replay engine's unit tests run on the
in-memory queue; these tests are what make that stand for PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import pytest

from syncd.intent_queue import AttemptAnswer, Claim, ClaimedIntent, IntentQueue, QueueSession
from syncd.replay import batch_key
from syncd.sandbox import Sandbox

AUDIT = {"method": "PUT", "path": "/panel/api/event/notes/1", "body": {"notes": "n"}}


class QueueUnderTest(Protocol):
    queue: IntentQueue

    def add(
        self,
        kind: str,
        event_id: int,
        payload: dict[str, Any],
        *,
        expected_updated_at: dt.datetime | None = None,
    ) -> int: ...

    def row(self, intent_id: int) -> dict[str, Any]:
        """status, attempts, sent_at, failure_reason, last_error."""
        ...

    def attempts(self, intent_id: int) -> list[dict[str, Any]]:
        """attempt, request, outcome, status_code, answer_excerpt, duration_ms, error; in order."""
        ...

    def mirrored(self, event_id: int) -> dict[str, Any] | None:
        """notes and deleted (bool) of the mirror's copy; None when the mirror lacks it."""
        ...

    def await_orphans(self) -> None:
        """Until sessions that ended are seen to have ended."""
        ...


def an_event() -> dict[str, Any]:
    sandbox = Sandbox(api_key="contract-key-0123456789", events=3, seed=5)
    return sandbox.world.event_dto(sandbox.world.event_ids()[0])


def nothing_ready(claimed: list[ClaimedIntent]) -> None:
    return None


def claim(session: QueueSession, queue: IntentQueue, companions: int = 0) -> Claim:
    return session.claim(queue.now(), companions, batch_key, nothing_ready)


def ids(found: Claim) -> list[int]:
    return [intent.id for intent in found.intents]


def test_claims_go_in_id_order_and_one_event_at_a_time(subject: QueueUnderTest) -> None:
    first = subject.add("notes", 1, {"notes": "a"})
    second = subject.add("notes", 1, {"notes": "b"})
    other = subject.add("notes", 2, {"notes": "c"})
    with subject.queue.session() as session:
        assert ids(claim(session, subject.queue)) == [first]
        assert ids(claim(session, subject.queue)) == [other]  # the second waits behind the first
        assert ids(claim(session, subject.queue)) == []
        session.succeed([first])
        claimed = claim(session, subject.queue)
        assert ids(claimed) == [second]
        assert claimed.intents[0].payload == {"notes": "b"}
        assert claimed.intents[0].in_doubt is False
        session.fail(second, "rejected", "no")
        session.fail(other, "rejected", "no")
    assert subject.row(first)["status"] == "succeeded"
    assert subject.row(second)["status"] == "failed"


def test_a_retried_intent_is_not_due_before_its_time(subject: QueueUnderTest) -> None:
    intent_id = subject.add("notes", 1, {"notes": "a"})
    with subject.queue.session() as session:
        claim(session, subject.queue)
        session.retry(intent_id, 3600.0, "HTTP 503", in_doubt=False)
        assert ids(claim(session, subject.queue)) == []
        next_due = subject.queue.seconds_until_next_due()
        assert next_due is not None
        assert 3500 < next_due <= 3600
        later = subject.queue.now() + dt.timedelta(hours=2)
        found = session.claim(later, 0, batch_key, nothing_ready)
        assert ids(found) == [intent_id]
        assert found.intents[0].last_error == "HTTP 503"
        session.fail(intent_id, "rejected", None)
    assert subject.queue.seconds_until_next_due() is None


def test_companions_share_kind_and_reason_and_are_never_guarded(subject: QueueUnderTest) -> None:
    first = subject.add("cancel", 1, {"reason": "r"})
    same = subject.add("cancel", 2, {"reason": "r"})
    other_reason = subject.add("cancel", 3, {"reason": "other"})
    notes = subject.add("notes", 4, {"notes": "n"})
    guarded = subject.add(
        "cancel", 5, {"reason": "r"}, expected_updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    also = subject.add("cancel", 6, {"reason": "r"})
    with subject.queue.session() as session:
        assert ids(claim(session, subject.queue, companions=10)) == [first, same, also]
        limited = [subject.add("cancel", 7, {"reason": "r"}), subject.add("cancel", 8, {"reason": "r"})]
        subject.add("cancel", 9, {"reason": "r"})
        assert ids(claim(session, subject.queue, companions=0)) == [
            other_reason
        ]  # alone: no companions asked
        assert ids(claim(session, subject.queue, companions=1)) == [notes]  # notes have no list call
        assert ids(claim(session, subject.queue, companions=1)) == [guarded]  # guarded: alone
        assert ids(claim(session, subject.queue, companions=1)) == limited


def test_ready_marks_the_claim_sent_in_the_same_step(subject: QueueUnderTest) -> None:
    intent_id = subject.add("notes", 1, {"notes": "n"})
    asked: list[list[int]] = []

    def ready(claimed: list[ClaimedIntent]) -> dict[str, Any]:
        asked.append([i.id for i in claimed])
        return AUDIT

    with subject.queue.session() as session:
        found = session.claim(subject.queue.now(), 0, batch_key, ready)
        assert asked == [[intent_id]]
        assert found.sent is not None
        assert found.sent[intent_id].number == 1
        row = subject.row(intent_id)
        assert (row["status"], row["attempts"], row["sent_at"] is not None) == ("in_flight", 1, True)
        [attempt] = subject.attempts(intent_id)
        assert (attempt["attempt"], attempt["request"], attempt["outcome"]) == (1, AUDIT, None)
        session.finish_attempts(
            [found.sent[intent_id].row_id],
            outcome="rejected",
            status_code=422,
            error="HTTP 422: bad",
            duration_ms=7,
        )
        session.fail(intent_id, "rejected", "HTTP 422: bad")
    [attempt] = subject.attempts(intent_id)
    assert (attempt["outcome"], attempt["status_code"], attempt["error"], attempt["duration_ms"]) == (
        "rejected",
        422,
        "HTTP 422: bad",
        7,
    )
    row = subject.row(intent_id)
    assert (row["status"], row["failure_reason"], row["last_error"]) == (
        "failed",
        "rejected",
        "HTTP 422: bad",
    )


def test_a_session_acts_only_on_what_it_holds(subject: QueueUnderTest) -> None:
    first = subject.add("notes", 1, {"notes": "a"})
    second = subject.add("notes", 2, {"notes": "b"})
    with subject.queue.session() as mine, subject.queue.session() as theirs:
        assert ids(claim(mine, subject.queue)) == [first]
        assert ids(claim(theirs, subject.queue)) == [second]  # never the same one
        assert theirs.mark_sent([first], AUDIT) == {}
        theirs.fail(first, "rejected", "not mine")
        theirs.retry(first, 0.0, "not mine", in_doubt=False)
        theirs.succeed([first])
        assert subject.row(first)["status"] == "in_flight"
        assert subject.attempts(first) == []
        mine.succeed([first])
        theirs.succeed([second])
    assert subject.row(first)["status"] == subject.row(second)["status"] == "succeeded"


@pytest.mark.parametrize("in_doubt", [True, False])
def test_a_retry_keeps_sent_at_only_when_in_doubt(subject: QueueUnderTest, in_doubt: bool) -> None:
    intent_id = subject.add("notes", 1, {"notes": "a"})
    with subject.queue.session() as session:
        claim(session, subject.queue)
        sent = session.mark_sent([intent_id], AUDIT)
        assert sent[intent_id].number == 1
        session.finish_attempts(
            [sent[intent_id].row_id], outcome="in_doubt", status_code=None, error="cut", duration_ms=1
        )
        session.retry(intent_id, 0.0, "cut", in_doubt=in_doubt)
        row = subject.row(intent_id)
        assert (row["status"], row["attempts"], row["sent_at"] is not None) == ("pending", 1, in_doubt)
        again = claim(session, subject.queue)
        assert ids(again) == [intent_id]
        assert again.intents[0].in_doubt is in_doubt
        assert again.intents[0].attempts == 1
        session.fail(intent_id, "exhausted", "cut")


def test_success_closes_the_attempts_and_fills_the_mirror(subject: QueueUnderTest) -> None:
    event = an_event()
    noted = subject.add("notes", event["id"], {"notes": "n"})
    deleted = subject.add("delete", 99_999, {})
    with subject.queue.session() as session:
        assert ids(claim(session, subject.queue)) == [noted]
        assert ids(claim(session, subject.queue)) == [deleted]
        sent = session.mark_sent([noted, deleted], AUDIT)
        session.record_attempt(noted, 1, AUDIT, outcome="settled_not_applied", status_code=200, duration_ms=3)
        session.succeed(
            [noted, deleted],
            answers=[
                AttemptAnswer(sent[noted].row_id, 200, None, 12),
                AttemptAnswer(sent[deleted].row_id, 404, "already gone", 9),
            ],
            events=[{**event, "notes": "n"}],
            deleted_event_ids=[99_999],
        )
        assert session.mirror_event_type_id(event["id"]) == event["eventType"]["id"]
        assert session.mirror_event_type_id(123_456) is None
    assert subject.row(noted)["status"] == subject.row(deleted)["status"] == "succeeded"
    assert [(a["outcome"], a["status_code"], a["duration_ms"]) for a in subject.attempts(noted)] == [
        ("succeeded", 200, 12),
        ("settled_not_applied", 200, 3),
    ]
    assert [(a["outcome"], a["answer_excerpt"]) for a in subject.attempts(deleted)] == [
        ("succeeded", "already gone")
    ]
    assert subject.mirrored(event["id"]) == {"notes": "n", "deleted": False}


def test_an_abandoned_session_leaves_orphans_that_the_next_pass_takes_over(subject: QueueUnderTest) -> None:
    sent_id = subject.add("notes", 1, {"notes": "a"})
    held_id = subject.add("notes", 2, {"notes": "b"})

    def die_holding_two() -> None:
        with subject.queue.session() as session:
            claim(session, subject.queue)
            claim(session, subject.queue)
            session.mark_sent([sent_id], AUDIT)
            raise RuntimeError("the worker died")

    with pytest.raises(RuntimeError, match="the worker died"):
        die_holding_two()
    subject.await_orphans()
    assert subject.queue.take_over_orphans() == ([held_id], [sent_id])
    assert subject.queue.take_over_orphans() == ([], [])
    with subject.queue.session() as session:
        found = claim(session, subject.queue)
        assert ids(found) == [sent_id]
        assert found.intents[0].in_doubt is True  # to be settled by reading back, not sent again
        assert ids(claim(session, subject.queue)) == [held_id]
        session.succeed([sent_id, held_id])
