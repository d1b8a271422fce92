"""`syncd.intents`, the Python API, on a real database: the same rules as the SQL INSERT, transactions,
idempotency, status, waiting, a least-privilege writer, and docs/python-api.md's example run as it is
written (against the sandbox, with a replay follower carrying the intents)."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import structlog
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError

from syncd.api import ApiClient
from syncd.db.intents import grant_writer
from syncd.intents import (
    FINAL_STATUSES,
    IdempotencyKeyReused,
    IntentNotFound,
    IntentRefused,
    intent_status,
    queue_intent,
    wait_for,
)
from syncd.replay import ReplayOptions, follow
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from syncd.sync import SyncOptions, sync
from tests.helpers import REPO_ROOT, Clock, postgres_replay, url_for_env

pytestmark = pytest.mark.integration

API_KEY = "python-api-it-key-61c0d2e5"
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def _sql_refusal(engine: Engine, kind: str, event_id: int, payload: Any) -> str:
    """What the database says to a CRM's plain INSERT of this intent."""
    with engine.connect() as conn, pytest.raises(IntegrityError) as caught:
        conn.execute(
            text(
                "INSERT INTO syncd.write_intents (kind, event_id, payload) VALUES (:k, :e, CAST(:p AS jsonb))"
            ),
            {"k": kind, "e": event_id, "p": json.dumps(payload)},
        )
    original = caught.value.orig
    assert isinstance(original, psycopg.errors.CheckViolation)
    return str(original.diag.message_primary)


@pytest.mark.parametrize(
    ("kind", "event_id", "payload"),
    [
        ("uncancel", 1, {}),
        ("cancel", 0, {}),
        ("notes", 7, {}),
        ("cancel", 7, {"reason": 5}),
        ("reschedule", 7, {"start": "2031-03-01 10:00:00", "end": "2031-03-01 09:00:00"}),
        ("invite", 7, {"emails": ["ann@example.com", "bob@"]}),
        ("notes", 7, ["not", "an", "object"]),
        ("reschedule", 7, {"start": "2020-03-01T10:00:00Z", "end": "2020-03-01T11:00:00Z"}),
    ],
)
def test_a_refusal_is_the_one_the_sql_insert_gets(
    engine: Engine, kind: str, event_id: int, payload: Any
) -> None:
    expected = _sql_refusal(engine, kind, event_id, payload)
    with pytest.raises(IntentRefused) as refused:
        queue_intent(engine, kind, event_id, payload)
    assert refused.value.message == expected
    assert str(refused.value).startswith("write intent refused: ")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM syncd.write_intents")).scalar_one() == 0


def test_allow_past_queues_a_reschedule_into_the_past(engine: Engine) -> None:
    past = {"start": "2020-03-01 10:00:00", "end": "2020-03-01 11:00:00"}
    with pytest.raises(IntentRefused, match='"start" is in the past'):
        queue_intent(engine, "reschedule", 7, past)
    intent = intent_status(engine, queue_intent(engine, "reschedule", 7, past, allow_past=True))
    assert (intent.payload, intent.allow_past) == (past, True)
    assert intent_status(engine, queue_intent(engine, "cancel", 7)).allow_past is False


def test_queue_then_read_the_status(engine: Engine) -> None:
    first = queue_intent(engine, "cancel", 4711)  # no payload: {}
    second = queue_intent(
        engine, "reschedule", 4711, {"start": "2031-03-03 14:00:00", "end": "2031-03-03 14:30:00"}
    )
    assert second == first + 1
    intent = intent_status(engine, first)
    assert (intent.kind, intent.event_id, intent.payload, intent.status, intent.attempts) == (
        "cancel",
        4711,
        {},
        "pending",
        0,
    )
    assert intent.status not in FINAL_STATUSES
    with pytest.raises(IntentNotFound, match="there is no intent 999"):
        intent_status(engine, 999)


def test_the_same_key_is_one_decision(engine: Engine) -> None:
    first = queue_intent(engine, "notes", 7, {"notes": "a"}, idempotency_key="crm-1")
    assert queue_intent(engine, "notes", 7, {"notes": "a"}, idempotency_key="crm-1") == first
    with pytest.raises(IdempotencyKeyReused, match=f"'crm-1' already names intent {first}"):
        queue_intent(engine, "notes", 7, {"notes": "b"}, idempotency_key="crm-1")


