"""`syncd demo`: a real full sync from a local sandbox into an embedded PostgreSQL, then how to look.

It runs on its own ground whatever the settings say: a fresh data dir (a temporary one, removed at
the end, or `--keep DIR`) with its own embedded server, and its own sandbox on a free loopback port
with a one-off key. The user's database, API, queue, change feed and webhooks are never opened, so
no daemon serving a real account can see the demo's intents.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine, text

from syncd.api import ApiClient, OnResponse
from syncd.db import feed, migrate
from syncd.db.embedded import stop_embedded
from syncd.db.engine import Database, open_database
from syncd.engine_options import sync_options
from syncd.logs import redactor
from syncd.report import summary_table
from syncd.settings import ENV_PREFIX, Settings, read_config_file, standalone_settings
from syncd.sync import sync

log = structlog.get_logger(__name__)


def run_demo(configured: Settings, *, events: int, seed: int, keep: Path | None = None) -> int:
    """The demo in a fresh data dir: `keep` (new or empty) stays for exploring, else a temporary one goes.

    Of the configured settings only the log level and format are used."""
    # The sandbox is a development tool: only the CLI and the demo import it.
    from syncd.sandbox import Sandbox
    from syncd.sandbox.server import running

    started = time.monotonic()
    data_dir = keep if keep is not None else Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    fate = "kept for exploring" if keep is not None else "removed at the end"
    print(
        f"demo: a throwaway sandbox and embedded PostgreSQL in {data_dir}, {fate} "
        "(your settings and data are not used)",
        flush=True,
    )
    key = f"demo-{secrets.token_hex(12)}"
    redactor.add(key)
    sandbox = Sandbox(api_key=key, events=events, seed=seed)
    with ExitStack() as cleanup:
        if keep is None:
            cleanup.callback(shutil.rmtree, data_dir, ignore_errors=True)
        base_url = cleanup.enter_context(running(sandbox, host="127.0.0.1", port=0))
        settings = standalone_settings(
            data_dir=data_dir,
            api_url=base_url,
            api_key=key,
            api_rate_limit_per_s=0,  # the sandbox is ours and local: no politeness limit needed
            log_level=configured.log_level,
            log_format=configured.log_format,
        )
        print(f"1. sandbox: a SimplyMeet account with {events} events (seed {seed})")
        print(f"   listening on {base_url}/panel/api")
        database = cleanup.enter_context(_own_database(settings))
        print(f"2. database: {database.target} (embedded, in {data_dir})")
        before, after = migrate.upgrade(database.engine)
        print(f"   schema at {after}" + ("" if before == after else f" (upgraded from {before or 'empty'})"))
        print("3. a full sync of every resource into the mirror (schema simplymeet)")
        with settings.api_client() as client:
            summary = sync(database.engine, client, full=True, options=sync_options(settings))
            print("   " + summary_table(summary).replace("\n", "\n   "))
            print("4. a CRM's decisions, queued in syncd.write_intents and replayed to the API")
            replayed = _replay_some_decisions(database.engine, client, settings)
        print(
            "5. `syncd run` for a few seconds: scheduled runs, an intent replayed on its INSERT, "
            "and its change sent to a local webhook receiver"
        )
        daemon_ok = _run_daemon_briefly(settings, database.engine)
    print(f"done in {time.monotonic() - started:.1f} s.")
    if keep is None:
        syncd = f"{explore_prefix(configured)}syncd --data-dir DIR"
        print(f"{data_dir} is removed; `syncd demo --keep DIR` keeps the data to query it with psql:")
        print(f"   {syncd} db psql, {syncd} status")
    else:
        _print_how_to_explore(data_dir, configured)
    return 0 if summary.ok and replayed and daemon_ok else 1


@contextmanager
def _own_database(settings: Settings) -> Iterator[Database]:
    """The demo's embedded server, stopped when the demo ends (not at exit) so its data dir can go."""
    database: Database | None = None
    try:
        with open_database(settings, application_name="syncd-demo") as database:
            yield database
    finally:
        if database is not None and database.embedded is not None:
            stop_embedded(database.embedded)


def explore_prefix(configured: Settings) -> str:
    """What must precede `syncd --data-dir DIR ...` for it to reach DIR's embedded database in this
    environment: a configured database_url from SYNCD_DATABASE_URL or a SYNCD_CONFIG file would win
    over --data-dir, and an empty variable counts as unset."""
    if configured.database_url is None:
        return ""
    blank = []
    if os.environ.get(f"{ENV_PREFIX}DATABASE_URL"):
        blank.append(f"{ENV_PREFIX}DATABASE_URL=")
    config = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if config and "database_url" in read_config_file(Path(config)):
        blank.append(f"{ENV_PREFIX}CONFIG=")
    return "".join(f"{assignment} " for assignment in blank)


def _print_how_to_explore(data_dir: Path, configured: Settings) -> None:
    syncd = f"{explore_prefix(configured)}syncd --data-dir {shlex.quote(str(data_dir))}"
    print(f"The data is kept in {data_dir}; its embedded server starts again on demand. Connect with:")
    print(f"   {syncd} db psql")
    print(f"   {syncd} db psql -- -c 'SELECT state, count(*) FROM simplymeet.events GROUP BY 1'")
    print(f"   {syncd} db psql -- -c 'SELECT id, kind, event_id, status, attempts FROM syncd.write_intents'")
    print(f"   {syncd} changes tail --kind 'event.*'")
    print(f"   {syncd} status")
    print(f"Remove it with: rm -r {shlex.quote(str(data_dir))}")


