"""The mirror's sync engine: read each declared resource from the API and store it, page by page.

A run of one resource is one of two passes:

- **incremental** (resources with `incremental_field`, i.e. events): the list has no `updatedAt`
  filter, so read newest-first and stop after the first page older than the high-water mark minus
  an overlap. The order is *verified*: one item newer than the one before means the API does not
  honour it, and the run falls back to a full pass. The mark moves only when the pass completes:
  reading newest-first, moving it early would skip the older changes after a crash.
- **full** (`full=True`, the first run, every other resource): read everything in a stable order,
  note each key in `pass_seen`, and once the whole pass completed mark the rows it did not see as
  deleted. A paged full pass saves its next page with every page, so a crash resumes there.

Each page is stored, its keys and rejected objects recorded and the cursor moved in one
transaction. A failing resource is recorded as failed; the others still run, unless the API cannot
be reached at all or refuses the key: then every other resource would fail the same way, so the
run stops there and raises (`ApiUnreachable`, `ApiKeyRefused`); the resources after it are not
attempted and get no run row.
"""

from __future__ import annotations

import datetime as dt
import gc
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from syncd.api import ApiClient, ApiError, ApiKeyRefused, ApiNotFound, ApiUnreachable, Page
from syncd.api.dates import resolve_zone
from syncd.api.paging import iter_pages, iter_pages_concurrent
from syncd.db import state
from syncd.db.mirror import Prepared, prepare, store
from syncd.db.mirror_tables import table_for
from syncd.db.state import ResourceStatus, RunCounts, RunMode, RunStatus
from syncd.logs import redactor
from syncd.mapping import parse_timestamp
from syncd.resources import RESOURCES, SYNCED, Parent, Read, Resource

log = structlog.get_logger(__name__)

ERROR_LIMIT = 500


@dataclass(frozen=True)
class SyncOptions:
    on_page: int = 100
    availability_days: int = 14
    incremental_overlap: dt.timedelta = dt.timedelta(minutes=5)
    api_timezone: str = "UTC"  # the zone of the API's `Y-m-d H:i:s` date-times


@dataclass(frozen=True)
class ProgressUpdate:
    """Sent after every stored page, and once more with `finished=True` when the resource is done."""

    resource: str
    mode: RunMode
    pages_done: int
    pages_total: int | None  # None when unknown (incremental passes, bare-array lists)
    finished: bool = False
    status: RunStatus = "running"
    objects: int = 0  # objects read so far in this run: stored, unchanged or rejected


Progress = Callable[[ProgressUpdate], None]


class PageSource(Protocol):
    """Where a paged list's pages come from, in page order; sequential unless a faster one is plugged in."""

    def __call__(
        self,
        client: ApiClient,
        endpoint: str,
        params: Mapping[str, object],
        on_page: int,
        start_page: int,
    ) -> Iterator[Page]: ...


def sequential_pages(
    client: ApiClient, endpoint: str, params: Mapping[str, object], on_page: int, start_page: int
) -> Iterator[Page]:
    return iter_pages(client, endpoint, params, on_page, start_page=start_page)


def concurrent_pages(
    client: ApiClient, endpoint: str, params: Mapping[str, object], on_page: int, start_page: int
) -> Iterator[Page]:
    """Pages read ahead in parallel once the page count is known, still handed over in order."""
    return iter_pages_concurrent(client, endpoint, params, on_page, start_page=start_page)


@dataclass
class ResourceOutcome:
    resource: str
    mode: RunMode
    status: RunStatus
    counts: RunCounts = field(default_factory=RunCounts)
    run_id: int | None = None
    fell_back_to_full: bool = False
    resumed: bool = False
    error: str | None = None
    fetched: bool = False  # this run stored at least one page: else its mode is a plan, not what ran

    @property
    def mode_label(self) -> str:
        """What ran, for people: `incremental`, `full (fell back)`, `full (resumed)`; `not run` for a
        resource that never started, `failed before fetching` for one that stored no page."""
        if self.status == "failed" and not self.fetched:
            return "not run" if self.run_id is None else "failed before fetching"
        return (
            self.mode
            + (" (fell back)" if self.fell_back_to_full else "")
            + (" (resumed)" if self.resumed else "")
        )


