"""`syncd demo`: a real full sync from a local sandbox into the configured database, then how to look.

It needs no settings: the sandbox runs on a free loopback port with a one-off key, and the database
is the embedded one unless `database_url` says otherwise.
"""

from __future__ import annotations

import secrets
import time

import structlog

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
        print(f"done in {time.monotonic() - started:.1f} s.")
        print("Query the mirror with psql (same settings as this command), for example:")
        print("   syncd db psql -- -c 'SELECT state, count(*) FROM simplymeet.events GROUP BY 1'")
        print("   syncd db psql -- -c 'SELECT resource, status, inserted, finished_at FROM syncd.sync_runs'")
        print("   syncd status")
    return 0 if summary.ok else 1
