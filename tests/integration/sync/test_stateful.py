"""Stateful property tests: Hypothesis drives upstream changes, syncs and write-backs under every profile.

Each example builds a small sandbox world under one variation profile (docs/sandbox.md), syncs it
into an emptied mirror, then runs a random sequence of steps: upstream mutations (create, cancel,
reschedule, notes, invite, no-show, delete, user and event type edits, an event answered malformed
for a while), syncd runs (incremental, full, interrupted mid-page then resumed, a full pass during
which an event is deleted upstream) and write intents replayed. After every step that ran syncd the
mirror is compared with the model (stateful_model.py, which reads upstream from the sandbox's world):

1. after a full sync, every live tracked object equals upstream in typed form, and exactly the
   objects gone upstream are marked deleted;
2. a sync writes a row only when it records a change for it, and records one only when the object
   moved to another upstream state: a sync after no upstream change writes and records nothing;
3. each change the mirror takes carries exactly the kinds that the move implies, once;
4. `event_history` holds one version per recorded state of each event, contiguous;
5. an object rejected (malformed) is never marked deleted, and is current again once served well;
6. a row only nested copies wrote keeps the fullest copy: while its object does not change upstream,
   no value it holds is lost or replaced, and a copy that adds nothing records no change.

`make test` runs a few derandomized examples per profile; `make test-deep` (HYPOTHESIS_PROFILE=deep,
SYNCD_DEEP_MINUTES) keeps drawing new ones for as long as it is given. Failing sequences found are
kept as plain tests in test_stateful_regressions.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import stamina
import structlog
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, select, text

from syncd.api import ApiClient
from syncd.db import feed, intents
from syncd.db.schema import metadata
from syncd.db.state import rejected_items
from syncd.replay import ReplayOptions, replay_once
from syncd.resources import RESOURCES
from syncd.sandbox import PROFILES, Sandbox
from syncd.sandbox.profiles import ACCOUNT_ZONE
from syncd.sync import SyncOptions, SyncSummary, sync
from tests.helpers import Clock, postgres_replay
from tests.integration.sync import stateful_model as model

pytestmark = pytest.mark.integration

API_KEY = "stateful-key-0b3e1f27"
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
EVENTS = 24  # with pages of 8: three pages, so passes cross page boundaries
ON_PAGE = 8
STEP_RESOURCES = tuple(RESOURCES[name] for name in model.TRACKED)

# Hypothesis profiles: `ci` for `make test` (fixed seed, a few examples per sandbox profile), `deep`
# for `make test-deep` (random, many more, repeated until SYNCD_DEEP_MINUTES is spent).
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("SYNCD_STATEFUL_EXAMPLES", "2")),
    stateful_step_count=15,
    derandomize=False,  # each profile's machine is seeded instead (below): fixed, but not all alike
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: a failure is reported as found
    database=None,  # nothing written to .hypothesis/; failures found are kept as regression tests
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile(
    "deep",
    # Per call: the test calls again until the profile's share of SYNCD_DEEP_MINUTES is spent, so the
    # run lasts about DEEP_MINUTES (25 examples a call made 20 minutes last two hours and more).
    max_examples=2,
    stateful_step_count=30,
    derandomize=False,
    # Shrinking 30-step sequences of syncs took tens of minutes: report what was found, as found.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
DEEP_MINUTES = float(os.environ.get("SYNCD_DEEP_MINUTES", "0"))

# Figures for the deep run's report: examples, steps, rules and invariant checks, per profile (printed
# at the end of every run by conftest.py's terminal summary, with -s also after each profile's test).
FIGURES = model.FIGURES


def truncate_all(engine: Engine) -> None:
    """Every mirror and syncd table emptied, ids restarted: a fresh database in ~50 ms."""
    names = ", ".join(t.fullname for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


class Upstream(httpx.BaseTransport):
    """The sandbox as syncd reaches it, with switches a step turns on: a connection lost from some
    page of a full pass on, an event answered malformed for its next reads, and a hook run when a
    pass asks for its second page (an upstream change mid-pass)."""

    def __init__(self, sb: Sandbox) -> None:
        self.inner = sb.transport()
        self.fail_from_page: int | None = None
        self.malformed: dict[str, int] = {}  # event id -> reads still answered malformed
        self.mid_pass: Callable[[], None] | None = None
        self.on_list: Callable[[], None] | None = None  # after every event list answer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/event/list"):
            page = int(request.url.params.get("page", "1"))
            by_id = request.url.params.get("orderField") == "id"
            if self.fail_from_page is not None and by_id and page >= self.fail_from_page:
                raise httpx.ReadError("injected: the connection broke mid-pass", request=request)
            if self.mid_pass is not None and by_id and page >= 2:
                hook, self.mid_pass = self.mid_pass, None
                hook()
        response = self.inner.handle_request(request)
        if self.on_list is not None and path.endswith("/event/list"):
            self.on_list()  # the upstream may have moved while answering (silent-changes, shifting-pages)
        if self.malformed and path.endswith("/event/list") and response.status_code == 200:
            import json

            body = json.loads(response.read())
            items = body.get("items", []) if isinstance(body, dict) else body
            touched = False
            for item in items:
                key = str(item.get("id"))
                if self.malformed.get(key, 0) > 0:
                    self.malformed[key] -= 1
                    item["duration"] = f"{item.get('duration')} min"  # a documented int, the wrong type
                    touched = True
            if touched:
                headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
                return httpx.Response(
                    200, headers=headers, content=json.dumps(body).encode(), request=request
                )
        return response


class Snapshot:
    """Upstream before a step that runs syncd, and the feed's position then."""

    def __init__(self, before: dict[model.Key, dict[str, Any]], change_id: int) -> None:
        self.before = before
        self.change_id = change_id


