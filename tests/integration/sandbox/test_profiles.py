"""Variation profiles: each one's answers differ on the wire from the default's, in its own way;
they combine; the default's bytes are those the sandbox answered before profiles existed."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncd.sandbox import PROFILES, Sandbox
from tests.integration.sandbox.contract import API
from tests.integration.sandbox.default_world import ANCHOR, SteppingClock, api_client, make_sandbox

pytestmark = pytest.mark.integration

# A scenario that touches every switch: reads of every list and object, paging, writes that a
# silent change would not stamp, and enough list reads for the upstream to move under silent-changes.
SCENARIO: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/event/list?page=1&onPage=100", None),
    ("GET", "/event/list?page=2&onPage=20&orderField=updatedAt", None),
    ("GET", "/event/1001", None),
    ("GET", "/event-type/list", None),
    ("GET", "/event-type/201", None),
    ("GET", "/event-type/201/tag/list", None),
    ("GET", "/event-type/availability/201?startDate=2026-11-20&endDate=2026-11-22", None),
    ("GET", "/user/current", None),
    ("GET", "/user/list", None),
    ("GET", "/poll/list", None),
    ("GET", "/poll/301", None),
    ("GET", "/user-event-type-tag/list", None),
    ("GET", "/acl", None),
    ("GET", "/organization-cancellation-policy", None),
    ("PUT", "/event/notes/1003", {"notes": "from the scenario"}),
    ("GET", "/event/1003", None),
    ("GET", "/event/list?page=1&onPage=5", None),
    ("GET", "/event/list?page=1&onPage=5&filter[ids][]=1003", None),
]


def play(profile: str) -> list[bytes]:
    sb = make_sandbox(profile=profile)
    sb.clock = SteppingClock(ANCHOR + dt.timedelta(days=2))
    with api_client(sb) as c:
        answers = []
        for method, path, body in SCENARIO:
            r = c.request(method, API + path, json=body)
            assert r.status_code == 200, f"{profile}: {method} {path} -> {r.status_code} {r.text[:200]}"
            answers.append(r.content)
        return answers


@pytest.fixture(scope="module")
def default_answers() -> list[bytes]:
    return play("default")


@pytest.mark.parametrize("name", [n for n in PROFILES if n != "default"])
def test_each_profile_differs_on_the_wire_from_the_default(name: str, default_answers: list[bytes]) -> None:
    varied = play(name)
    differing = [
        SCENARIO[i][1] for i, (a, b) in enumerate(zip(default_answers, varied, strict=True)) if a != b
    ]
    assert differing, f"profile {name!r} answers the scenario byte for byte like the default"


@pytest.mark.parametrize("name", ["chaos", "shifting-pages,silent-changes", "malformed-objects"])
def test_same_seed_and_profile_give_the_same_answers(name: str) -> None:
    assert play(name) == play(name)


# -- the default is what it was ---------------------------------------------------------------

# sha256 of answers captured from main (b1391af) before profiles existed, same seed/anchor/clock.
BEFORE_PROFILES = {
    "/event/list?page=1&onPage=100": "cd7f785aea6bf92854e743c9568bbfb0625225e16e34f15fe51b18fb0642a667",
    "/event/list?page=2&onPage=7&orderField=updatedAt": "3f981f8ea1f4f05f72b7a5dfe73a699e874b4b8c3c8dd4a0ca4c0fc70aa5054e",
    "/event/1001": "7c1c08f3081a47e10962083e3d2588a13023e61c1f030ca7cce5a80af5d7f0ca",
    "/event-type/list?page=1&onPage=100": "bc3aed80f2fee73199645db51e7d6b04ecf73f5c7c59cbea6c5b52a60fc72ba8",
    "/event-type/201": "d88b54f12ea57ee570153c2c915b079667b52664cc12c41f9ad6e5382bcc6585",
    "/event-type/201/tag/list": "7c080157f99b21c973c047aa328ab2ec46d76eb3ea66e6428829d379592b4142",
    "/user/current": "0d05035f9d4403057aba9881ab4c2bb45480c3c2f122fce3eb29edaf4be667f4",
    "/user/list": "bd3ea998f27b27c1b96f563d29f3031f7a4e9d2197017acf71e39222385cfb80",
    "/poll/list": "9927f48bdd14bd05d5347ef78db7be79861b549e8371f66a5de1943219191b29",
    "/poll/301": "3ab2c49f595d45000d9bc1bb0d0b88e08f39f781e27b68d8ff08e15352b5b2e2",
    "/user-event-type-tag/list": "04532cec9f2ffab8e4ecd25c1b7796c0302d23e2c1537962951bf7b023a08fb0",
    "/acl": "74d10088d21533edc8d02022e926ce886ca8e23deb8dd173733dc47c62e642c3",
    "/integration/list": "bc06f7e0ab3cfe38af10b2ead67643a959516c7690f4702e2c96e35e5cdeb32b",
    "/organization-cancellation-policy": "aad7ebc8a8deaa075947fd5103b756a8ec4685dd790bb6bbfb2ec85a3dbc733d",
    "/user-cancellation-policy": "46f26a1fb1a9ca1a243789b83135581a302ca66c73dea0094380a93141a0e1ba",
    "/event-type/availability/201?startDate=2026-11-20&endDate=2026-11-27": "41c1f55f06e3ff10100e17585b265689a6f3236cc8cac559b8d5ff4276877367",
}
BEFORE_PROFILES_AFTER_WRITES = {
    "/event/list?page=1&onPage=100&orderField=updatedAt&orderDirection=desc": "7614b282b129b5ec013f041c922109055eb7c4fb69d1b9e3b26325cc9fee9170",
    "/event/1001": "aff69de7bb052dce42b5dc9a394e25ceeda960a688410ce6fe493c9339122d00",
    "/event/1002": "25e22beee15e99232db7ca0b2a7de26cc91d47dc59360d7faf3c67ac683cee63",
}


def test_the_default_profile_answers_the_bytes_it_answered_before_profiles() -> None:
    sb = make_sandbox()  # no profile argument: the default
    sb.clock = SteppingClock(ANCHOR + dt.timedelta(days=2))
    digest = {}
    with api_client(sb) as c:
        for path in BEFORE_PROFILES:
            digest[path] = hashlib.sha256(c.get(API + path).content).hexdigest()
        c.put(f"{API}/event/notes/1001", json={"notes": "x"})
        c.post(f"{API}/event/invite-participants/1002", json={"emails": ["a@example.com"]})
        sb.world.add_event()
        after = {p: hashlib.sha256(c.get(API + p).content).hexdigest() for p in BEFORE_PROFILES_AFTER_WRITES}
    assert [p for p in BEFORE_PROFILES if digest[p] != BEFORE_PROFILES[p]] == []
    assert [p for p in after if after[p] != BEFORE_PROFILES_AFTER_WRITES[p]] == []


# -- each profile, in its own way -------------------------------------------------------------


@pytest.fixture
def default_sb() -> Sandbox:
    return make_sandbox()


def client_for(profile: str) -> httpx.Client:
    sb = make_sandbox(profile=profile)
    sb.clock = SteppingClock(ANCHOR + dt.timedelta(days=2))
    return api_client(sb)


@pytest.fixture
def default_client() -> Iterator[httpx.Client]:
    with client_for("default") as c:
        yield c


def get(c: httpx.Client, path: str) -> Any:
    r = c.get(API + path)
    assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    return r.json()


def walk(value: Any, where: str = "") -> Iterator[tuple[str, str, Any]]:
    """(where, key, value) for every key of every object in an answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield where, k, v
            yield from walk(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{where}[{i}]")


def test_partial_nested_keeps_id_and_a_different_subset_at_each_site(default_client: httpx.Client) -> None:
    with client_for("partial-nested") as c:
        event, full = get(c, "/event/1001"), get(default_client, "/event/1001")
        poll, et = get(c, "/poll/301"), get(c, "/event-type/201")
        user = get(c, "/user/current")
    sites = {
        "event.user": event["user"],
        "event.eventType": event["eventType"],
        "event.users[0]": event["users"][0],
        "poll.eventType": poll["eventType"],
        "eventType.users[0]": et["users"][0],
        "user.organization": user["organization"],
    }
    for where, obj in sites.items():
        assert "id" in obj, f"{where} lost its id: {obj}"
    assert set(event["user"]) < set(full["user"]), "event.user is not a subset of the full UserDTO"
    assert set(event["eventType"]) < set(full["eventType"])
    assert len({frozenset(obj) for obj in sites.values()}) == len(sites), f"sites share a key subset: {sites}"
    assert event["invitee"] == full["invitee"], "partial-nested must not touch the event's own objects"


def test_absent_optional_leaves_nulls_out(default_client: httpx.Client) -> None:
    with client_for("absent-optional") as c:
        varied = get(c, "/event/list?onPage=100")
    full = get(default_client, "/event/list?onPage=100")
    assert not [where + "." + k for where, k, v in walk(varied) if v is None]
    nulls = [(i, k) for i, e in enumerate(full["items"]) for k, v in e.items() if v is None]
    assert nulls, "the default world has no null event field to leave out"
    i, key = nulls[0]
    assert key not in varied["items"][i], f"items[{i}].{key} is null by default but still present"


def test_extra_fields_appear_in_objects_nested_objects_and_meta(default_client: httpx.Client) -> None:
    with client_for("extra-fields") as c:
        varied = get(c, "/event/list?onPage=3")
    full = get(default_client, "/event/list?onPage=3")
    assert set(varied["items"][0]) > set(full["items"][0])
    assert set(varied["items"][0]["user"]) > set(full["items"][0]["user"])
    assert set(varied["meta"]) > set(full["meta"])
    assert set(varied) > set(full)


DATETIME_KEYS = {"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt", "lastLogin"}


def _instants(answer: Any, parse: Any) -> dict[str, dt.datetime]:
    return {f"{w}.{k}": parse(v) for w, k, v in walk(answer) if k in DATETIME_KEYS and isinstance(v, str)}


def test_offset_datetimes_vary_the_form_but_keep_the_instant(default_client: httpx.Client) -> None:
    with client_for("offset-datetimes") as c:
        varied = get(c, "/event/list?onPage=50")
    full = get(default_client, "/event/list?onPage=50")
    texts = [v for _, k, v in walk(varied) if k in DATETIME_KEYS and isinstance(v, str)]
    assert any(t.endswith("Z") for t in texts), "no date-time written with Z"
    assert any(re.search(r"[+-]\d{4}$", t) for t in texts), "no date-time with a colon-less offset"
    assert any("." in t for t in texts), "no date-time with fractional seconds"
    assert len({t[19:] for t in texts}) > 5, "too few different offsets"
    assert _instants(varied, dt.datetime.fromisoformat) == _instants(full, dt.datetime.fromisoformat)


def test_local_datetimes_are_php_style_in_the_account_zone(default_client: httpx.Client) -> None:
    from zoneinfo import ZoneInfo

    with client_for("local-datetimes") as c:
        varied, me, poll = get(c, "/event/list?onPage=50"), get(c, "/user/current"), get(c, "/poll/301")
    full = get(default_client, "/event/list?onPage=50")
    zone = ZoneInfo(me["timezone"])
    assert me["timezone"] == "Europe/Berlin"

    def local(text: str) -> dt.datetime:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", text), f"not Y-m-d H:i:s: {text!r}"
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)

    assert _instants(varied, local) == _instants(full, dt.datetime.fromisoformat)
    # PollDTO documents ISO 8601 with an offset: left as documented.
    assert dt.datetime.fromisoformat(poll["createdAt"]).tzinfo is not None