def test_on_a_connection_the_intents_share_the_callers_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        queue_intent(conn, "no_show", 7)
        with pytest.raises(IntentRefused):
            queue_intent(conn, "notes", 7, {})  # refused, and the transaction is still usable
        queue_intent(conn, "delete", 8)
        conn.rollback()
    with engine.begin() as conn:
        kept = [queue_intent(conn, "no_show", 7), queue_intent(conn, "delete", 8)]
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM syncd.write_intents ORDER BY id")).scalars().all()
    assert ids == kept


def test_wait_for_gives_up_naming_the_intent_and_its_status(engine: Engine) -> None:
    intent_id = queue_intent(engine, "no_show", 7)
    with pytest.raises(TimeoutError, match=rf"intent {intent_id} is still pending after 0.2 s"):
        wait_for(engine, intent_id, timeout_s=0.2, poll_s=0.05)


def test_wait_for_returns_a_final_intent_at_once(engine: Engine) -> None:
    intent_id = queue_intent(engine, "no_show", 7)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE syncd.write_intents SET status = 'withdrawn' WHERE id = :id"), {"id": intent_id}
        )
    assert wait_for(engine, intent_id, timeout_s=0).status == "withdrawn"


@pytest.fixture
def writer_role(database_url: URL) -> Iterator[str]:
    name = f"syncd_test_api_writer_{uuid.uuid4().hex[:8]}"
    libpq = url_for_env(database_url.set(drivername="postgresql"))
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_a_least_privilege_writer_can_use_the_api(engine: Engine, writer_role: str) -> None:
    with engine.begin() as conn:
        grant_writer(conn, writer_role)
    with engine.begin() as conn:
        conn.execute(text(f'SET LOCAL ROLE "{writer_role}"'))
        intent_id = queue_intent(conn, "notes", 7, {"notes": "from the CRM"}, idempotency_key="k-1")
        assert queue_intent(conn, "notes", 7, {"notes": "from the CRM"}, idempotency_key="k-1") == intent_id
        with pytest.raises(IntentRefused):
            queue_intent(conn, "notes", 7, {"text": "wrong key"})
        assert intent_status(conn, intent_id).status == "pending"


# --- the documented example ------------------------------------------------------------------------


def _python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)


def test_the_documented_example_runs_as_written(
    engine: Engine, database_url: URL, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(ANCHOR + dt.timedelta(hours=1))
    sb = Sandbox(api_key=API_KEY, events=20, seed=3, anchor=ANCHOR, clock=clock)
    stop = threading.Event()
    # Only the example's own prints reach stdout: every log line (sync, replay) is captured.
    with (
        structlog.testing.capture_logs(),
        ApiClient("http://sandbox", API_KEY, transport=sb.transport(), rate_limit_per_s=None) as api,
    ):
        assert sync(engine, api, [RESOURCES["events"]], full=True, options=SyncOptions(), clock=clock).ok
        replaying = threading.Thread(
            target=follow,
            args=(
                *postgres_replay(engine, api),
                stop,
                ReplayOptions(backoff_base_s=0.01, backoff_cap_s=0.02, sweep_s=0.2),
            ),
            daemon=True,
        )
        replaying.start()
        monkeypatch.setenv("SYNCD_DATABASE_URL", url_for_env(database_url))
        blocks = _python_blocks((REPO_ROOT / "docs" / "python-api.md").read_text(encoding="utf-8"))
        assert len(blocks) == 2
        namespace: dict[str, Any] = {"__name__": "python_api_example"}
        try:
            for block in blocks:
                exec(compile(block, "docs/python-api.md", "exec"), namespace)  # noqa: S102  # our own docs
        finally:
            stop.set()
            replaying.join(timeout=30)
    assert not replaying.is_alive()

    printed = capsys.readouterr().out.splitlines()
    event_id, intent_id = namespace["event_id"], namespace["intent_id"]
    assert printed[0] == f"queued {intent_id} pending"
    assert printed[1].startswith(
        'refused: write intent refused: reschedule payload "end" must be after "start"'
    )
    assert printed[2] == "succeeded 1 None"
    assert printed[3] == f"queued together {namespace['invite_id']} {namespace['notes_id']}"
    assert sb.world.event_dto(event_id)["notes"] in (
        "Customer asked for the Tuesday slot.",
        "Account manager invited.",
    )
    with engine.connect() as conn:
        queued = conn.execute(text("SELECT id, kind, event_id FROM syncd.write_intents ORDER BY id")).all()
    assert [tuple(row) for row in queued] == [
        (intent_id, "notes", event_id),
        (namespace["invite_id"], "invite", event_id),
        (namespace["notes_id"], "notes", event_id),
    ]