def _replay_some_decisions(engine: Engine, client: ApiClient, settings: Settings) -> bool:
    """Cancel one upcoming event, note another, invite to a third; replay; show the mirror after."""
    from syncd.api.dispatcher import ApiDispatcher
    from syncd.db.intent_queue import PostgresIntentQueue
    from syncd.db.intents import enqueue
    from syncd.engine_options import replay_options
    from syncd.replay import replay_once

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
        start_of_feed = feed.last_change_id(conn)
    started = time.monotonic()
    options = replay_options(settings)
    queue, dispatcher = (
        PostgresIntentQueue(engine, options.api_timezone),
        ApiDispatcher(client, options.api_timezone),
    )
    result = replay_once(queue, dispatcher, options)
    print(f"   {result.line()} in {time.monotonic() - started:.2f} s")
    with engine.connect() as conn:
        for change in feed.read_changes(conn, start_of_feed):
            if change.origin.startswith("replay:"):
                print(
                    f"   change feed: #{change.id} {change.kind} {change.resource}/{change.object_id} ({change.origin})"
                )
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


def _run_daemon_briefly(settings: Settings, engine: Engine) -> bool:
    """The daemon's components in a thread (events every second, users every 2 s), one INSERT, a stop."""
    import threading
    from collections.abc import Callable

    from syncd.daemon import EXIT_OK, Daemon
    from syncd.db.webhooks import add_subscription, remove_subscription
    from syncd.webhooks import generate_secret, sign

    fast = settings.model_copy(
        # The demo's receiver is on 127.0.0.1: allowed here, as an operator would allow a local one.
        update={
            "schedule": {"events": 1, "users": 2},
            "leader_poll_s": 0.5,
            "health_port": 0,
            "webhook_allow_cidrs": ["127.0.0.0/8"],
        }
    )

    def client(on_response: OnResponse) -> ApiClient:
        return fast.api_client(on_response=on_response)

    with engine.connect() as conn:
        first_run = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM syncd.sync_runs")).scalar_one())
        event_id = conn.execute(
            text(
                "SELECT id FROM simplymeet.events WHERE state = 'active' AND deleted_at IS NULL ORDER BY id LIMIT 1"
            )
        ).scalar_one_or_none()

    def runs() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT resource, count(*) FROM syncd.sync_runs WHERE id > :first AND status = 'succeeded' "
                    "GROUP BY resource ORDER BY resource"
                ),
                {"first": first_run},
            ).all()
        return {str(r[0]): int(r[1]) for r in rows}

    def wait(condition: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    receiver = _Receiver()
    with engine.begin() as conn:
        secret = generate_secret()
        subscription = add_subscription(
            conn, receiver.url, secret, kinds=["event.*"], description="syncd demo (removed at its end)"
        )
    daemon = Daemon(fast, engine, client)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(daemon.run()), name="syncd-demo-run", daemon=True)
    started = time.monotonic()
    thread.start()
    latency: float | None = None
    try:
        wait(lambda: runs().get("events", 0) >= 2, 6)
        if event_id is not None:
            with engine.begin() as conn:
                intent_id = conn.execute(
                    text(
                        "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                        "VALUES ('notes', :id, CAST(:payload AS jsonb)) RETURNING id"
                    ),
                    {"id": event_id, "payload": '{"notes": "Noted while syncd run was running (demo)"}'},
                ).scalar_one()
            inserted = time.monotonic()

            def done() -> bool:
                with engine.connect() as conn:
                    status = conn.execute(
                        text("SELECT status FROM syncd.write_intents WHERE id = :id"), {"id": intent_id}
                    ).scalar_one()
                return bool(status == "succeeded")

            if wait(done, 5):
                latency = time.monotonic() - inserted
        wait(lambda: runs().get("events", 0) >= 3, 3)
        wait(lambda: bool(receiver.received), 3)
    finally:
        daemon.stop.set()
        thread.join(fast.shutdown_timeout_s + 5)
        daemon.client.close()
        receiver.close()
        with engine.begin() as conn:
            remove_subscription(conn, subscription.id)
    ran_s = time.monotonic() - started
    counts = runs()
    print(f"   ran {ran_s:.1f} s: scheduled runs " + ", ".join(f"{name} x{n}" for name, n in counts.items()))
    if latency is not None:
        print(f"   intent INSERT (notes, event {event_id}) replayed to the API in {latency * 1000:.0f} ms")
    else:
        print("   the intent was not replayed within 5 s")
    delivered = False
    for headers, body in receiver.received[:1]:
        event = json.loads(body)
        expected = sign(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
        delivered = hmac.compare_digest(expected, headers["webhook-signature"])
        print(
            f"   webhook: {event['type']} on {event['data']['resource']}/{event['data']['id']} POSTed to "
            f"{receiver.url}, signature {'valid' if delivered else 'INVALID'} ({len(receiver.received)} in all)"
        )
    if not receiver.received:
        print("   no webhook arrived within 3 s")
    stopped = bool(outcome) and outcome[0] == EXIT_OK
    print("   stopped cleanly (exit 0)" if stopped else "   did not stop cleanly")
    return stopped and delivered and latency is not None and latency < 1.0 and counts.get("events", 0) >= 2


class _Receiver:
    """A webhook receiver on a free loopback port, in a thread: records (headers, body), answers 204."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, name="syncd-demo-receiver", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
