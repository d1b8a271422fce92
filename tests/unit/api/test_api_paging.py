from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from syncd.api import ApiClient, ApiPagingError, Page, PageMeta, PageWalker
from syncd.api.paging import iter_pages
from tests.unit.api.mock_api import Recorder

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]


def _envelope_world(
    total: int, *, ignore_page: bool = False, grow: int = 0
) -> Callable[[httpx.Request], httpx.Response]:
    """event/list over `total` items; `grow` adds that many items per page read."""
    state = {"total": total}

    def handler(request: httpx.Request) -> httpx.Response:
        page = 1 if ignore_page else int(request.url.params["page"])
        on_page = int(request.url.params["onPage"])
        items = [{"id": i} for i in range((page - 1) * on_page, min(page * on_page, state["total"]))]
        pages = -(-state["total"] // on_page)
        meta = {
            "pagesCount": pages,
            "itemsPerPage": on_page,
            "itemsCount": state["total"],
            "currentPage": page,
        }
        state["total"] += grow
        return httpx.Response(200, json={"meta": meta, "items": items})

    return handler


def _array_world(total: int, *, ignore_page: bool = False) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        page = 1 if ignore_page else int(request.url.params["page"])
        on_page = int(request.url.params["onPage"])
        return httpx.Response(
            200, json=[{"id": i} for i in range((page - 1) * on_page, min(page * on_page, total))]
        )

    return handler


def _ids(pages: list[Page]) -> list[Any]:
    return [item["id"] for page in pages for item in page.items]


def test_envelope_pages_stop_at_pages_count(make_client: MakeClient) -> None:
    client, calls = make_client(_envelope_world(25))
    pages = list(iter_pages(client, "event.list", {"orderField": "id"}, on_page=10))
    assert [p.page for p in pages] == [1, 2, 3]
    assert _ids(pages) == list(range(25))
    assert pages[0].meta == PageMeta(pages_count=3, items_per_page=10, items_count=25, current_page=1)
    assert len(calls.requests) == 3
    assert calls.requests[2].url.params["orderField"] == "id"


def test_envelope_of_an_empty_list_is_one_page(make_client: MakeClient) -> None:
    client, calls = make_client(_envelope_world(0))
    pages = list(iter_pages(client, "event.list", on_page=10))
    assert len(pages) == 1
    assert pages[0].items == []
    assert len(calls.requests) == 1


def test_bare_array_pages_stop_at_a_short_page(make_client: MakeClient) -> None:
    client, calls = make_client(_array_world(25))
    pages = list(iter_pages(client, "poll.list", on_page=10))
    assert _ids(pages) == list(range(25))
    assert all(p.meta is None for p in pages)
    assert len(calls.requests) == 3


def test_bare_array_of_exact_pages_stops_at_the_empty_page(make_client: MakeClient) -> None:
    client, calls = make_client(_array_world(20))
    assert _ids(list(iter_pages(client, "poll.list", on_page=10))) == list(range(20))
    assert len(calls.requests) == 3


def test_bare_array_longer_than_asked_is_the_whole_list(make_client: MakeClient) -> None:
    client, calls = make_client(lambda r: httpx.Response(200, json=[{"id": i} for i in range(7)]))
    assert len(list(iter_pages(client, "user.list", on_page=5))) == 1
    assert len(calls.requests) == 1


def test_a_repeated_bare_page_is_a_loop(make_client: MakeClient) -> None:
    client, calls = make_client(_array_world(100, ignore_page=True))
    pages = iter_pages(client, "poll.list", on_page=10)
    assert next(pages).page == 1
    with pytest.raises(ApiPagingError, match="repeats") as caught:
        next(pages)
    assert caught.value.endpoint == "poll.list"
    assert len(calls.requests) == 2


def test_a_repeated_envelope_page_is_a_loop(make_client: MakeClient) -> None:
    # The server ignores `page` and says so in currentPage.
    client, _ = make_client(_envelope_world(30, ignore_page=True))
    with pytest.raises(ApiPagingError):
        list(iter_pages(client, "event.list", on_page=10))


def test_current_page_that_is_not_the_one_asked_for_is_a_loop() -> None:
    walker = PageWalker(10)
    meta = PageMeta(pages_count=3, items_per_page=10, items_count=30, current_page=1)
    assert walker.advance(Page(items=[{"id": 1}], meta=meta, page=1)) == 2
    with pytest.raises(Exception, match="currentPage=1"):
        walker.advance(Page(items=[{"id": 2}], meta=meta, page=2))


def test_pages_count_that_keeps_growing_is_a_loop(make_client: MakeClient) -> None:
    # Every page read adds a page's worth of items: the end recedes forever.
    client, calls = make_client(_envelope_world(20, grow=10))
    with pytest.raises(ApiPagingError, match="has not ended"):
        list(iter_pages(client, "event.list", on_page=10))
    assert len(calls.requests) == 5  # 2 * first pagesCount + 1


def test_modest_growth_during_a_pass_is_followed(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope_world(20, grow=3))
    ids = _ids(list(iter_pages(client, "event.list", on_page=10)))
    assert ids[:20] == list(range(20))
    assert len(ids) > 20


def test_bare_array_without_end_stops_at_max_pages(make_client: MakeClient) -> None:
    counter = iter(range(10**6))
    client, calls = make_client(lambda r: httpx.Response(200, json=[{"id": next(counter)} for _ in range(2)]))
    with pytest.raises(ApiPagingError, match="limit 4"):
        list(iter_pages(client, "poll.list", on_page=2, max_pages=4))
    assert len(calls.requests) == 4


def test_start_page(make_client: MakeClient) -> None:
    client, _calls = make_client(_envelope_world(25))
    pages = list(iter_pages(client, "event.list", on_page=10, start_page=2))
    assert [p.page for p in pages] == [2, 3]


@pytest.mark.parametrize("on_page", [0, 101])
def test_on_page_outside_the_api_bound_is_refused(on_page: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.100"):
        PageWalker(on_page)


def test_a_page_sends_order_and_filters_then_paging(make_client: MakeClient) -> None:
    client, calls = make_client(_envelope_world(3))
    params = {"orderField": "updatedAt", "orderDirection": "desc", "filter": {"eventTypeList": [5, 9]}}
    page = client.get_page("event.list", params, page=1, on_page=50)
    assert isinstance(page, Page)
    assert page.meta is not None
    assert page.meta.pages_count == 1
    assert len(page.items) == 3
    assert calls.requests[0].url.params.multi_items() == [
        ("orderField", "updatedAt"),
        ("orderDirection", "desc"),
        ("filter[eventTypeList][]", "5"),
        ("filter[eventTypeList][]", "9"),
        ("page", "1"),
        ("onPage", "50"),
    ]


def test_a_bare_array_list_accepts_an_envelope_too(make_client: MakeClient) -> None:
    client, _ = make_client(_envelope_world(3))
    page = client.get_page("poll.list")
    assert page.meta is not None
    assert [i["id"] for i in page.items] == [0, 1, 2]


def test_meta_fields_tolerate_strings_and_gaps() -> None:
    meta = PageMeta.from_json({"pagesCount": "4", "currentPage": 1, "itemsCount": None, "itemsPerPage": True})
    assert meta == PageMeta(pages_count=4, items_per_page=None, items_count=None, current_page=1)