def test_string_ids_write_every_id_as_a_numeric_string() -> None:
    with client_for("string-ids") as c:
        event, types = get(c, "/event/1001"), get(c, "/event-type/list")
    ids = [v for _, k, v in walk(event) if k == "id"]
    assert ids
    assert all(isinstance(v, str) and v.isdigit() for v in ids), ids
    assert event["id"] == "1001"
    assert all(isinstance(v, str) for e in [event] for v in e["relatedEventIds"])
    assert types["meta"]["itemsCount"] == 8, "meta counts are not ids: they stay numbers"


def test_bare_lists_answer_the_event_type_list_as_an_array() -> None:
    with client_for("bare-lists") as c:
        page1, page2 = get(c, "/event-type/list?onPage=5"), get(c, "/event-type/list?onPage=5&page=2")
        events = get(c, "/event/list?onPage=5")
    assert isinstance(page1, list)
    assert len(page1) == 5
    assert len(page2) == 3
    assert set(events) == {"meta", "items"}, "the event list's envelope is documented: it stays"


def test_enveloped_lists_wrap_the_undocumented_bare_lists() -> None:
    with client_for("enveloped-lists") as c:
        tags, acl = get(c, "/event-type/201/tag/list"), get(c, "/acl")
        polls = get(c, "/poll/list")
    for answer in (tags, acl):
        assert set(answer) == {"meta", "items"}
        assert answer["meta"]["itemsCount"] == len(answer["items"])
    assert isinstance(polls, list), "PollDTO[] is documented: it stays a bare array"