def machine_for(profile_name: str, engine: Engine) -> type[RuleBasedStateMachine]:
    profile = PROFILES[profile_name]
    zone = ACCOUNT_ZONE if profile.datetimes == "local" else "UTC"
    wall_clock = ZoneInfo(ACCOUNT_ZONE) if profile.datetimes == "local" else None
    figures = FIGURES.setdefault(profile_name, Counter())

    class SyncMachine(RuleBasedStateMachine):
        """One sandbox world under `profile_name`, its mirror, and the model of what the mirror holds."""

        def __init__(self) -> None:
            super().__init__()
            self.clock = Clock(ANCHOR + dt.timedelta(hours=1))
            self.sb: Sandbox | None = None
            self.client: ApiClient | None = None
            # What the mirror holds by the model: the upstream object it last took (None: deleted).
            self.held: dict[model.Key, dict[str, Any] | None] = {}
            self.last_mirror: dict[model.Key, model.MirrorRow] = {}
            self.during: dict[model.Key, list[dict[str, Any]]] = {}  # upstream states seen mid-step
            self.rejected: set[model.Key] = set()
            self.nested: dict[model.Key, model.Typed] = {}  # rows only nested copies wrote, as they were
            self.nested_upstream: dict[model.Key, dict[str, Any] | None] = {}  # their object upstream then
            self.options = SyncOptions(on_page=ON_PAGE, api_timezone=zone)
            figures["examples"] += 1

        def teardown(self) -> None:
            if self.client is not None:
                self.client.close()

        # -------------------------------------------------------------- the world

        @initialize(seed=st.integers(1, 2**16))
        def build(self, seed: int) -> None:
            truncate_all(engine)
            self.sb = Sandbox(
                api_key=API_KEY, events=EVENTS, seed=seed, anchor=ANCHOR, clock=self.clock, profile=profile
            )
            self.upstream_transport = Upstream(self.sb)
            self.upstream_transport.on_list = self.record_during
            self.client = ApiClient(
                "http://sandbox",
                API_KEY,
                transport=self.upstream_transport,
                rate_limit_per_s=None,
                max_attempts=3,
            )
            self.direct = httpx.Client(
                transport=self.sb.transport(),
                base_url="http://sandbox/panel/api",
                headers={"X-API-KEY": API_KEY},
            )
            snap = self.snapshot()
            summary = sync(engine, self.client, None, full=True, options=self.options, clock=self.clock)
            self.observe(snap, "init", summary)

        def world(self) -> Any:
            assert self.sb is not None
            return self.sb.world

        def tick(self, seconds: int = 7) -> None:
            self.clock.advance(seconds=seconds)

        def live_events(self, *states: str) -> list[int]:
            w = self.world()
            with w.lock:
                return sorted(i for i, e in w.events.items() if not states or e.state in states)

        def upstream_write(self, method: str, path: str, body: Any = None) -> int:
            """A change by someone else, through the API (the profile's rules apply, e.g. silent notes)."""
            figures["upstream writes"] += 1
            return self.direct.request(method, path, json=body).status_code

        # -------------------------------------------------------------- upstream mutations

        @rule(pick=st.integers(0, 10**6))
        def create_event(self, pick: int) -> None:
            self.tick()
            self.world().add_event()
            figures["rule create"] += 1

        @rule(
            pick=st.integers(0, 10**6), reason=st.sampled_from([None, "", "Le client a annulé ☂", "x" * 300])
        )
        def cancel(self, pick: int, reason: str | None) -> None:
            ids = self.live_events("active", "no_show")
            if ids:
                self.tick()
                self.upstream_write(
                    "PUT",
                    f"/event/cancel/{ids[pick % len(ids)]}",
                    {} if reason is None else {"reason": reason},
                )
                figures["rule cancel"] += 1

        @rule(
            pick=st.integers(0, 10**6), days=st.integers(-30, 60), minutes=st.sampled_from([15, 30, 45, 90])
        )
        def reschedule(self, pick: int, days: int, minutes: int) -> None:
            ids = self.live_events("active", "no_show")
            if ids:
                self.tick()
                event = self.world().events[ids[pick % len(ids)]]
                start = ANCHOR + dt.timedelta(days=days, hours=10)
                body = {
                    "start": start.strftime("%Y-%m-%d %H:%M:%S"),
                    "end": (start + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S"),
                    "eventTypeId": event.eventType,
                }
                self.upstream_write("PUT", f"/event/reschedule/{event.id}", body)
                figures["rule reschedule"] += 1

        @rule(
            pick=st.integers(0, 10**6),
            notes=st.sampled_from(["", "call back", '«ünïcødé» \\ "q" 📅', "n" * 2100]),
        )
        def notes(self, pick: int, notes: str) -> None:
            ids = self.live_events()
            if ids:
                self.tick()
                self.upstream_write("PUT", f"/event/notes/{ids[pick % len(ids)]}", {"notes": notes})
                figures["rule notes"] += 1

        @rule(pick=st.integers(0, 10**6), who=st.integers(0, 5))
        def invite(self, pick: int, who: int) -> None:
            ids = self.live_events("active", "no_show")
            if ids:
                self.tick()
                self.upstream_write(
                    "POST",
                    f"/event/invite-participants/{ids[pick % len(ids)]}",
                    {"emails": [f"guest{who}@example.com"]},
                )
                figures["rule invite"] += 1

        @rule(pick=st.integers(0, 10**6))
        def no_show(self, pick: int) -> None:
            ids = self.live_events("active")
            if ids:
                self.tick()
                self.upstream_write("PUT", f"/event/no-show/{ids[pick % len(ids)]}")
                figures["rule no-show"] += 1

        @rule(pick=st.integers(0, 10**6))
        def delete(self, pick: int) -> None:
            ids = self.live_events()
            if len(ids) > 3:
                self.tick()
                self.upstream_write("DELETE", f"/event/{ids[pick % len(ids)]}")
                figures["rule delete"] += 1

        @rule(pick=st.integers(0, 10**6), name=st.sampled_from(["Ann Ō'Brien", "Иван", "陈", "Zoë 🎉"]))
        def edit_user(self, pick: int, name: str) -> None:
            w = self.world()
            ids = sorted(w.users)
            self.tick()
            w.set_user_field(ids[pick % len(ids)], "fullName", name)
            figures["rule user edit"] += 1

        @rule(
            pick=st.integers(0, 10**6),
            name=st.sampled_from(["phone", "address", "city", "domain"]),
            value=st.sampled_from([None, None, "+33 1 23 45 67 89"]),
        )
        def set_user_optional_field(self, pick: int, name: str, value: str | None) -> None:
            """A user clears (or fills) an optional field: cleared, it is null, or left out under
            absent-optional, where a direct read must take it as null, not keep the stored value."""
            w = self.world()
            ids = sorted(w.users)
            self.tick()
            w.set_user_field(ids[pick % len(ids)], name, value)
            figures["rule user optional field"] += 1

        @rule(pick=st.integers(0, 10**6), name=st.sampled_from(["Intro call", "Démo produit", "相談 30分"]))
        def edit_event_type(self, pick: int, name: str) -> None:
            w = self.world()
            with w.lock:
                ids = sorted(w.event_types)
                w.event_types[ids[pick % len(ids)]].name = name
                w.directory_changed()
            self.tick()
            figures["rule event type edit"] += 1

        @rule(pick=st.integers(0, 10**6), reads=st.integers(1, 3))
        def malformed_for_a_while(self, pick: int, reads: int) -> None:
            """The API answers an event with a wrong-typed field on its next `reads` list reads."""
            ids = self.live_events()
            if ids:
                self.upstream_transport.malformed[str(ids[pick % len(ids)])] = reads
                figures["rule malformed"] += 1

        # -------------------------------------------------------------- syncd

        @rule()
        def sync_incremental(self) -> None:
            self.run_sync("incremental", full=False)

        @rule()
        def sync_full(self) -> None:
            self.run_sync("full", full=True)

        @rule(page=st.integers(2, 4))
        def sync_full_interrupted(self, page: int) -> None:
            """A full pass loses its connection from `page` on; the next sync resumes it."""
            self.upstream_transport.fail_from_page = page
            try:
                self.run_sync("interrupted", full=True)
            finally:
                self.upstream_transport.fail_from_page = None
            self.run_sync("resumed", full=False)

        @rule(pick=st.integers(0, 10**6))
        def sync_full_while_deleted(self, pick: int) -> None:
            """An event before the current page vanishes mid-pass: later items slide back a place."""
            ids = self.live_events()
            if len(ids) > 3:
                doomed = ids[pick % min(len(ids), ON_PAGE)]  # on the first page
                self.upstream_transport.mid_pass = lambda: self.world().remove_event(doomed)
                try:
                    self.run_sync("full", full=True)
                finally:
                    self.upstream_transport.mid_pass = None

        @rule(
            pick=st.integers(0, 10**6),
            kind=st.sampled_from(["cancel", "notes", "invite", "no_show", "reschedule", "delete"]),
        )
        def replay_intent(self, pick: int, kind: str) -> None:
            """A CRM decision queued in syncd.write_intents and replayed to the API (read back after)."""
            ids = self.live_events()
            if not ids:
                return
            event_id = ids[pick % len(ids)]
            payload: dict[str, Any] = {
                "cancel": {"reason": "by the CRM"},
                "notes": {"notes": f"from the CRM {pick}"},
                "invite": {"emails": [f"crm{pick % 7}@example.com"]},
                "no_show": {},
                "delete": {},
                "reschedule": {"start": "2026-12-24 09:00:00", "end": "2026-12-24 09:30:00"},
            }[kind]
            self.tick()
            with engine.begin() as conn:
                intents.enqueue(conn, kind, event_id, payload)
            snap = self.snapshot()
            assert self.client is not None
            queue, dispatcher = postgres_replay(engine, self.client, zone)
            replay_once(queue, dispatcher, ReplayOptions(concurrency=1, api_timezone=zone))
            self.observe(snap, "replay", None)
            figures["rule replay"] += 1

        def run_sync(self, mode: str, *, full: bool) -> SyncSummary:
            assert self.client is not None
            self.tick(3)
            snap = self.snapshot()
            summary = sync(
                engine, self.client, STEP_RESOURCES, full=full, options=self.options, clock=self.clock
            )
            self.observe(snap, mode, summary)
            figures[f"sync {mode}"] += 1
            return summary

        # -------------------------------------------------------------- checking

        def record_during(self) -> None:
            """Every state an event had while syncd read: a pass may read one between two changes."""
            for key, dto in model.upstream(self.sb).items():  # type: ignore[arg-type]
                states = self.during.setdefault(key, [])
                if key[0] == "events" and (not states or states[-1] != dto):
                    states.append(dto)

        def snapshot(self) -> Snapshot:
            self.during = {}
            with engine.connect() as conn:
                return Snapshot(model.upstream(self.sb), feed.last_change_id(conn))  # type: ignore[arg-type]

        def typed(self, key: model.Key, dto: dict[str, Any]) -> model.Typed:
            if wall_clock is not None:  # what the wire can say (docs/sync.md, "What the API may send")
                dto = model.through_wall_clock(dto, wall_clock)
            return model.typed_form(key[0], dto)

        def observe(self, snap: Snapshot, mode: str, summary: SyncSummary | None) -> None:
            """The checks after a step that ran syncd; the model then holds what the mirror holds."""
            after = model.upstream(self.sb)  # type: ignore[arg-type]
            with engine.connect() as conn:
                mirror = model.read_mirror(conn)
                changes = feed.read_changes(conn, snap.change_id, limit=100_000)
                rejected = {
                    (row.resource, int(row.key))
                    for row in conn.execute(select(rejected_items.c.resource, rejected_items.c.key))
                    if row.resource in model.TRACKED and row.key is not None and row.key.isdigit()
                }
            previous = self.last_mirror
            by_object: dict[model.Key, list[feed.Change]] = {}
            for change in changes:
                if mode == "init" and change.resource not in model.TRACKED:
                    continue  # the first sync creates every resource's rows; only the tracked ones move later
                assert change.resource in model.TRACKED, (
                    f"{mode}: a change of an untouched resource: {change}"
                )
                by_object.setdefault((change.resource, int(change.object_id)), []).append(change)
            converged = mode in ("init", "full") and summary is not None and summary.ok
            keys = set(self.held) | set(snap.before) | set(after) | set(mirror)
            for key in sorted(keys):
                row = mirror.get(key)
                prior = self.held.get(key)
                seen = by_object.get(key, [])
                if row is not None and row.nested_only:
                    # Only ever seen nested (its direct read rejected): partial copies merge in, each
                    # a change of what the mirror knows (test_api_variations.py proves that rule).
                    self.check_nested_only(key, row, seen, after.get(key))
                    self.nested[key] = row.typed
                    self.nested_upstream[key] = after.get(key)
                    continue
                assert len(seen) <= 1, (
                    f"{mode}: {key} changed {len(seen)} times in one step: {[c.kinds for c in seen]}"
                )
                if key in rejected:
                    # Never deleted for being rejected; a delete intent on it may delete it, truly.
                    assert row is None or not row.deleted or key not in after, (
                        f"{mode}: rejected {key} was marked deleted"
                    )
                    figures["inv5 rejected: not deleted"] += 1
                if row is None:
                    assert key not in self.held, f"{mode}: {key} vanished from the mirror"
                    assert not seen, f"{mode}: a change of {key}, which the mirror does not hold"
                    continue
                if row.deleted:
                    assert key not in after, f"{mode}: {key} marked deleted but it is live upstream"
                    new: dict[str, Any] | None = None
                else:
                    candidates = [
                        c
                        for c in (prior, snap.before.get(key), *self.during.get(key, []), after.get(key))
                        if c is not None
                    ]
                    matching = [c for c in candidates if self.typed(key, c) == row.typed]
                    assert matching, (
                        f"{mode}: the mirror holds a state of {key} upstream never had: {diff(row.typed, [self.typed(key, c) for c in candidates])}"
                    )
                    figures["inv0 row is an upstream state"] += 1
                    new = matching[0]
                # A direct read taking over a row nested copies wrote: a change only if it says more.
                taken_over = key in self.nested and key not in self.held
                if taken_over:
                    moved = row.typed != self.nested[key]
                else:
                    moved = (
                        key not in self.held
                        or (prior is None) != (new is None)
                        or (
                            prior is not None
                            and new is not None
                            and self.typed(key, prior) != self.typed(key, new)
                        )
                    )
                if moved:
                    kinds = model.implied_kinds(key[0], prior, new)
                    if taken_over and new is not None:
                        kinds = [f"{model.SINGULAR[key[0]]}.updated"]  # a direct read takes over
                    assert len(seen) == 1, (
                        f"{mode}: {key} moved ({kinds}) but {len(seen)} changes were recorded: "
                        + diff(row.typed, [self.nested[key] if taken_over else self.typed(key, prior or {})])
                    )
                    assert sorted(seen[0].kinds) == sorted(kinds), (
                        f"{mode}: {key}: kinds {seen[0].kinds}, implied {kinds}"
                    )
                    assert seen[0].kind == kinds[min(1, len(kinds) - 1)], (
                        f"{mode}: {key}: kind {seen[0].kind}, implied {kinds}"
                    )
                    figures["inv3 moved: implied kinds, once"] += 1
                else:
                    earlier = previous.get(key)
                    if earlier is not None and not taken_over:
                        assert row.xmin == earlier.xmin, (
                            f"{mode}: {key} did not move, yet its row was written"
                        )
                    assert not seen, (
                        f"{mode}: {key} did not move, yet a change was recorded: {seen[0].kinds} {sorted(seen[0].fields or {})}"
                    )
                    figures["inv2 unmoved: no write, no change"] += 1
                self.held[key] = new
                figures["objects checked"] += 1
            if converged:
                for key in sorted(set(after) | set(snap.before)):
                    stable = snap.before.get(key) == after.get(key)
                    if not stable or key in rejected:
                        continue
                    row = mirror.get(key)
                    if key in after:
                        assert row is not None, f"full: {key} is live upstream, not in the mirror"
                        assert not row.deleted, f"full: {key} is live upstream, not in the mirror"
                        assert row.typed == self.typed(key, after[key]), (
                            f"full: {key} differs from upstream: {diff(row.typed, [self.typed(key, after[key])])}"
                        )
                        figures["inv1 full: live object equals upstream"] += 1
                    else:
                        assert row is None or row.deleted, f"full: {key} is gone upstream, live in the mirror"
                        figures["inv1 full: gone object marked deleted"] += 1
                figures["full syncs compared"] += 1
            self.check_history()
            self.rejected = rejected
            self.last_mirror = mirror

        def check_nested_only(
            self, key: model.Key, row: model.MirrorRow, seen: list[feed.Change], now: dict[str, Any] | None
        ) -> None:
            """A row only nested copies wrote keeps the fullest copy: while its object does not change
            upstream, a value it holds is never lost nor replaced, and a copy that adds nothing is no
            change (a thinner copy written over a fuller one would flip it at every sync)."""
            earlier = self.nested.get(key)
            if earlier is None or key not in self.nested_upstream or self.nested_upstream[key] != now:
                return
            for i, (was, is_) in enumerate(zip(earlier[0], row.typed[0], strict=True)):
                assert was is None or was == is_, (
                    f"nested-only {key}: column {i} was {was!r}, a copy made it {is_!r} (upstream unchanged)"
                )
            if row.typed == earlier:
                assert not seen, (
                    f"nested-only {key}: no new field, yet a change was recorded: {seen[0].kinds}"
                )
            figures["inv6 nested-only: fullest copy kept"] += 1

        def check_history(self) -> None:
            with engine.connect() as conn:
                versions = conn.execute(
                    text(
                        "SELECT id, valid_from, valid_to FROM simplymeet.event_history ORDER BY id, valid_from, version_id"
                    )
                ).all()
                recorded = dict(
                    conn.execute(
                        text(
                            "SELECT object_id::bigint, count(*) FROM syncd.changes WHERE resource = 'events' AND kind <> 'event.deleted' GROUP BY 1"
                        )
                    ).all()
                )
            by_event: dict[int, list[Any]] = {}
            for v in versions:
                by_event.setdefault(v.id, []).append(v)
            for key, held in self.held.items():
                if key[0] != "events":
                    continue
                rows = by_event.get(key[1], [])
                assert len(rows) == recorded.get(key[1], 0), (
                    f"event {key[1]}: {len(rows)} versions, {recorded.get(key[1], 0)} states recorded"
                )
                for earlier, later in itertools.pairwise(rows):
                    assert earlier.valid_to == later.valid_from, (
                        f"event {key[1]}: a gap or overlap in its history: {earlier} then {later}"
                    )
                    assert earlier.valid_from <= earlier.valid_to
                open_ = [r for r in rows if r.valid_to is None]
                assert len(open_) == (0 if held is None else 1), f"event {key[1]}: {len(open_)} open versions"
                if open_:
                    assert rows[-1].valid_to is None, f"event {key[1]}: the open version is not the last"
                figures["inv4 history: one version per state, contiguous"] += 1
            figures["history checks"] += 1

        @invariant()
        def rejected_are_not_deleted(self) -> None:
            figures["steps"] += 1  # invariants are checked after every step
            for key in self.rejected:
                row = self.last_mirror.get(key)
                assert row is None or not row.deleted or key not in model.upstream(self.sb)  # type: ignore[arg-type]

        @precondition(lambda self: self.sb is not None)
        @rule()
        def settle(self) -> None:
            """Full syncs until nothing is rejected (malformed answers heal): then all is current."""
            for _ in range(4):
                self.run_sync("full", full=True)
                if not self.rejected:
                    break
            assert not self.rejected, f"still rejected after 4 full syncs: {sorted(self.rejected)}"
            figures["inv5 settled: nothing rejected, all current"] += 1

    SyncMachine.__name__ = f"SyncMachine_{profile_name.replace('-', '_')}"
    if HYPOTHESIS_PROFILE == "ci":
        return seed(zlib.crc32(profile_name.encode()))(SyncMachine)  # type: ignore[no-any-return]
    return SyncMachine


def diff(mirror: model.Typed, upstream: list[model.Typed]) -> str:
    """The first difference between the mirror's typed form and each candidate's, for the message."""
    lines = []
    for candidate in upstream:
        for i, (a, b) in enumerate(zip(mirror[0], candidate[0], strict=True)):
            if a != b:
                lines.append(f"column {i}: mirror {a!r} upstream {b!r}")
                break
        else:
            for (name, rows_a), (_n, rows_b) in zip(mirror[1], candidate[1], strict=True):
                if rows_a != rows_b:
                    lines.append(f"{name}: mirror {rows_a!r} upstream {rows_b!r}")
                    break
    return "; ".join(lines)[:1500]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """No retry waits, and warnings only: thousands of syncs would otherwise log every page."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.mark.parametrize("profile_name", list(PROFILES))
def test_the_mirror_follows_upstream(profile_name: str, engine: Engine) -> None:
    machine = machine_for(profile_name, engine)
    chosen = settings.get_profile(HYPOTHESIS_PROFILE)
    deadline = time.monotonic() + DEEP_MINUTES * 60 / len(PROFILES)
    while True:
        run_state_machine_as_test(machine, settings=chosen)
        if time.monotonic() >= deadline:
            break
    figures = FIGURES[profile_name]
    print(f"\nstateful {profile_name}: " + ", ".join(f"{k} {v}" for k, v in sorted(figures.items())))
