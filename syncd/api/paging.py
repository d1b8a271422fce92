"""Pages of a list, the small state machine that walks them to the end, and the two walks.

Lists answer in two shapes: the `{meta, items}` envelope (stop at `meta.pagesCount`) and a bare
array (stop at a short page). Either way a server that ignores `page` would hand back the same
page forever, so the walker refuses a page identical to the one before, and a page count that
keeps growing past any reasonable bound.

`iter_pages` reads one page after the other; `iter_pages_concurrent` hands over the same pages in
the same order, read ahead in parallel. Both take the client (anything with `get_page`).
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from syncd.api.endpoints import Endpoint
from syncd.api.errors import ApiPagingError

log = structlog.get_logger(__name__)

JsonObject = dict[str, Any]

# A bare-array list has no page count to check against: past this many pages it is a loop.
DEFAULT_MAX_PAGES = 10_000
DEFAULT_PAGE_CONCURRENCY = 4
# More parallel page reads than this would hammer the account, not speed a sync up.
MAX_PAGE_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class PageMeta:
    """`MetaDataDTO`; a field the server leaves out (or sends unreadable) is None."""

    pages_count: int | None
    items_per_page: int | None
    items_count: int | None
    current_page: int | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PageMeta:
        return cls(
            pages_count=_int_or_none(raw.get("pagesCount")),
            items_per_page=_int_or_none(raw.get("itemsPerPage")),
            items_count=_int_or_none(raw.get("itemsCount")),
            current_page=_int_or_none(raw.get("currentPage")),
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its items, its meta (None for a bare array) and the page number asked for."""

    items: list[JsonObject]
    meta: PageMeta | None
    page: int


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


class PagingLoop(Exception):
    """The pages do not lead to an end (the walks raise it on as ApiPagingError)."""


class PageWalker:
    """Decides, page by page, whether there is a next one (`advance` -> next page number or None).

    Envelope: stop at `pagesCount` (re-read on every page, so items added while reading are
    followed) or at an empty page. Loops: a page equal to the previous one; `currentPage` not the
    page asked for; more than twice the first page's `pagesCount` (plus one), which ordinary
    growth during a pass does not reach.
    Bare array: stop at a page shorter than `on_page` (or longer: the server is not paging at all);
    loops: a repeated page, or more than `max_pages` pages.
    """

    def __init__(self, on_page: int, *, start_page: int = 1, max_pages: int | None = None) -> None:
        if not 1 <= on_page <= 100:
            raise ValueError(f"on_page must be within 1..100 (the API's bound), not {on_page}")
        if start_page < 1:
            raise ValueError(f"start_page must be at least 1, not {start_page}")
        self.on_page = on_page
        self.page = start_page
        self.pages_read = 0
        self._max_pages = max_pages
        self._first_pages_count: int | None = None
        self._previous_items: list[JsonObject] | None = None

    def advance(self, page: Page) -> int | None:
        """Take in `page` (the one numbered `self.page`); return the next page number, or None at the end."""
        self.pages_read += 1
        if page.items and page.items == self._previous_items:
            raise PagingLoop(f"page {page.page} repeats page {page.page - 1}: the server ignores paging")
        self._previous_items = page.items
        if not page.items:
            return None
        meta = page.meta
        if meta is not None and meta.pages_count is not None:
            return self._advance_envelope(page, meta, meta.pages_count)
        if len(page.items) != self.on_page:
            return None  # short: the last page; longer: the whole list in one answer
        return self._next(limit=self._max_pages or DEFAULT_MAX_PAGES)

    def _advance_envelope(self, page: Page, meta: PageMeta, pages_count: int) -> int | None:
        if meta.current_page is not None and meta.current_page != page.page:
            raise PagingLoop(f"asked for page {page.page}, the answer says currentPage={meta.current_page}")
        if self._first_pages_count is None:
            self._first_pages_count = pages_count
        if page.page >= pages_count:
            return None
        return self._next(limit=self._max_pages or 2 * max(self._first_pages_count, 1) + 1)

    def _next(self, *, limit: int) -> int:
        if self.pages_read >= limit:
            raise PagingLoop(f"read {self.pages_read} pages and the list has not ended (limit {limit})")
        self.page += 1
        return self.page