def test_same_updated_at_shares_one_instant_across_page_boundaries() -> None:
    with client_for("same-updated-at") as c:
        pages = [get(c, f"/event/list?onPage=20&page={n}&orderField=updatedAt")["items"] for n in (1, 2, 3)]
    instants = [[dt.datetime.fromisoformat(e["updatedAt"]) for e in page] for page in pages]
    assert instants[0][-1] == instants[1][0], "updatedAt does not run across the page 1/2 boundary"
    assert len(set(instants[0] + instants[1])) <= 2


def test_silent_changes_do_not_move_updated_at() -> None:
    with client_for("silent-changes") as c:
        before = get(c, "/event/1003")
        assert c.put(f"{API}/event/notes/1003", json={"notes": "quiet"}).status_code == 200
        assert c.post(f"{API}/event/invite-participants/1003", json={"emails": ["q@example.com"]}).is_success
        after = get(c, "/event/1003")
        assert after["notes"] == "quiet"
        assert len(after["participants"]) == len(before["participants"]) + 1
        assert after["updatedAt"] == before["updatedAt"]
        lists = [get(c, "/event/list?onPage=100&page=1") for _ in range(4)]
    changed = [
        (a["id"], a["updatedAt"] == b["updatedAt"])
        for a, b in zip(lists[2]["items"], lists[3]["items"], strict=True)
        if a != b
    ]
    assert changed, "four list reads and the upstream changed nothing"
    assert all(same for _, same in changed), f"an upstream silent change moved updatedAt: {changed}"


