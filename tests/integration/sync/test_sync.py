"""The sync engine against the sandbox (in process) and a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import Engine, func, select, text
from structlog.testing import capture_logs

from syncd.api import ApiClient, ApiKeyRefused, ApiUnreachable, Page
from syncd.db import state
from syncd.db.mirror_tables import table_for
from syncd.resources import RESOURCES, SYNCED
from syncd.sandbox import Sandbox
from syncd.sync import PageSource, SyncOptions, concurrent_pages, sequential_pages
from tests.integration.sync.conftest import (
    API_KEY,
    BASE_URL,
    EVENTS,
    Clock,
    Run,
    event_pages_read,
    live_ids,
    mirrored_events,
)

pytestmark = pytest.mark.integration


def _runs(engine: Engine, resource: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(state.sync_runs)
            .where(state.sync_runs.c.resource == resource)
            .order_by(state.sync_runs.c.id)
        )
        return [dict(row._mapping) for row in rows]


def _count(engine: Engine, resource: str, *, live: bool = True) -> int:
    table = table_for(RESOURCES[resource])
    with engine.connect() as conn:
        where = table.c.deleted_at.is_(None) if live else table.c.deleted_at.is_not(None)
        return int(conn.execute(select(func.count()).select_from(table).where(where)).scalar_one())


def _assert_mirror_equals_upstream(sb: Sandbox, engine: Engine) -> None:
    mirrored = mirrored_events(engine)
    upstream = sb.world.event_ids()
    assert live_ids(engine) == set(upstream)
    for event_id in upstream:
        assert mirrored[event_id]["raw"] == sb.world.event_dto(event_id), event_id


def test_first_sync_lands_every_resource(sb: Sandbox, engine: Engine, run: Run) -> None:
    summary = run()
    assert summary.ok, [(o.resource, o.error) for o in summary.failed]
    assert [o.resource for o in summary.outcomes] == [r.name for r in SYNCED]
    assert all(o.mode == "full" for o in summary.outcomes)
    _assert_mirror_equals_upstream(sb, engine)
    events = next(o for o in summary.outcomes if o.resource == "events")
    assert (events.counts.inserted, events.counts.updated, events.counts.rejected) == (EVENTS, 0, 0)
    assert events.counts.pages == 3
    for resource in SYNCED:
        assert _count(engine, resource.name) > 0, resource.name
    assert _count(engine, "cancellation_policies") == 2
    assert _count(engine, "event_type_availability") == 14 * _count(engine, "event_types")
    for resource in SYNCED:
        [only] = _runs(engine, resource.name)
        assert only["status"] == "succeeded"
        assert only["finished_at"] is not None
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM syncd.pass_seen")).scalar_one() == 0


def test_second_sync_with_nothing_changed_reads_one_event_page(sb: Sandbox, engine: Engine, run: Run) -> None:
    assert run().ok
    sb.calls.clear()
    summary = run()
    assert summary.ok
    assert len(event_pages_read(sb)) == 1
    events = next(o for o in summary.outcomes if o.resource == "events")
    assert events.mode == "incremental"
    assert (events.counts.inserted, events.counts.updated, events.counts.pages) == (0, 0, 1)
    for outcome in summary.outcomes:
        assert outcome.counts.inserted == outcome.counts.updated == outcome.counts.deleted == 0, outcome


# --- helpers that meddle ----------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for the process dying: nothing in syncd catches a BaseException."""


def after_pages(
    n: int, then: Any, source: PageSource = sequential_pages, endpoint: str = "event.list"
) -> PageSource:
    """A page source that runs `then()` once `n` pages of `endpoint` were handed over (and so stored)."""

    def pages(
        client: ApiClient, name: str, params: Mapping[str, object], on_page: int, start_page: int
    ) -> Iterator[Page]:
        for count, page in enumerate(source(client, name, params, on_page, start_page), start=1):
            yield page
            if name == endpoint and count == n:
                then()

    return pages


def _raise(exc: BaseException) -> Any:
    def go() -> None:
        raise exc

    return go


