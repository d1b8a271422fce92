"""`syncd demo`: a real full sync from a local sandbox into the configured database, then how to look.

It needs no settings: the sandbox runs on a free loopback port with a one-off key, and the database
is the embedded one unless `database_url` says otherwise.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from sqlalchemy import Engine, text

from syncd.api import ApiClient
from syncd.db import migrate
from syncd.db.engine import open_database
from syncd.logs import redactor
from syncd.report import summary_table
from syncd.settings import Settings
from syncd.sync import sync, sync_options

log = structlog.get_logger(__name__)


def run_demo(settings: Settings, *, events: int, seed: int) -> int:
    # The sandbox is a development tool: only the CLI and the demo import it.
    from syncd.sandbox import Sandbox
    from syncd.sandbox.server import running

    started = time.monotonic()
    key = f"demo-{secrets.token_hex(12)}"
    redactor.add(key)
    sandbox = Sandbox(api_key=key, events=events, seed=seed)
    print(f"1. sandbox: a SimplyMeet account with {events} events (seed {seed})")
    with running(sandbox, host="127.0.0.1", port=0) as base_url, open_database(settings) as database:
        print(f"   listening on {base_url}/panel/api")
        print(f"2. database: {database.target}{' (embedded)' if database.embedded else ''}")
        before, after = migrate.upgrade(database.engine)
        print(f"   schema at {after}" + ("" if before == after else f" (upgraded from {before or 'empty'})"))
        print("3. a full sync of every resource into the mirror (schema simplymeet)")
        # The sandbox is ours and local: no politeness limit needed.
        with settings.api_client(base_url=base_url, api_key=key, rate_limit_per_s=None) as client:
            summary = sync(database.engine, client, full=True, options=sync_options(settings))
            print("   " + summary_table(summary).replace("\n", "\n   "))
            print("4. a CRM's decisions, queued in syncd.write_intents and replayed to the API")
            replayed = _replay_some_decisions(database.engine, client, settings)
        print(f"done in {time.monotonic() - started:.1f} s.")
        print("Query the mirror with psql (same settings as this command), for example:")
        print("   syncd db psql -- -c 'SELECT state, count(*) FROM simplymeet.events GROUP BY 1'")
        print("   syncd db psql -- -c 'SELECT resource, status, inserted, finished_at FROM syncd.sync_runs'")
        print("   syncd db psql -- -c 'SELECT id, kind, event_id, status, attempts FROM syncd.write_intents'")
        print("   syncd status")
    return 0 if summary.ok and replayed else 1


def _replay_some_decisions(engine: Engine, client: ApiClient, settings: Settings) -> bool:
    """Cancel one upcoming event, note another, invite to a third; replay; show the mirror after."""
    from syncd.db.intents import enqueue
    from syncd.replay import replay_once, replay_options

    with engine.begin() as conn:
        upcoming = list(
            conn.execute(
                text(
                    "SELECT id FROM simplymeet.events WHERE state = 'active' AND scheduled_at > now() "
                    "AND deleted_at IS NULL ORDER BY scheduled_at LIMIT 3"
                )
            ).scalars()
        )
        if len(upcoming) < 3:
            print("   (fewer than 3 upcoming events in this world: skipped)")
            return True
        decisions: list[tuple[str, int, dict[str, Any]]] = [
            ("cancel", upcoming[0], {"reason": "Customer asked to cancel (demo)"}),
            ("notes", upcoming[1], {"notes": "Prefers a call in the morning (demo)"}),
            (
                "invite",
                upcoming[2],
                {"emails": ["account.manager@example.com"], "message": "Joining us (demo)"},
            ),
        ]
        for kind, event_id, payload in decisions:
            intent_id = enqueue(conn, kind, event_id, payload)
            print(f"   intent {intent_id}: {kind} event {event_id}")
    started = time.monotonic()
    result = replay_once(engine, client, replay_options(settings))
    print(f"   {result.line()} in {time.monotonic() - started:.2f} s")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.id, e.state, e.notes, "
                "(SELECT count(*) FROM simplymeet.event_participants p WHERE p.event_id = e.id) AS participants "
                "FROM simplymeet.events e WHERE e.id = ANY(:ids) ORDER BY e.id"
            ),
            {"ids": upcoming},
        ).all()
    for row in rows:
        print(
            f"   mirror now: event {row.id} state={row.state} notes={row.notes!r} participants={row.participants}"
        )
    return result.ok