class PageReader(Protocol):
    """What the walks need of a client (`ApiClient`): one page of a list, its endpoints, its concurrency."""

    @property
    def endpoints(self) -> Mapping[str, Endpoint]: ...

    @property
    def page_concurrency(self) -> int: ...

    def get_page(
        self, endpoint: str, params: Mapping[str, object] | None = None, page: int = 1, on_page: int = 100
    ) -> Page: ...


def check_concurrency(value: int) -> int:
    if isinstance(value, bool) or not 1 <= value <= MAX_PAGE_CONCURRENCY:
        raise ValueError(f"page concurrency must be within 1..{MAX_PAGE_CONCURRENCY}, not {value!r}")
    return value


def iter_pages(
    client: PageReader,
    endpoint: str,
    params: Mapping[str, object] | None = None,
    on_page: int = 100,
    *,
    start_page: int = 1,
    max_pages: int | None = None,
) -> Iterator[Page]:
    """Every page of a list endpoint, from `start_page` to the end; raises ApiPagingError on a loop."""
    walker = PageWalker(on_page, start_page=start_page, max_pages=max_pages)
    number: int | None = walker.page
    while number is not None:
        page = client.get_page(endpoint, params, number, on_page)
        number = _advance(client, walker, endpoint, page)
        yield page


def iter_pages_concurrent(
    client: PageReader,
    endpoint: str,
    params: Mapping[str, object] | None = None,
    on_page: int = 100,
    *,
    concurrency: int | None = None,
    start_page: int = 1,
    max_pages: int | None = None,
) -> Generator[Page, None, None]:
    """The pages of `iter_pages`, in the same order and under the same loop checks, read ahead in parallel.

    The first page is read alone to learn `meta.pagesCount`; the next ones are then fetched by
    up to `concurrency` threads (default: the client's `page_concurrency`), never more than
    `concurrency` pages in flight or waiting, so memory stays flat however long the list. A
    list without a page count (a bare array) is read one page at a time. A page that fails
    after its retries raises here, at its place in the order. Closing the iterator early
    cancels the pages not yet started and waits for those under way.
    """
    concurrency = client.page_concurrency if concurrency is None else check_concurrency(concurrency)
    walker = PageWalker(on_page, start_page=start_page, max_pages=max_pages)
    first = client.get_page(endpoint, params, walker.page, on_page)
    number = _advance(client, walker, endpoint, first)
    yield first
    if number is None:
        return
    known = first.meta.pages_count if first.meta is not None else None
    if known is None or concurrency == 1:
        while number is not None:
            page = client.get_page(endpoint, params, number, on_page)
            number = _advance(client, walker, endpoint, page)
            yield page
        return

    log.debug("api.pages_concurrent", endpoint=endpoint, pages_count=known, concurrency=concurrency)
    window: deque[tuple[int, Future[Page]]] = deque()
    submitted = number - 1

    def top_up(pool: ThreadPoolExecutor, wanted: int, known: int) -> None:
        # Up to the latest pagesCount (it may grow or shrink mid-pass), always including `wanted`.
        nonlocal submitted
        while len(window) < concurrency and submitted < max(known, wanted):
            submitted += 1
            # A copy per page: the caller's bound log context reaches the fetching thread.
            context = contextvars.copy_context()
            window.append(
                (submitted, pool.submit(context.run, client.get_page, endpoint, params, submitted, on_page))
            )

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="syncd-pages") as pool:
        try:
            top_up(pool, number, known)
            while number is not None:
                wanted, future = window.popleft()
                assert wanted == number, "the window holds consecutive pages from the walker's next"
                page = future.result()
                number = _advance(client, walker, endpoint, page)
                if page.meta is not None and page.meta.pages_count is not None:
                    known = page.meta.pages_count
                if number is not None:
                    top_up(pool, number, known)  # before yielding: fetching overlaps the caller's work
                yield page
        finally:
            # Pages read past the end, or no longer wanted: cancel what has not started.
            for _, pending in window:
                pending.cancel()


def _advance(client: PageReader, walker: PageWalker, endpoint: str, page: Page) -> int | None:
    try:
        return walker.advance(page)
    except PagingLoop as exc:
        spec = client.endpoints[endpoint]
        raise ApiPagingError(None, str(exc), endpoint, spec.method, spec.path) from None