@dataclass
class SyncSummary:
    outcomes: list[ResourceOutcome]

    @property
    def failed(self) -> list[ResourceOutcome]:
        return [o for o in self.outcomes if o.status != "succeeded"]

    @property
    def ok(self) -> bool:
        return not self.failed


def status(engine: Engine, resources: Sequence[Resource] | None = None) -> list[ResourceStatus]:
    """Where each resource stands: its cursor, its rows, its last run."""
    with engine.connect() as conn:
        return [
            state.resource_status(conn, r.name, table_for(r))
            for r in (resources if resources is not None else SYNCED)
        ]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sync(
    engine: Engine,
    client: ApiClient,
    resources: Sequence[Resource] | None = None,
    *,
    full: bool = False,
    options: SyncOptions | None = None,
    progress: Progress | None = None,
    page_source: PageSource = concurrent_pages,
    incremental_source: PageSource = sequential_pages,
    clock: Callable[[], dt.datetime] = utc_now,
) -> SyncSummary:
    """One pass over `resources` (default: all of `SYNCED`, in order). Never raises for one resource's failure.

    Raises `ApiUnreachable` or `ApiKeyRefused`, once the resource it hit is recorded as failed, and
    attempts no further resource: they would all fail the same way.
    `page_source` reads the pages of full passes; `incremental_source` those of incremental ones,
    sequential by default because such a pass usually stops after its first page.
    """
    outcomes = []
    sources = (page_source, incremental_source)
    for resource in resources if resources is not None else SYNCED:
        run = _ResourceRun(
            engine, client, resource, options or SyncOptions(), progress, sources, clock, full=full
        )
        outcomes.append(run.run())
        if run.stopped_by is not None:
            raise run.stopped_by
    return SyncSummary(outcomes)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """For a process that runs one sync and exits (`syncd sync`): the collector settings are
    process-wide, so the daemon, whose threads sync and replay at once, must not use this (freezing
    while another thread's garbage is alive moved it to the oldest generation, where it stayed: the
    soak's memory grew ~40 MB/min).

    Decoding a page makes ~50,000 containers, and at the default threshold (700) the cyclic
    collector ran ~2,000 times in a first sync of 20,000 events (~1.8 s of CPU), rescanning
    everything imported. Collect less often (~440 times, ~0.9 s), and keep what exists before the
    sync (modules, table declarations) out of the collections. Not much less often: every httpx
    response is in a cycle with its stream and keeps its ~1 MB body until collected (at 20,000 the
    peak RSS grew by 110 MB; at 5,000 by ~10 MB)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 5_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


# A read's answer: (scope, objects) batches to store, and how many requests it took.
_Batches = tuple[list[tuple[dict[str, Any] | None, list[Any]]], int]
_Fetch = Callable[[], _Batches]


class _OrderNotMonotonic(Exception):
    """The list is not in the order asked for: an incremental pass cannot know where to stop."""


class _ResourceRun:
    """One run of one resource, on one connection that holds the resource's lock throughout."""

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        resource: Resource,
        options: SyncOptions,
        progress: Progress | None,
        sources: tuple[PageSource, PageSource],
        clock: Callable[[], dt.datetime],
        *,
        full: bool,
    ) -> None:
        if resource.read is Read.NESTED or resource.endpoint is None:
            raise ValueError(f"{resource.name} is not read on its own (it arrives nested in others)")
        self.engine = engine
        self.client = client
        self.resource = resource
        self.endpoint: str = resource.endpoint
        self.table = table_for(resource)
        self.options = options
        self.zone = resolve_zone(options.api_timezone)
        self.progress = progress
        self.page_source, self.incremental_source = sources
        self.clock = clock
        self.full_requested = full
        self.outcome = ResourceOutcome(resource.name, "full", "running")
        # Nested copies (users, event types) already written in this run, by digest: written once, not per page.
        self.written_refs: dict[tuple[str, tuple[Any, ...]], str] = {}
        self.counts = self.outcome.counts
        self.deleted_before = 0
        self.requests = 0  # API requests not yet added to the run's row
        self.stopped_by: ApiUnreachable | ApiKeyRefused | None = None  # the failure that ends the whole sync

    # ------------------------------------------------------------------ the run

    def run(self) -> ResourceOutcome:
        started = time.monotonic()
        name = self.resource.name
        with self.engine.connect() as conn:
            got = state.try_lock_resource(conn, name)
            if got:
                # Page transactions stay atomic, but their commits do not wait for the WAL flush: a
                # crash of the server may lose the last pages' commits (each with its cursor move, so
                # the next run reads them again). The run's closing transaction is synchronous
                # (`_durable`), which makes everything before it durable too.
                conn.exec_driver_sql("SET synchronous_commit = off")
            conn.commit()
            if not got:
                self.outcome.status = "failed"
                self.outcome.error = f"another sync of {name} is running"
            else:
                try:
                    self._run_locked(conn)
                finally:
                    self._unlock(conn)
        summary = log.info if self.outcome.status == "succeeded" else log.error
        summary(
            "sync.resource_done",
            resource=name,
            mode=self.outcome.mode,
            status=self.outcome.status,
            fell_back_to_full=self.outcome.fell_back_to_full,
            resumed=self.outcome.resumed,
            duration_s=round(time.monotonic() - started, 3),
            **self.counts.as_dict(),
            **({"error": self.outcome.error} if self.outcome.error else {}),
        )
        self._report(self.counts.pages, None, finished=True)
        return self.outcome

    def _unlock(self, conn: Connection) -> None:
        try:
            if conn.in_transaction():
                conn.rollback()
            state.unlock_resource(conn, self.resource.name)
            conn.exec_driver_sql("RESET synchronous_commit")
            conn.commit()
        except DBAPIError:
            pass  # a broken session has released its lock already

    def _run_locked(self, conn: Connection) -> None:
        name = self.resource.name
        now = self.clock()
        with conn.begin():
            cursor = state.get_cursor(conn, name)
            state.close_abandoned_runs(conn, name, now)
            self.deleted_before = state.count_deleted(conn, self.table)
            resume = cursor if cursor is not None and self.resource.read is Read.PAGES else None
            if resume is not None and resume.full_run_id is not None:
                run_id = resume.full_run_id
                self.counts.add(state.resume_run(conn, run_id))
                self.outcome.resumed = True
            else:
                resume = None
                mark = cursor.high_water_mark if cursor is not None else None
                incremental = self.resource.incremental and not self.full_requested and mark is not None
                self.outcome.mode = "incremental" if incremental else "full"
                run_id = state.start_run(conn, name, self.outcome.mode, now)
        self.outcome.run_id = run_id
        try:
            if resume is not None:
                log.info("sync.resuming", resource=name, run_id=run_id, page=resume.full_next_page)
                self._full_pages(conn, run_id, resume.full_next_page or 1, resume.full_high_water_mark)
            elif self.outcome.mode == "incremental" and mark is not None:
                try:
                    self._incremental(conn, run_id, mark)
                except _OrderNotMonotonic:
                    with conn.begin():
                        state.mark_fell_back(conn, run_id)
                    self.outcome.mode, self.outcome.fell_back_to_full = "full", True
                    self._full_pages(conn, run_id, 1, None, fresh=True)
            elif self.resource.read is Read.PAGES:
                self._full_pages(conn, run_id, 1, None, fresh=True)
            else:
                self._full_calls(conn, run_id)
        except Exception as exc:
            self._fail(conn, run_id, exc)
            if isinstance(exc, ApiUnreachable | ApiKeyRefused):
                self.stopped_by = exc

    def _fail(self, conn: Connection, run_id: int, exc: Exception) -> None:
        self.outcome.status = "failed"
        self.outcome.error = describe_error(exc)
        try:
            if conn.in_transaction():
                conn.rollback()
            with conn.begin():
                _durable(conn)
                state.finish_run(conn, run_id, "failed", self.clock(), self.outcome.error)
        except DBAPIError as db_exc:
            # The database itself is gone: the run stays 'running' and the next one closes it.
            log.error("sync.run_not_recorded", resource=self.resource.name, error=describe_error(db_exc))

    # ------------------------------------------------------------------ incremental

    def _incremental(self, conn: Connection, run_id: int, high_water_mark: dt.datetime) -> None:
        field_name = self.resource.incremental_field
        assert field_name is not None
        floor = high_water_mark - self.options.incremental_overlap
        newest: dt.datetime | None = None
        previous: dt.datetime | None = None
        params = {"orderField": field_name, "orderDirection": "desc"}
        pages = self.incremental_source(self.client, self.endpoint, params, self.options.on_page, 1)
        try:
            for page in pages:
                self.requests += 1
                monotonic = True
                for item in page.items:
                    stamp = _stamp(item.get(field_name), self.zone)
                    if stamp is None:
                        continue  # unreadable: the mapping rejects it; it says nothing about order
                    if previous is not None and stamp > previous:
                        monotonic = False
                        log.warning(
                            "sync.order_not_monotonic",
                            resource=self.resource.name,
                            field=field_name,
                            page=page.page,
                            id=item.get("id"),
                            previous=previous.isoformat(),
                            found=stamp.isoformat(),
                        )
                        break
                    newest = newest or stamp
                    previous = stamp
                self._store(conn, run_id, page.items)
                self._report(self.counts.pages, None)
                if not monotonic:
                    raise _OrderNotMonotonic
                if previous is not None and previous < floor:
                    break
        finally:
            _close(pages)
        with conn.begin():
            _durable(conn)
            restored = self._restored(conn)
            state.add_run_counts(conn, run_id, restored)
            state.complete_incremental_pass(conn, self.resource.name, self.clock(), newest)
            state.finish_run(conn, run_id, "succeeded", self.clock())
        self.counts.add(restored)
        self.outcome.status = "succeeded"

    # ------------------------------------------------------------------ full passes

    def _full_pages(
        self,
        conn: Connection,
        run_id: int,
        start_page: int,
        pass_mark: dt.datetime | None,
        *,
        fresh: bool = False,
    ) -> None:
        if fresh:
            # Changes during the pass get an updatedAt at or after this one: the next incremental
            # pass reads them even where offset paging skipped them here.
            pass_mark = self._newest_stamp() if self.resource.incremental else None
            with conn.begin():
                state.begin_full_pass(conn, self.resource.name, run_id, pass_mark)
        # A stable ascending order: an object created during the pass lands at the end, where we are going.
        params = (
            {"orderField": self.resource.stable_order, "orderDirection": "asc"}
            if self.resource.stable_order
            else {}
        )
        pages = self.page_source(self.client, self.endpoint, params, self.options.on_page, start_page)
        ahead = _prepare_ahead(pages, self._prepare)
        previous_count: int | None = None
        try:
            for page, prepared in ahead:
                self.requests += 1
                self._store(conn, run_id, page.items, seen=True, next_page=page.page + 1, prepared=prepared)
                count = page.meta.items_count if page.meta is not None else None
                if (
                    previous_count is not None
                    and count is not None
                    and count < previous_count
                    and page.page > 1
                ):
                    # Items before our offset vanished: the list slid back under us, and the first items
                    # of this page's predecessor-as-read-now were never handed to us. Read it again.
                    log.info("sync.list_shrank", resource=self.resource.name, page=page.page)
                    again = self.client.get_page(self.endpoint, params, page.page - 1, self.options.on_page)
                    self.requests += 1
                    self._store(conn, run_id, again.items, seen=True)
                previous_count = count if count is not None else previous_count
                self._report(page.page, page.meta.pages_count if page.meta is not None else None)
        finally:
            _close(ahead)  # first: it waits for the page it is preparing
            _close(pages)
        self._recheck_unseen(conn, run_id)
        self._complete_full(conn, run_id, pass_mark)

    def _full_calls(self, conn: Connection, run_id: int) -> None:
        with conn.begin():
            state.begin_full_pass(conn, self.resource.name, run_id, None)
        calls = self._calls(conn)
        for done, (scope, answer) in enumerate(_fetch_ahead(calls, _concurrency(self.client)), start=1):
            try:
                batches, requests = answer()
            except ApiNotFound:
                # The parent vanished between listing and reading: its rows count as unseen.
                log.info("sync.parent_gone", resource=self.resource.name, **(scope or {}))
                self.requests += 1
                continue
            self.requests += requests
            for batch_scope, objects in batches:
                self._store(conn, run_id, objects, scope=batch_scope, seen=True)
            self._report(done, len(calls))
        self._complete_full(conn, run_id, None)

    def _calls(self, conn: Connection) -> list[tuple[dict[str, Any] | None, _Fetch]]:
        """The calls that read the whole resource: (scope for the log, fetch -> ([(scope, objects)], requests))."""
        resource, client, endpoint = self.resource, self.client, self.endpoint
        if resource.read is Read.LIST:
            return [(None, lambda: ([(None, _items(client.call(endpoint)))], 1))]
        if resource.read is Read.OBJECT and resource.variants:
            key = resource.key[0]

            def variant(name: str) -> _Fetch:
                return lambda: ([({key: name}, [client.call(f"{endpoint}.{name}")])], 1)

            return [({key: name}, variant(name)) for name in resource.variants]
        if resource.read is Read.OBJECT:
            # `{user: [...], organization: [...]}`: each list under its own scope value.
            key = resource.key[0]

            def grouped() -> _Batches:
                answer = client.call(endpoint)
                groups = answer.items() if isinstance(answer, dict) else []
                return [({key: name}, value) for name, value in groups if isinstance(value, list)], 1

            return [(None, grouped)]
        if resource.parent is not None:
            parent = resource.parent
            with conn.begin():
                ids = state.live_ids(conn, table_for(RESOURCES[parent.resource]))
            return [({parent.column: i}, self._per_parent(parent, i)) for i in ids]
        raise ValueError(f"{resource.name}: no way to read {resource.read}")

    def _per_parent(self, parent: Parent, parent_id: int) -> _Fetch:
        """One parent's rows: one call, or one per date window when the read takes a date range."""
        scope = {parent.column: parent_id}
        path_params = {parent.path_param: parent_id}

        def fetch() -> _Batches:
            objects: list[Any] = []
            queries = self._date_windows()
            for query in queries:
                answer = self.client.call(self.endpoint, path_params=path_params, query=query)
                objects.extend(_items(answer))
            return [(scope, objects)], len(queries)

        return fetch

    def _date_windows(self) -> list[dict[str, object] | None]:
        """The queries of a read over the next `availability_days` days (None: the read takes no dates)."""
        window = self.resource.dates
        if window is None:
            return [None]
        first = self.clock().astimezone(dt.UTC).date()
        last = first + dt.timedelta(days=self.options.availability_days - 1)
        queries: list[dict[str, object] | None] = []
        start = first
        while start <= last:
            end = min(last, start + dt.timedelta(days=window.max_days - 1))
            queries.append({"startDate": start, "endDate": end})
            start = end + dt.timedelta(days=1)
        return queries

    def _recheck_unseen(self, conn: Connection, run_id: int) -> None:
        """Ask again for live rows the pass did not see: offset paging skips an item when one before it
        vanishes mid-pass, and a skipped item must not be marked deleted."""
        id_filter = self.resource.id_filter
        if self.resource.key != ("id",) or id_filter is None:
            return
        with conn.begin():
            candidates = [
                key[0] for key in state.unseen_keys(conn, self.table, ("id",), run_id, self.resource.name)
            ]
        for start in range(0, len(candidates), 100):
            batch = candidates[start : start + 100]
            page = self.client.get_page(self.endpoint, {"filter": {id_filter: batch}}, 1, 100)
            self.requests += 1
            if page.items:
                log.info("sync.skipped_by_paging", resource=self.resource.name, count=len(page.items))
                self._store(conn, run_id, page.items, seen=True)

    def _complete_full(self, conn: Connection, run_id: int, pass_mark: dt.datetime | None) -> None:
        now = self.clock()
        name = self.resource.name
        with conn.begin():
            _durable(conn)
            restored = self._restored(conn)
            unidentified = state.unidentified_rejections(conn, name, run_id)
            if unidentified:
                # An object whose key is unreadable may be any of the unseen rows: none is known gone.
                log.warning(
                    "sync.deletions_deferred", resource=name, run_id=run_id, unidentified=unidentified
                )
            else:
                restored.deleted = state.mark_unseen_deleted(
                    conn, self.table, self.resource.key, run_id, name, now
                )
            state.clear_stale_rejected(conn, name, run_id)
            state.add_run_counts(conn, run_id, restored)
            state.complete_full_pass(conn, self.resource.name, run_id, now, pass_mark)
            state.finish_run(conn, run_id, "succeeded", self.clock())  # after the marking, which takes time
        self.counts.add(restored)
        self.outcome.status = "succeeded"

    # ------------------------------------------------------------------ pieces

    def _store(
        self,
        conn: Connection,
        run_id: int,
        objects: Iterable[Any],
        *,
        scope: Mapping[str, Any] | None = None,
        seen: bool = False,
        next_page: int | None = None,
        prepared: Prepared | None = None,
    ) -> None:
        """One page: its rows, its keys, its rejects, the cursor and the run's counts commit together."""
        now = self.clock()
        name = self.resource.name
        with conn.begin():
            result = store(
                conn,
                self.resource,
                objects,
                scope=scope,
                now=now,
                written_refs=self.written_refs,
                prepared=prepared,
                zone=self.zone,
            )
            if seen:
                # A rejected object still exists upstream: its key is seen, its row keeps the last good version.
                state.record_seen(conn, run_id, name, result.seen)
            state.clear_rejected(conn, name, result.keys)
            if result.rejected:
                rejects = [(r.raw, r.error, r.key) for r in result.rejected]
                state.record_rejected(conn, run_id, name, rejects, now)
            if next_page is not None:
                state.save_full_progress(conn, name, run_id, next_page)
            delta = RunCounts(
                pages=1,
                requests=self._take_requests(),
                inserted=result.counts.inserted,
                updated=result.counts.updated,
                unchanged=result.counts.unchanged,
                rejected=result.counts.rejected,
            )
            state.add_run_counts(conn, run_id, delta)
        self.counts.add(delta)
        self.outcome.fetched = True
        for rejected in result.rejected:
            raw_id = rejected.raw.get("id") if isinstance(rejected.raw, dict) else None
            log.warning("sync.object_rejected", resource=name, id=raw_id, error=rejected.error)
        log.debug("sync.page_stored", resource=name, run_id=run_id, next_page=next_page, **delta.as_dict())

    def _prepare(self, page: Page) -> Prepared:
        """Runs in the read-ahead thread: no connection, no state."""
        return prepare(self.resource, page.items, zone=self.zone)

    def _restored(self, conn: Connection) -> RunCounts:
        """Rows that came back during the run (nothing else clears deleted_at while we hold the lock),
        with the requests not yet recorded."""
        restored = max(0, self.deleted_before - state.count_deleted(conn, self.table))
        return RunCounts(restored=restored, requests=self._take_requests())

    def _take_requests(self) -> int:
        taken, self.requests = self.requests, 0
        return taken

    def _newest_stamp(self) -> dt.datetime | None:
        field_name = self.resource.incremental_field
        assert field_name is not None
        page = self.client.get_page(self.endpoint, {"orderField": field_name, "orderDirection": "desc"}, 1, 1)
        self.requests += 1
        stamps = (_stamp(i.get(field_name), self.zone) for i in page.items)
        return next((s for s in stamps if s is not None), None)

    def _report(self, done: int, total: int | None, *, finished: bool = False) -> None:
        if self.progress is None:
            return
        c = self.counts
        update = ProgressUpdate(
            self.resource.name,
            self.outcome.mode,
            done,
            total,
            finished=finished,
            status=self.outcome.status,
            objects=c.inserted + c.updated + c.unchanged + c.rejected,
        )
        try:
            self.progress(update)
        except Exception as exc:  # a broken progress bar must not fail a sync
            log.warning("sync.progress_failed", error=type(exc).__name__)


