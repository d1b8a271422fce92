"""Real deliveries against the published JSON Schemas: the sandbox synced into a real database, changes
made upstream, each change POSTed to a receiver on 127.0.0.1, every body validated against the
schema of its `type` (docs/webhook-schemas/)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import Engine

from syncd.api import ApiClient
from syncd.resources import RESOURCES
from syncd.sandbox import Sandbox
from syncd.sync import SyncOptions, sync
from syncd.webhook_schemas import DIRECTORY, INDEX
from syncd.webhooks import deliver_due, send_test
from tests.helpers import REPO_ROOT, Clock
from tests.integration.webhooks.conftest import FAST, subscribe
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration

API_KEY = "schemas-it-key-8d1f4c27"
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


def _published() -> dict[str, Draft202012Validator]:
    """The committed files, as a receiver would load them: kind -> validator, through the index."""
    directory = REPO_ROOT / DIRECTORY
    index = json.loads((directory / INDEX).read_text(encoding="utf-8"))
    return {
        kind: Draft202012Validator(
            json.loads((directory / name).read_text(encoding="utf-8")),
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for kind, name in index["kinds"].items()
    }


@pytest.fixture
def clock() -> Clock:
    return Clock(ANCHOR + dt.timedelta(hours=1))


@pytest.fixture
def sb(clock: Clock) -> Sandbox:
    return Sandbox(api_key=API_KEY, events=40, seed=14, anchor=ANCHOR, clock=clock)


@pytest.fixture
def api(sb: Sandbox) -> Iterator[ApiClient]:
    with ApiClient("http://sandbox", API_KEY, transport=sb.transport(), rate_limit_per_s=None) as client:
        yield client


def test_every_delivered_payload_matches_the_schema_of_its_type(
    engine: Engine, sb: Sandbox, api: ApiClient, clock: Clock, client: httpx.Client, receiver: Receiver
) -> None:
    validators = _published()
    subscription_id, _ = subscribe(engine, receiver.url)

    def run(*names: str) -> None:
        resources = [RESOURCES[name] for name in names] if names else None
        assert sync(engine, api, resources, full=True, options=SyncOptions(), clock=clock).ok

    run()  # every resource: created
    active = [i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active"]
    cancelled, moved, noted, invited, no_show, gone, edited, both = active[:8]
    clock.advance(minutes=5)
    sb.world.cancel_event(cancelled, "the invitee cancelled")
    sb.world.set_event_field(moved, "scheduledAt", clock.now + dt.timedelta(days=3))
    sb.world.set_event_field(noted, "notes", "bring the contract ☕")
    api.call("event.invite", path_params={"id": invited}, body={"emails": ["new.person@example.com"]})
    sb.world.set_event_field(no_show, "state", "no_show")
    sb.world.remove_event(gone)
    sb.world.set_event_field(edited, "location", "Room 4")
    sb.world.set_event_field(both, "scheduledAt", clock.now + dt.timedelta(days=4))
    sb.world.set_event_field(both, "notes", "moved, see notes")
    sb.world.add_event()
    user_id = sb.world.event_dto(active[0])["user"]["id"]
    sb.world.set_user_field(user_id, "fullName", "Renamed Owner")
    run("events", "users")

    while True:  # a pass sends a batch per subscription; the first sync made more
        summary = deliver_due(engine, client, FAST)
        assert summary.failed == 0
        if not summary.more:
            break
    # A ping too, recorded by the same receiver.
    assert send_test(engine, client, subscription_id).ok

    bodies = [request.json for request in receiver.received]
    failures = {
        f"{body['type']} {body['data'].get('id')}": [
            e.message for e in validators[body["type"]].iter_errors(body)
        ]
        for body in bodies
    }
    assert {where: errors for where, errors in failures.items() if errors} == {}

    seen = Counter(body["type"] for body in bodies)
    expected = {
        "event.created", "event.updated", "event.cancelled", "event.rescheduled", "event.notes_changed",
        "event.participants_added", "event.no_show", "event.deleted", "user.updated", "webhook.test",
    }  # fmt: skip
    expected |= {f"{resource.object_name}.created" for resource in RESOURCES.values()}
    missing = expected - set(seen)
    assert not missing, f"no delivery of {sorted(missing)} (seen: {dict(seen)})"
    kinds_of_both = [b["data"]["kinds"] for b in bodies if b["data"].get("id") == str(both)]
    assert kinds_of_both[-1] == ["event.updated", "event.rescheduled", "event.notes_changed"]
