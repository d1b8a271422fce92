"""Pages read ahead in parallel: same pages, same order, same checks as `iter_pages`, bounded."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from syncd.api import ApiClient, ApiNotFound, ApiPagingError, ApiTransientError, Page
from syncd.api.paging import iter_pages, iter_pages_concurrent
from tests.unit.api.mock_api import Recorder

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]
Handler = Callable[[httpx.Request], httpx.Response]
WAIT_S = 10.0  # only reached when the code under test is broken


def _page_of(request: httpx.Request) -> int:
    return int(request.url.params["page"])


def _envelope(
    total: int, *, grow: int = 0, shrink_to: int | None = None, ignore_page: bool = False
) -> Handler:
    """event/list over `total` items; `grow` adds items per request; `shrink_to` applies after page 1."""
    state = {"total": total}
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        page = 1 if ignore_page else _page_of(request)
        on_page = int(request.url.params["onPage"])
        with lock:
            total = state["total"] if shrink_to is None or page == 1 else shrink_to
            state["total"] += grow
        items = [{"id": i} for i in range((page - 1) * on_page, min(page * on_page, total))]
        meta = {
            "pagesCount": -(-total // on_page),
            "itemsPerPage": on_page,
            "itemsCount": total,
            "currentPage": page,
        }
        return httpx.Response(200, json={"meta": meta, "items": items})

    return handler


def _bare(total: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        page, on_page = _page_of(request), int(request.url.params["onPage"])
        return httpx.Response(
            200, json=[{"id": i} for i in range((page - 1) * on_page, min(page * on_page, total))]
        )

    return handler


class Gauge:
    """Wraps a handler to measure how many requests are under way at once."""

    def __init__(self, handler: Handler, *, hold: threading.Event | None = None) -> None:
        self.handler = handler
        self.hold = hold
        self.active = 0
        self.peak = 0
        self.started: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.started.append(_page_of(request))
        try:
            if self.hold is not None and _page_of(request) > 1:
                assert self.hold.wait(WAIT_S)
            return self.handler(request)
        finally:
            with self._lock:
                self.active -= 1


def _ids(pages: list[Page]) -> list[Any]:
    return [item["id"] for page in pages for item in page.items]


@pytest.mark.parametrize("total", [0, 1, 10, 99, 100, 101, 250])
@pytest.mark.parametrize("concurrency", [1, 2, 4, 8])
def test_same_pages_in_the_same_order_as_iter_pages(
    make_client: MakeClient, total: int, concurrency: int
) -> None:
    client, _ = make_client(_envelope(total))
    expected = list(iter_pages(client, "event.list", on_page=10))
    got = list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=concurrency))
    assert got == expected
    assert _ids(got) == list(range(total))


def test_pages_run_in_parallel_and_come_out_in_order(make_client: MakeClient) -> None:
    # Pages 2-5 each wait at a barrier for the other three: this only passes if all four are in flight.
    barrier = threading.Barrier(4, timeout=WAIT_S)
    finished: list[int] = []
    inner = _envelope(50)

    def handler(request: httpx.Request) -> httpx.Response:
        page = _page_of(request)
        if page > 1:
            barrier.wait()
        if page == 2:  # make page 2 the last to finish
            threading.Event().wait(0.05)
        finished.append(page)
        return inner(request)

    client, _ = make_client(handler)
    pages = list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4))
    assert [p.page for p in pages] == [1, 2, 3, 4, 5]
    assert finished[-1] == 2
    assert _ids(pages) == list(range(50))


def test_never_more_than_concurrency_pages_in_flight_or_waiting(make_client: MakeClient) -> None:
    gauge = Gauge(_envelope(400))
    client, _ = make_client(gauge)
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=3)
    consumed = 0
    for page in pages:
        consumed += 1
        # Read ahead by at most `concurrency` pages beyond the one just handed out.
        assert max(gauge.started) <= page.page + 3
    assert consumed == 40
    assert gauge.peak <= 3
    assert sorted(gauge.started) == list(range(1, 41))  # each page asked for once


def test_a_slow_consumer_holds_the_fetching_back(make_client: MakeClient) -> None:
    hold = threading.Event()
    gauge = Gauge(_envelope(1000), hold=hold)
    client, _ = make_client(gauge)
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4)
    assert next(pages).page == 1
    hold.set()
    assert next(pages).page == 2
    # Page 2 is with us; pages 3-6 may be fetched or under way, and not one more.
    assert max(gauge.started) <= 6
    pages.close()
    assert max(gauge.started) <= 6


def test_closing_early_cancels_what_has_not_started(make_client: MakeClient) -> None:
    hold = threading.Event()
    gauge = Gauge(_envelope(1000), hold=hold)
    client, calls = make_client(gauge)
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4)
    assert next(pages).page == 1
    hold.set()
    pages.close()  # returns once the pages under way are done; the rest never start
    asked = len(calls.requests)
    assert asked <= 1 + 4
    assert gauge.active == 0
    assert client.get_page("event.list", page=2, on_page=10).page == 2  # the client is still usable


def test_breaking_out_of_a_for_loop_stops_cleanly(make_client: MakeClient) -> None:
    client, calls = make_client(_envelope(1000))
    for page in iter_pages_concurrent(client, "event.list", on_page=10, concurrency=2):
        if page.page == 3:
            break
    assert len(calls.requests) <= 3 + 2
    assert not [t for t in threading.enumerate() if t.name.startswith("syncd-pages")]


def test_a_failed_page_raises_at_its_place(make_client: MakeClient) -> None:
    inner = _envelope(100)

    def handler(request: httpx.Request) -> httpx.Response:
        if _page_of(request) == 4:
            return httpx.Response(404, json={"message": "gone"})
        return inner(request)

    client, _ = make_client(handler)
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4)
    assert [next(pages).page for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ApiNotFound, match="gone"):
        next(pages)


def test_a_page_is_retried_in_its_thread_and_fails_after_its_attempts(make_client: MakeClient) -> None:
    inner = _envelope(60)
    asked: dict[int, int] = {}
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        page = _page_of(request)
        with lock:
            asked[page] = asked.get(page, 0) + 1
        if page == 2 and asked[page] == 1:
            return httpx.Response(503)  # once: retried, then fine
        if page == 5:
            return httpx.Response(200, content=b"<html>Bad gateway</html>")  # always
        return inner(request)

    client, _ = make_client(handler, max_attempts=3)
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=3)
    assert [next(pages).page for _ in range(4)] == [1, 2, 3, 4]
    with pytest.raises(ApiTransientError, match="not valid JSON: <html>Bad gateway</html>"):
        next(pages)
    assert asked[2] == 2
    assert asked[5] == 3


def test_a_server_that_ignores_page_is_caught_as_with_iter_pages(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope(30, ignore_page=True))
    pages = iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4)
    # Page 2 repeats page 1 (and claims currentPage=1): the walker refuses it in order.
    assert next(pages).page == 1
    with pytest.raises(ApiPagingError, match="page 2 repeats page 1"):
        next(pages)


def test_growth_during_the_pass_is_followed(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope(30, grow=5))
    pages = list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=2))
    ids = _ids(pages)
    assert ids == list(range(len(ids)))
    assert len(pages) > 3  # pages beyond the first page count were read


def test_a_list_that_shrinks_mid_pass_stops_at_its_new_end(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope(100, shrink_to=35))
    pages = list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=8))
    assert [p.page for p in pages] == [1, 2, 3, 4]
    assert _ids(pages) == list(range(35))


def test_a_bare_array_is_read_one_page_at_a_time(make_client: MakeClient) -> None:
    gauge = Gauge(_bare(95))
    client, _ = make_client(gauge)
    pages = list(iter_pages_concurrent(client, "poll.list", on_page=10, concurrency=8))
    assert _ids(pages) == list(range(95))
    assert gauge.peak == 1
    assert gauge.started == list(range(1, 11))


def test_start_page_and_max_pages_as_with_iter_pages(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope(100))
    pages = list(iter_pages_concurrent(client, "event.list", on_page=10, start_page=4))
    assert [p.page for p in pages] == list(range(4, 11))
    with pytest.raises(ApiPagingError, match="limit 3"):
        list(iter_pages_concurrent(client, "event.list", on_page=10, max_pages=3))


def test_the_callers_context_reaches_the_fetching_threads(make_client: MakeClient) -> None:
    resource: contextvars.ContextVar[str] = contextvars.ContextVar("resource", default="unset")
    seen: set[str] = set()
    inner = _envelope(50)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.add(resource.get())
        return inner(request)

    client, _ = make_client(handler)
    token = resource.set("events")
    try:
        list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4))
    finally:
        resource.reset(token)
    assert seen == {"events"}


def test_default_concurrency_comes_from_the_client(make_client: MakeClient) -> None:
    gauge = Gauge(_envelope(20))
    client, _ = make_client(gauge, page_concurrency=1)
    assert client.page_concurrency == 1
    list(iter_pages_concurrent(client, "event.list", on_page=10))
    assert gauge.peak == 1


@pytest.mark.parametrize("concurrency", [0, -1, 33, True])
def test_concurrency_out_of_bounds_is_refused(make_client: MakeClient, concurrency: int) -> None:
    client, _ = make_client(_envelope(20))
    with pytest.raises(ValueError, match=r"page concurrency must be within 1\.\.32"):
        next(iter_pages_concurrent(client, "event.list", concurrency=concurrency))
    with pytest.raises(ValueError, match=r"page concurrency must be within 1\.\.32"):
        make_client(_envelope(20), page_concurrency=concurrency)


def test_paging_an_object_endpoint_is_refused(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope(20))
    with pytest.raises(ValueError, match="not a list endpoint"):
        next(iter_pages_concurrent(client, "event.get"))
