"""Lists: page/onPage limits, whole passes, ordering, PHP-style nested filters, skipPagination."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.integration.sandbox.contract import (
    API,
    REFUSED,
    WorldIds,
    bare_array,
    envelope,
    error_reason,
    event_pages,
    parse_answer_datetime,
)
from tests.integration.sandbox.default_world import ANCHOR, EVENTS

pytestmark = pytest.mark.integration

LIST = f"{API}/event/list"


@pytest.mark.parametrize("path", [LIST, f"{API}/event-type/list"])
@pytest.mark.parametrize(
    "params",
    [
        {"page": 1, "onPage": 101},
        {"page": 0, "onPage": 10},
        {"page": 1, "onPage": 0},
        {"page": -1, "onPage": 10},
    ],
    ids=["onPage=101", "page=0", "onPage=0", "page=-1"],
)
def test_out_of_range_paging_is_refused(reader: httpx.Client, path: str, params: dict[str, int]) -> None:
    # The docs: page "greater than 0"; onPage "greater than 0 and less than or equal to 100".
    error_reason(reader.get(path, params=params), REFUSED, f"{path} {params}")


def test_on_page_100_is_allowed(reader: httpx.Client) -> None:
    meta, items = envelope(reader.get(LIST, params={"page": 1, "onPage": 100}), "onPage=100")
    assert meta["itemsPerPage"] == 100, f"meta.itemsPerPage {meta['itemsPerPage']} for onPage=100"
    assert len(items) == min(100, meta["itemsCount"])


@pytest.mark.parametrize("on_page", [100, 7, 1])
def test_paging_yields_each_event_once(reader: httpx.Client, on_page: int) -> None:
    seen: Counter[int] = Counter()
    metas = []
    for meta, items in event_pages(reader, on_page=on_page):
        metas.append(meta)
        assert len(items) <= on_page, (
            f"page {meta['currentPage']} has {len(items)} items for onPage={on_page}"
        )
        seen.update(e["id"] for e in items)
    repeated = [i for i, n in seen.items() if n > 1]
    assert not repeated, f"events on more than one page: {repeated[:10]}"
    total = metas[0]["itemsCount"]
    assert total == len(seen) == EVENTS, f"itemsCount {total}, distinct ids {len(seen)}, world has {EVENTS}"
    for page, meta in enumerate(metas, start=1):
        assert meta["currentPage"] == page, f"meta.currentPage {meta['currentPage']} on page {page}"
        assert meta["itemsPerPage"] == on_page, (
            f"meta.itemsPerPage {meta['itemsPerPage']} for onPage={on_page}"
        )
        assert meta["itemsCount"] == total, "meta.itemsCount changed between pages of an unchanged world"
        assert meta["pagesCount"] == math.ceil(total / on_page), f"meta.pagesCount {meta['pagesCount']}"
    assert len(metas) == metas[0]["pagesCount"]


def test_page_after_the_last_is_empty(reader: httpx.Client) -> None:
    response = reader.get(LIST, params={"page": 50, "onPage": 100})
    if response.is_success:  # the docs are silent: an empty page or a refusal are both sane
        _, items = envelope(response, "page 50")
        assert items == [], "a page past the end should be empty"
    else:
        assert 400 <= response.status_code < 500, f"page past the end: {response.status_code}"


@pytest.mark.parametrize("direction", ["desc", "asc"])
def test_order_by_updated_at(reader: httpx.Client, direction: str) -> None:
    params = {"orderField": "updatedAt", "orderDirection": direction}
    stamps = [
        parse_answer_datetime(e["updatedAt"])
        for _, items in event_pages(reader, on_page=25, **params)
        for e in items
    ]
    assert len(stamps) == EVENTS
    pairs = list(itertools.pairwise(stamps))
    if direction == "desc":
        broken = [(a, b) for a, b in pairs if a < b]
    else:
        broken = [(a, b) for a, b in pairs if a > b]
    assert not broken, f"updatedAt {direction} order broken at {broken[:3]}"


def test_order_by_scheduled_at_asc(reader: httpx.Client) -> None:
    stamps = [
        parse_answer_datetime(e["scheduledAt"])
        for _, items in event_pages(reader, on_page=50, orderField="scheduledAt", orderDirection="asc")
        for e in items
    ]
    assert stamps == sorted(stamps), "scheduledAt asc order broken"


def test_filter_ids(reader: httpx.Client, shared_ids: WorldIds) -> None:
    wanted = sorted(e["id"] for e in shared_ids.events[3:8])
    params = [("page", 1), ("onPage", 100)] + [("filter[ids][]", i) for i in wanted]
    _, items = envelope(reader.get(LIST, params=params), "filter[ids][]")
    assert sorted(e["id"] for e in items) == wanted, "filter[ids][] did not give exactly the asked events"


def test_filter_event_type_list(reader: httpx.Client, shared_ids: WorldIds) -> None:
    by_type = Counter(e["eventType"]["id"] for e in shared_ids.events if e["eventType"])
    chosen = [t for t, _ in by_type.most_common(2)]
    params = [("page", 1), ("onPage", 100)] + [("filter[eventTypeList][]", t) for t in chosen]
    meta, items = envelope(reader.get(LIST, params=params), "filter[eventTypeList][]")
    assert {e["eventType"]["id"] for e in items} <= set(chosen), "events of other event types came back"
    assert meta["itemsCount"] == sum(by_type[t] for t in chosen), "filter[eventTypeList][] missed events"


def test_filter_state(reader: httpx.Client, shared_ids: WorldIds) -> None:
    states = Counter(e["state"] for e in shared_ids.events)
    for state, count in states.items():
        meta, items = envelope(
            reader.get(LIST, params={"page": 1, "onPage": 100, "filter[state]": state}),
            f"filter[state]={state}",
        )
        assert {e["state"] for e in items} <= {state}, f"filter[state]={state} gave other states"
        assert meta["itemsCount"] == count, f"filter[state]={state}: {meta['itemsCount']} of {count}"


def test_filter_scheduled_at_window(reader: httpx.Client, shared_ids: WorldIds) -> None:
    # The filter takes dates (YYYY-MM-DD) in a zone the docs do not state: allow a day's slack at the edges.
    start, end = ANCHOR.date() - dt.timedelta(days=7), ANCHOR.date() + dt.timedelta(days=6)
    params = {
        "page": 1,
        "onPage": 100,
        "filter[scheduledAtFrom]": start.isoformat(),
        "filter[scheduledAtTo]": end.isoformat(),
    }
    _, items = envelope(reader.get(LIST, params=params), "filter[scheduledAt*]")
    low = dt.datetime.combine(start, dt.time(), dt.UTC) - dt.timedelta(hours=14)
    high = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC) + dt.timedelta(hours=14)
    got = {e["id"] for e in items}
    for e in items:
        at = parse_answer_datetime(e["scheduledAt"])
        assert low <= at <= high, f"event {e['id']} at {e['scheduledAt']} is outside {start}..{end}"
    inner_low, inner_high = low + dt.timedelta(hours=28), high - dt.timedelta(hours=28)
    must = {
        e["id"]
        for e in shared_ids.events
        if inner_low <= parse_answer_datetime(e["scheduledAt"]) <= inner_high
    }
    assert must, "the default world has no events in the window: pick another"
    assert must <= got, f"events well inside the window missing: {sorted(must - got)[:10]}"


def test_filter_scheduled_at_from_alone(reader: httpx.Client, shared_ids: WorldIds) -> None:
    params = {"page": 1, "onPage": 100, "filter[scheduledAtFrom]": ANCHOR.date().isoformat()}
    meta, items = envelope(reader.get(LIST, params=params), "filter[scheduledAtFrom]")
    floor = ANCHOR - dt.timedelta(hours=14)  # the anchor's midnight in the farthest zone east
    assert all(parse_answer_datetime(e["scheduledAt"]) >= floor for e in items), (
        "events before scheduledAtFrom"
    )
    assert 0 < meta["itemsCount"] < len(shared_ids.events), "scheduledAtFrom alone did not narrow the list"


@pytest.mark.parametrize("flag", ["1", "true"])
def test_skip_pagination_returns_everything(reader: httpx.Client, flag: str) -> None:
    meta, items = envelope(reader.get(LIST, params={"skipPagination": flag}), f"skipPagination={flag}")
    assert len(items) == meta["itemsCount"] == EVENTS, (
        f"skipPagination={flag}: {len(items)} of {meta['itemsCount']}"
    )
    assert len({e["id"] for e in items}) == len(items), "skipPagination repeated events"


def test_event_type_list_pages(reader: httpx.Client) -> None:
    meta, items = envelope(
        reader.get(f"{API}/event-type/list", params={"page": 1, "onPage": 1}), "event types"
    )
    assert len(items) == 1
    assert meta["pagesCount"] == meta["itemsCount"] >= 1


def test_event_type_list_filter_ids(reader: httpx.Client, shared_ids: WorldIds) -> None:
    params = [("page", 1), ("onPage", 100), ("filter[ids][]", shared_ids.event_type_id)]
    _, items = envelope(reader.get(f"{API}/event-type/list", params=params), "event types filter[ids][]")
    assert [t["id"] for t in items] == [shared_ids.event_type_id]


def _one_filter(reader: httpx.Client, name: str, value: object) -> list[dict[str, Any]]:
    meta, items = envelope(
        reader.get(LIST, params={"page": 1, "onPage": 100, name: value}), f"{name}={value}"
    )
    assert meta["itemsCount"] == len(items), f"{name}: more than one page, narrow the test"
    return items


def test_filter_uuid(reader: httpx.Client, shared_ids: WorldIds) -> None:
    target = shared_ids.events[17]
    items = _one_filter(reader, "filter[uuid]", target["uuid"])
    assert [e["id"] for e in items] == [target["id"]], "filter[uuid] did not give exactly that event"


@pytest.mark.parametrize("by", ["email", "fullName"])
def test_filter_invitee(reader: httpx.Client, shared_ids: WorldIds, by: str) -> None:
    # The docs: "invitee string Invitee (email or name)".
    target = shared_ids.events[23]["invitee"]
    items = _one_filter(reader, "filter[invitee]", target[by])
    assert shared_ids.events[23]["id"] in {e["id"] for e in items}, (
        f"filter[invitee] by {by} missed the event"
    )
    expected = {e["id"] for e in shared_ids.events if e["invitee"] and e["invitee"][by] == target[by]}
    assert expected <= {e["id"] for e in items}, f"filter[invitee] by {by} missed events of that invitee"


def test_filter_user_list(reader: httpx.Client, shared_ids: WorldIds) -> None:
    user_id = shared_ids.events[5]["user"]["id"]
    params = [("page", 1), ("onPage", 100), ("filter[userList][]", user_id)]
    meta, items = envelope(reader.get(LIST, params=params), "filter[userList][]")
    owners = [(e["user"]["id"], {u["id"] for u in e["users"] or []}) for e in items]
    assert all(user_id == owner or user_id in assigned for owner, assigned in owners), (
        "other users' events came back"
    )
    assert shared_ids.events[5]["id"] in {e["id"] for e in items}, (
        "filter[userList][] missed the user's event"
    )
    assert 0 < meta["itemsCount"] < len(shared_ids.events), "filter[userList][] did not narrow the list"


def test_filter_event_type_type(reader: httpx.Client, shared_ids: WorldIds) -> None:
    kinds = Counter(e["eventType"]["type"] for e in shared_ids.events if e["eventType"])
    kind, count = kinds.most_common()[-1]
    meta, items = envelope(
        reader.get(LIST, params={"page": 1, "onPage": 100, "filter[eventTypeType]": kind}), "eventTypeType"
    )
    assert {e["eventType"]["type"] for e in items} == {kind}, f"filter[eventTypeType]={kind} gave other types"
    assert meta["itemsCount"] == count


def test_poll_list_pages_as_a_bare_array(reader: httpx.Client) -> None:
    everything = bare_array(reader.get(f"{API}/poll/list", params={"skipPagination": 1}), "polls")
    seen: list[int] = []
    for page in range(1, 100):
        chunk = bare_array(
            reader.get(f"{API}/poll/list", params={"page": page, "onPage": 1}), f"polls page {page}"
        )
        assert len(chunk) <= 1, f"poll list page {page} has {len(chunk)} items for onPage=1"
        seen += [p["id"] for p in chunk]
        if not chunk:
            break
    assert sorted(seen) == sorted(p["id"] for p in everything), "paging the poll list lost or repeated polls"
    assert len(seen) >= 2, "the default world should hold a few polls to page through"


def test_event_type_list_filter_type(reader: httpx.Client) -> None:
    _, all_types = envelope(
        reader.get(f"{API}/event-type/list", params={"page": 1, "onPage": 100}), "event types"
    )
    kind = all_types[0]["type"]
    params = {"page": 1, "onPage": 100, "filter[type]": kind}
    _, items = envelope(reader.get(f"{API}/event-type/list", params=params), "filter[type]")
    assert {t["type"] for t in items} == {kind}
    assert len(items) == sum(t["type"] == kind for t in all_types)


def test_related_event_ids_are_ints(shared_ids: WorldIds) -> None:
    for e in shared_ids.events:
        assert all(isinstance(i, int) for i in e["relatedEventIds"] or []), f"event {e['id']} relatedEventIds"
