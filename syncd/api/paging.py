"""Pages of a list, and the small state machine that walks them to the end.

Lists answer in two shapes: the `{meta, items}` envelope (stop at `meta.pagesCount`) and a bare
array (stop at a short page). Either way a server that ignores `page` would hand back the same
page forever, so the walker refuses a page identical to the one before, and a page count that
keeps growing past any reasonable bound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]

# A bare-array list has no page count to check against: past this many pages it is a loop.
DEFAULT_MAX_PAGES = 10_000


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
    """The pages do not lead to an end (the client raises it on as ApiPagingError)."""


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
