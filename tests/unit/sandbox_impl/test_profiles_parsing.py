"""Variation profile names: parsing, combining, refusing (the wire effects are in tests/integration/sandbox)."""

from __future__ import annotations

import dataclasses

import pytest

from syncd.sandbox.profiles import DEFAULT, PROFILES, Profile, combine, parse_profile, shorten
from syncd.sandbox.query import ListParams

pytestmark = pytest.mark.unit


def test_default_names_the_default_profile_and_varies_nothing() -> None:
    assert parse_profile("default") == Profile()
    assert not DEFAULT.varies_wire


@pytest.mark.parametrize("name", [n for n in PROFILES if n not in ("default", "chaos")])
def test_each_named_profile_flips_exactly_one_switch(name: str) -> None:
    flipped = [f.name for f in dataclasses.fields(Profile) if getattr(PROFILES[name], f.name) != f.default]
    assert len(flipped) == 1, f"profile {name!r} flips {flipped}"


def test_every_switch_has_a_named_profile() -> None:
    named = {
        f.name
        for p in PROFILES.values()
        for f in dataclasses.fields(Profile)
        if getattr(p, f.name) != f.default
    }
    assert named == {f.name for f in dataclasses.fields(Profile)}


def test_names_combine_and_tolerate_spaces() -> None:
    p = parse_profile("partial-nested, string-ids,short-pages")
    assert (p.partial_nested, p.string_ids, p.short_pages) == (True, True, True)
    assert not p.absent_optional
    assert p.datetimes == "default"


def test_combining_a_profile_with_itself_or_default_changes_nothing() -> None:
    assert parse_profile("string-ids,string-ids,default") == PROFILES["string-ids"]


def test_chaos_flips_every_switch_with_local_datetimes() -> None:
    chaos = PROFILES["chaos"]
    assert chaos.datetimes == "local"
    assert all(getattr(chaos, f.name) is True for f in dataclasses.fields(Profile) if f.name != "datetimes")


def test_unknown_name_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown profile 'nope' \(known: default, partial-nested, .*chaos\)"
    ):
        parse_profile("string-ids,nope")


@pytest.mark.parametrize("text", ["", "string-ids,", ",", "string-ids,,bare-lists"])
def test_empty_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="empty profile name"):
        parse_profile(text)


def test_contradicting_names_are_refused() -> None:
    with pytest.raises(
        ValueError, match="'offset-datetimes' and 'local-datetimes' set datetimes differently"
    ):
        combine(["offset-datetimes", "local-datetimes"])


def test_short_pages_caps_the_page_size_but_not_skip_pagination() -> None:
    asked = ListParams(
        page=2, on_page=100, order_field="id", descending=False, skip_pagination=False, filter={}
    )
    assert shorten(asked, PROFILES["short-pages"]).on_page == 15
    assert shorten(asked, DEFAULT).on_page == 100
    small = dataclasses.replace(asked, on_page=10)
    assert shorten(small, PROFILES["short-pages"]).on_page == 10
    whole = dataclasses.replace(asked, skip_pagination=True)
    assert shorten(whole, PROFILES["short-pages"]).on_page == 100