def _durable(conn: Connection) -> None:
    """This transaction's commit waits for its WAL flush (and so for every earlier commit's)."""
    conn.exec_driver_sql("SET LOCAL synchronous_commit = on")


# Pages prepared ahead of the writer. One was not enough: the preparing thread, done with the next page,
# sat idle while the server finished writing the current one, and the writer's Python then ran alone.
# A few pages ahead keep syncd's Python busy through the server's share (a page is ~1 MB of JSON and
# its rows: a few MB each of peak RSS).
PREPARE_AHEAD = 3


def _prepare_ahead(
    pages: Iterator[Page], prepare: Callable[[Page], Prepared], depth: int = PREPARE_AHEAD
) -> Iterator[tuple[Page, Prepared]]:
    """Each page with `prepare(page)`, computed up to `depth` pages ahead in one thread, in order: the
    next pages are read, hashed and mapped while the database writes the current one (psycopg releases
    the GIL while it waits on the server). Closing this generator waits for the page in hand, then
    stops; pages prepared but not yet taken are dropped (the cursor names the next page to store)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    def step() -> tuple[Page, Prepared] | None:
        page = next(pages, None)
        return None if page is None else (page, prepare(page))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="syncd-prepare") as pool:
        # One worker runs the steps one after another, so pages keep their order.
        queued = deque(pool.submit(step) for _ in range(max(1, depth)))
        try:
            while (item := queued.popleft().result()) is not None:
                queued.append(pool.submit(step))
                yield item
        finally:
            for future in queued:
                future.cancel()  # when one is already running, leaving the pool waits for it


def _concurrency(client: ApiClient) -> int:
    return max(1, int(getattr(client, "page_concurrency", 1)))


def _fetch_ahead(
    calls: list[tuple[dict[str, Any] | None, _Fetch]], concurrency: int
) -> Iterator[tuple[dict[str, Any] | None, _Fetch]]:
    """The calls' answers in order, read up to `concurrency` at a time (the per-event-type reads are
    independent requests); each answer is handed over as a callable that returns it or raises its error.
    At most `concurrency` answers are in flight or waiting, and the rest are cancelled if the caller stops."""
    if concurrency <= 1 or len(calls) <= 1:
        yield from calls
        return
    from concurrent.futures import Future, ThreadPoolExecutor

    window: deque[tuple[dict[str, Any] | None, Future[_Batches]]] = deque()
    pending = iter(calls)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="syncd-calls") as pool:
        try:
            for scope, fetch in pending:
                window.append((scope, pool.submit(fetch)))
                if len(window) >= concurrency:
                    break
            while window:
                scope, future = window.popleft()
                yield scope, future.result
                for next_scope, fetch in pending:
                    window.append((next_scope, pool.submit(fetch)))
                    break
        finally:
            for _scope, future in window:
                future.cancel()


def _items(answer: Any) -> list[Any]:
    """A list answer's items, bare array or `{meta, items}` envelope (the client checked the shape)."""
    items = answer.get("items") if isinstance(answer, dict) else answer
    return list(items) if isinstance(items, list) else []


def _stamp(value: object, zone: dt.tzinfo) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value, zone)
    except ValueError:
        return None


def _close(pages: Iterator[Any]) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()  # stops a generator (and any prefetching behind it) at once


def describe_error(exc: BaseException) -> str:
    """One line for sync_runs.error and the log: what failed and why, never a secret or SQL parameters."""
    if isinstance(exc, ApiError):
        text = str(exc)
    elif isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"database: {type(exc.orig).__name__}: {exc.orig}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    line = " ".join(text.split())
    line = redactor.redact(line)
    return line if len(line) <= ERROR_LIMIT else line[: ERROR_LIMIT - 1] + "…"