def test_short_pages_hold_fewer_items_than_asked() -> None:
    with client_for("short-pages") as c:
        events, polls = get(c, "/event/list?onPage=100"), get(c, "/poll/list?onPage=100")
    assert len(events["items"]) == 15
    assert events["meta"]["itemsPerPage"] == 15
    assert events["meta"]["pagesCount"] == 8  # 120 events
    assert len(polls) == 7, "a bare array page is short too (7 polls in the world)"


def test_shifting_pages_insert_mid_pass_so_a_later_page_repeats_an_item() -> None:
    with client_for("shifting-pages") as c:
        first = get(c, "/event/list?onPage=20&page=1")
        second = get(c, "/event/list?onPage=20&page=2")
    assert second["meta"]["itemsCount"] == first["meta"]["itemsCount"] + 1
    assert second["items"][0]["id"] == first["items"][-1]["id"], "the inserted event did not shift page 2"


def test_malformed_objects_break_a_documented_type_then_heal(default_client: httpx.Client) -> None:
    full = get(default_client, "/event/list?onPage=100")["items"]
    with client_for("malformed-objects") as c:
        reads = [get(c, "/event/list?onPage=100")["items"] for _ in range(3)]
        users = [get(c, "/user/list") for _ in range(3)]
    broken = [i for i, (a, b) in enumerate(zip(full, reads[0], strict=True)) if a != b]
    assert broken, "no event came back malformed"
    for i in broken:
        wrong = [k for k in full[i] if type(full[i][k]) is not type(reads[0][i][k])]
        assert len(wrong) == 1, f"items[{i}]: expected one wrong-typed field, got {wrong}"
        assert reads[1][i] == reads[0][i], "a malformed object healed after one read (two are promised)"
        assert reads[2][i] == full[i], f"items[{i}] did not heal on its third read"
    assert users[0] != users[2]
    assert users[2] == get(default_client, "/user/list")


def test_profiles_combine() -> None:
    with client_for("partial-nested,string-ids,bare-lists") as c:
        event, types = get(c, "/event/1001"), get(c, "/event-type/list")
    assert event["id"] == "1001"
    assert event["user"]["id"].isdigit()
    assert set(event["user"]) == {"id", "email", "fullName"}
    assert isinstance(types, list)


def test_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown profile 'strict' \(known: default, "):
        make_sandbox(profile="strict")