class Tamper(httpx.BaseTransport):
    """Wraps the sandbox's transport: `edit(request, response)` may replace an answer."""

    def __init__(self, inner: httpx.BaseTransport, edit: Any) -> None:
        self.inner, self.edit, self.count = inner, edit, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        response = self.inner.handle_request(request)
        response.read()
        return self.edit(request, response, self.count) or response


def _client(sb: Sandbox, edit: Any, **kwargs: Any) -> ApiClient:
    kwargs = {"rate_limit_per_s": None, "max_attempts": 10} | kwargs
    return ApiClient(BASE_URL, API_KEY, transport=Tamper(sb.transport(), edit), **kwargs)


def _active(sb: Sandbox, count: int) -> list[int]:
    found = [i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active"]
    return found[:count]


# --- incremental ------------------------------------------------------------------------------------


def test_incremental_picks_up_cancels_notes_reschedules_and_new_events(
    sb: Sandbox, engine: Engine, run: Run, client: ApiClient, clock: Clock
) -> None:
    assert run("users", "event_types", "events").ok
    clock.advance(minutes=30)
    canceled, noted, moved, upstream_canceled = _active(sb, 4)
    client.call("event.cancel", path_params={"id": canceled}, body={"reason": "no longer needed"})
    client.call("event.notes", path_params={"id": noted}, body={"notes": "bring the contract ✍️"})
    event_type = sb.world.event_dto(moved)["eventType"]["id"]
    times = {"start": "2026-12-01 10:00:00", "end": "2026-12-01 10:30:00", "eventTypeId": event_type}
    client.call("event.reschedule", path_params={"id": moved}, body=times)
    sb.world.cancel_event(upstream_canceled, "the invitee cancelled")
    added = sb.world.add_event()
    sb.calls.clear()

    [events] = run("events").outcomes
    assert (events.status, events.mode) == ("succeeded", "incremental")
    assert events.counts.inserted == 1
    assert events.counts.updated == 4
    assert len(event_pages_read(sb)) == 1
    _assert_mirror_equals_upstream(sb, engine)
    mirrored = mirrored_events(engine)
    assert mirrored[canceled]["raw"]["state"] == "canceled"
    assert mirrored[noted]["raw"]["notes"] == "bring the contract ✍️"
    assert mirrored[added]["deleted_at"] is None


def test_incremental_reads_past_the_first_page_when_many_changed(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    assert run("events").ok
    clock.advance(minutes=30)
    for event_id in sb.world.event_ids()[:150]:
        sb.world.touch_event(event_id)
    sb.calls.clear()
    [events] = run("events").outcomes
    assert events.mode == "incremental"
    # 150 changed: page 2 holds the last 50 of them, then older ones, so the pass stops there.
    assert len(event_pages_read(sb)) == 2
    assert (events.counts.updated, events.counts.unchanged) == (150, 50)


def test_a_non_monotonic_order_falls_back_to_a_full_pass(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    assert run("events").ok
    clock.advance(minutes=30)
    sb.world.touch_event(sb.world.event_ids()[7])

    def shuffled(
        client: ApiClient, endpoint: str, params: Mapping[str, object], on_page: int, start_page: int
    ) -> Iterator[Page]:
        for page in sequential_pages(client, endpoint, params, on_page, start_page):
            yield Page(list(reversed(page.items)), page.meta, page.page)  # an API that ignores orderDirection

    with capture_logs() as logs:
        [events] = run("events", incremental_source=shuffled).outcomes
    assert events.status == "succeeded"
    assert events.fell_back_to_full
    assert events.mode == "full"
    assert any(e["event"] == "sync.order_not_monotonic" and e["log_level"] == "warning" for e in logs)
    last = _runs(engine, "events")[-1]
    assert (last["mode"], last["fell_back_to_full"], last["status"]) == ("full", True, "succeeded")
    _assert_mirror_equals_upstream(sb, engine)


# --- full passes and deletions ----------------------------------------------------------------------


def test_full_marks_deletions_and_restores_reappearances(
    sb: Sandbox, engine: Engine, run: Run, clock: Clock
) -> None:
    assert run("events").ok
    gone = sb.world.event_ids()[42]
    record = sb.world.events[gone]
    sb.world.remove_event(gone)
    clock.advance(minutes=5)

    [incremental] = run("events").outcomes
    assert incremental.mode == "incremental"
    assert mirrored_events(engine)[gone]["deleted_at"] is None, "an incremental pass cannot see deletions"

    [full] = run("events", full=True).outcomes
    assert (full.mode, full.counts.deleted, full.counts.restored) == ("full", 1, 0)
    assert mirrored_events(engine)[gone]["deleted_at"] == clock.now
    assert _count(engine, "events", live=False) == 1

    with sb.world.lock:
        sb.world.events[gone] = record  # it comes back, as it was
        sb.world.changed(record, touch=False)
    [again] = run("events", full=True).outcomes
    assert (again.counts.deleted, again.counts.restored) == (0, 1)
    assert mirrored_events(engine)[gone]["deleted_at"] is None
    _assert_mirror_equals_upstream(sb, engine)


def test_a_failing_full_pass_never_deletes_and_resumes_where_it_stopped(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    assert run("events").ok
    gone = sb.world.event_ids()[-1]  # on the last page, which the failing pass never reaches
    sb.world.remove_event(gone)
    failing = after_pages(2, _raise(RuntimeError("the network fell over")))
    [failed] = run("events", full=True, page_source=failing).outcomes
    assert failed.status == "failed"
    assert failed.error == "RuntimeError: the network fell over"
    assert _count(engine, "events", live=False) == 0, "a partial pass deleted rows"
    last = _runs(engine, "events")[-1]
    assert (last["status"], last["error"], last["deleted"]) == ("failed", failed.error, 0)

    sb.calls.clear()
    [resumed] = run("events").outcomes  # not even --full: an unfinished full pass comes first
    assert (resumed.status, resumed.mode, resumed.resumed) == ("succeeded", "full", True)
    assert resumed.run_id == failed.run_id
    assert [q for q in event_pages_read(sb) if "orderField=id" in q] == [
        "orderField=id&orderDirection=asc&page=3&onPage=100"
    ]
    assert resumed.counts.deleted == 1
    assert mirrored_events(engine)[gone]["deleted_at"] is not None


def test_a_crash_mid_sync_resumes_with_nothing_lost_or_duplicated(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    with pytest.raises(Crash):
        run("users", "event_types", "events", page_source=after_pages(2, _raise(Crash())))
    [crashed] = _runs(engine, "events")
    assert (crashed["status"], crashed["pages"], crashed["inserted"]) == ("running", 2, 200)
    with engine.connect() as conn:
        cursor = state.get_cursor(conn, "events")
    assert cursor is not None
    assert (cursor.full_run_id, cursor.full_next_page, cursor.high_water_mark) == (crashed["id"], 3, None)

    summary = run()
    assert summary.ok
    [resumed] = _runs(engine, "events")
    assert (resumed["status"], resumed["resumes"], resumed["pages"]) == ("succeeded", 1, 3)
    assert (resumed["inserted"], resumed["updated"]) == (EVENTS, 0)
    _assert_mirror_equals_upstream(sb, engine)


def test_changes_during_a_full_pass_are_not_lost(sb: Sandbox, engine: Engine, run: Run, clock: Clock) -> None:
    ids = sb.world.event_ids()
    added: list[int] = []

    def meddle() -> None:
        clock.advance(seconds=30)
        sb.world.remove_event(ids[0])  # page 2 now starts one later: ids[100] slides onto page 1, unread
        sb.world.set_event_field(ids[5], "notes", "changed after it was read")
        sb.world.set_event_field(ids[150], "notes", "changed before it was read")

    def add() -> None:
        added.append(sb.world.add_event())

    [first] = run("events", page_source=after_pages(1, meddle, after_pages(2, add))).outcomes
    assert first.status == "succeeded"
    mirrored = mirrored_events(engine)
    assert ids[100] in mirrored, "the item offset paging skipped was not fetched again"
    assert mirrored[ids[100]]["deleted_at"] is None
    assert mirrored[ids[150]]["raw"]["notes"] == "changed before it was read"
    assert added[0] in mirrored

    [second] = run("events").outcomes  # the next pass at the latest
    assert second.mode == "incremental"
    assert mirrored_events(engine)[ids[5]]["raw"]["notes"] == "changed after it was read"
    [third] = run("events", full=True).outcomes
    assert third.counts.deleted == 1
    _assert_mirror_equals_upstream(sb, engine)


def test_per_event_type_rows_follow_their_event_type(
    sb: Sandbox, engine: Engine, run: Run, client: ApiClient
) -> None:
    assert run("event_types", "event_type_tags", "event_type_availability").ok
    table = table_for(RESOURCES["event_type_tags"])
    with engine.connect() as conn:
        event_type_id, tag_id = conn.execute(select(table.c.event_type_id, table.c.id).limit(1)).one()
    client.call("event_type.tag_remove", path_params={"eventTypeId": event_type_id, "tagId": tag_id})
    [tags] = run("event_type_tags").outcomes
    assert tags.counts.deleted == 1
    with engine.connect() as conn:
        deleted = conn.execute(
            select(table.c.event_type_id, table.c.id).where(table.c.deleted_at.is_not(None))
        ).all()
    assert deleted == [(event_type_id, tag_id)]


def test_a_date_range_longer_than_one_call_takes_is_read_in_windows(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    assert run("event_types").ok
    sb.calls.clear()
    [availability] = run("event_type_availability", options=SyncOptions(availability_days=70)).outcomes
    assert availability.status == "succeeded", availability.error
    types = _count(engine, "event_types")
    assert _count(engine, "event_type_availability") == 70 * types
    calls = [parse_qs(c.query) for c in sb.calls if "/availability/" in c.path]
    # 62 days (the API's most per call), then the 8 left; the clock is 2026-11-23.
    ranges = {(q["startDate"][0], q["endDate"][0]) for q in calls}
    assert ranges == {("2026-11-23", "2027-01-23"), ("2027-01-24", "2027-01-31")}
    assert len(calls) == 2 * types


# --- bad input and bad weather ----------------------------------------------------------------------


def test_a_malformed_object_is_quarantined_while_its_page_lands(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    bad = sb.world.event_ids()[3]

    def corrupt(request: httpx.Request, response: httpx.Response, count: int) -> httpx.Response | None:
        if not request.url.path.endswith("/event/list"):
            return None
        body = json.loads(response.content)
        for item in body["items"]:
            if item["id"] == bad:
                item["scheduledAt"] = "not a date"
        return httpx.Response(200, json=body)

    with _client(sb, corrupt) as tampered:
        [events] = run("events", client=tampered).outcomes
        assert events.status == "succeeded"
        assert (events.counts.rejected, events.counts.inserted) == (1, EVENTS - 1)
        with engine.connect() as conn:
            [row] = conn.execute(select(state.rejected_items)).mappings().all()
        assert (row["resource"], row["raw"]["id"], row["run_id"]) == ("events", bad, events.run_id)
        assert "scheduledAt" in row["error"] or "scheduled_at" in row["error"]
        assert bad not in mirrored_events(engine)
        [again] = run("events", client=tampered, full=True).outcomes
        assert again.counts.rejected == 1
        with engine.connect() as conn:
            [row] = conn.execute(select(state.rejected_items)).mappings().all()  # kept once, seen twice
        assert row["times_seen"] == 2


def test_429_and_5xx_storms_are_ridden_out(sb: Sandbox, engine: Engine, run: Run) -> None:
    sb.faults.error_rate = 0.3
    sb.faults.malformed_rate = 0.1
    sb.faults.drop_rate = 0.05

    def throttle(request: httpx.Request, response: httpx.Response, count: int) -> httpx.Response | None:
        if count % 3 == 0:
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "slow down"})
        return None

    with _client(sb, throttle, max_attempts=25) as stormy:
        summary = run(client=stormy)
    assert summary.ok, [(o.resource, o.error) for o in summary.failed]
    statuses = {call.status for call in sb.calls}
    assert {0, 500, 502, 503} & statuses
    sb.faults.error_rate = sb.faults.malformed_rate = sb.faults.drop_rate = 0.0
    _assert_mirror_equals_upstream(sb, engine)


def test_a_failing_resource_is_recorded_and_the_others_still_run(
    sb: Sandbox, engine: Engine, run: Run
) -> None:
    def acl_down(request: httpx.Request, response: httpx.Response, count: int) -> httpx.Response | None:
        if request.url.path.endswith("/acl"):
            return httpx.Response(503, text=f"<html>upstream down {API_KEY}</html>")
        return None

    with _client(sb, acl_down, max_attempts=2) as client:
        summary = run(client=client)
    assert [o.resource for o in summary.failed] == ["acl_rules"]
    [failed] = summary.failed
    assert failed.error is not None
    assert "503" in failed.error
    assert API_KEY not in failed.error
    [row] = _runs(engine, "acl_rules")
    assert (row["status"], row["error"]) == ("failed", failed.error)
    assert all(o.status == "succeeded" for o in summary.outcomes if o.resource != "acl_rules")


def test_a_refused_key_stops_the_whole_sync_after_one_request(sb: Sandbox, engine: Engine, run: Run) -> None:
    client = ApiClient(BASE_URL, "not-the-key-0123", transport=sb.transport(), rate_limit_per_s=None)
    with client, pytest.raises(ApiKeyRefused):
        run(client=client)
    assert [call.status for call in sb.calls] == [401]  # the first answer, and no other request
    first, *others = SYNCED
    [row] = _runs(engine, first.name)
    assert row["status"] == "failed"
    assert "HTTP 401" in row["error"]
    assert all(_runs(engine, r.name) == [] for r in others)  # not attempted, so no run to record


def test_an_unreachable_api_stops_the_whole_sync(engine: Engine, run: Run) -> None:
    tries: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        tries.append(request.url.path)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    transport = httpx.MockTransport(refuse)
    client = ApiClient(BASE_URL, API_KEY, transport=transport, rate_limit_per_s=None, max_attempts=3)
    with client, pytest.raises(ApiUnreachable) as caught:
        run(client=client)
    assert caught.value.reason == "connection refused"
    assert len(tries) == 3  # one call's attempts, not every resource's
    first, *others = SYNCED
    [row] = _runs(engine, first.name)
    assert row["status"] == "failed"
    assert "Connection refused" in row["error"]
    assert all(_runs(engine, r.name) == [] for r in others)


def test_two_syncs_of_one_resource_never_run_at_once(engine: Engine, run: Run) -> None:
    with engine.connect() as holder:
        assert state.try_lock_resource(holder, "events")
        [events] = run("events").outcomes
        assert (events.status, events.error) == ("failed", "another sync of events is running")
        state.unlock_resource(holder, "events")
    assert run("events").ok


def test_status_reports_each_resource(sb: Sandbox, engine: Engine, run: Run) -> None:
    from syncd.sync import status

    assert run("users", "event_types", "events").ok
    found = {s.resource: s for s in status(engine)}
    assert set(found) == {r.name for r in SYNCED}
    assert found["events"].live == EVENTS
    assert found["events"].cursor is not None
    assert found["events"].cursor.last_success_at is not None
    assert found["events"].last_run is not None
    assert found["events"].last_run.status == "succeeded"
    assert found["polls"].last_run is None


def test_over_real_loopback_with_concurrent_pages(sb: Sandbox, engine: Engine) -> None:
    from syncd.sandbox.server import running
    from syncd.sync import sync

    sb.clock = lambda: dt.datetime.now(dt.UTC)
    with running(sb) as base_url, ApiClient(base_url, API_KEY, timeout=10.0, rate_limit_per_s=None) as client:
        first = sync(engine, client, page_source=concurrent_pages, options=SyncOptions(on_page=50))
        assert first.ok, [(o.resource, o.error) for o in first.failed]
        second = sync(engine, client)
        assert second.ok
    _assert_mirror_equals_upstream(sb, engine)
    events = next(o for o in second.outcomes if o.resource == "events")
    assert (events.mode, events.counts.pages) == ("incremental", 1)
