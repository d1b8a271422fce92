"""`syncd demo`: everything that exists, end to end, against a local sandbox and the configured database.

It needs no settings: the sandbox runs on a free loopback port with a one-off key, and the database
is the embedded one unless `database_url` says otherwise.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syncd.api import ApiClient
from syncd.db import migrate
from syncd.db.engine import open_database
from syncd.logs import redactor
from syncd.settings import Settings

log = structlog.get_logger(__name__)


@dataclass
class Tally:
    what: str
    count: int
    requests: int


def _walk_account(client: ApiClient) -> list[Tally]:
    """Read every readable object once, as the mirror will, and count what came back."""
    tallies: list[Tally] = []

    def paged(what: str, endpoint: str) -> None:
        count = requests = 0
        for page in client.iter_pages(endpoint, on_page=100):
            count += len(page.items)
            requests += 1
        tallies.append(Tally(what, count, requests))

    def single(what: str, read: Callable[[], object]) -> None:
        answer = read()
        count = len(answer) if isinstance(answer, list) else 1
        tallies.append(Tally(what, count, 1))

    paged("events", "event.list")
    paged("event types", "event_type.list")
    paged("polls", "poll.list")
    single("users", client.list_users)
    single("user event type tags", client.user_event_type_tags)
    single("ACL rules", client.acl_rules)
    single("organization cancellation policy", lambda: client.cancellation_policy("organization"))
    single("user cancellation policy", lambda: client.cancellation_policy("user"))
    integrations = client.integrations()
    tallies.append(
        Tally("integrations", sum(len(v) for v in integrations.values() if isinstance(v, list)), 1)
    )
    return tallies


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
        print("3. reading the whole account through the API client")
        with ApiClient(base_url, key) as client:
            tallies = _walk_account(client)
        width = max(len(t.what) for t in tallies)
        for tally in tallies:
            print(
                f"   {tally.what:<{width}}  {tally.count:>6}  ({tally.requests} request{'s' * (tally.requests != 1)})"
            )
        print(f"done in {time.monotonic() - started:.1f} s.")
        print("The mirror tables arrive with `syncd sync` (next release). To look at the database now:")
        print("   syncd db psql" + ("" if database.embedded else f"    or    {database.psql_hint()}"))
    return 0
