from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qsl

import pytest

from syncd.api import build_query_string, encode_query

pytestmark = pytest.mark.unit


def test_nested_filter_lists_use_php_brackets() -> None:
    params = {"filter": {"eventTypeList": [5, 9], "scheduledAtFrom": "2026-01-01"}, "page": 2}
    assert encode_query(params) == [
        ("filter[eventTypeList][]", "5"),
        ("filter[eventTypeList][]", "9"),
        ("filter[scheduledAtFrom]", "2026-01-01"),
        ("page", "2"),
    ]


def test_bools_are_one_and_zero() -> None:
    # PHP reads the text "false" as true: only "0" (or empty) is false.
    assert encode_query({"skipPagination": False, "filter": {"forCurrentUser": True}}) == [
        ("skipPagination", "0"),
        ("filter[forCurrentUser]", "1"),
    ]


def test_none_and_empty_containers_are_left_out() -> None:
    assert encode_query({"a": None, "b": [], "c": {}, "d": {"e": None}, "f": 0, "g": ""}) == [
        ("f", "0"),
        ("g", ""),
    ]


def test_dates_and_naive_datetimes_use_the_backend_formats() -> None:
    pairs = encode_query({"from": dt.date(2026, 1, 2), "at": dt.datetime(2026, 1, 2, 3, 4, 5)})
    assert pairs == [("from", "2026-01-02"), ("at", "2026-01-02 03:04:05")]


def test_zone_aware_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="zone-aware"):
        encode_query({"at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)})


def test_lists_holding_objects_are_indexed() -> None:
    # With `[]` every leaf would open a new element; indices keep each object whole.
    pairs = encode_query({"answers": [{"id": 1, "value": "x"}, {"id": 2, "value": "y"}]})
    assert pairs == [
        ("answers[0][id]", "1"),
        ("answers[0][value]", "x"),
        ("answers[1][id]", "2"),
        ("answers[1][value]", "y"),
    ]


def test_tuples_are_lists_and_strings_are_scalars() -> None:
    assert encode_query({"ids": (1, 2), "invitee": "ann@example.com"}) == [
        ("ids[]", "1"),
        ("ids[]", "2"),
        ("invitee", "ann@example.com"),
    ]


def test_query_string_is_percent_encoded_like_http_build_query() -> None:
    text = build_query_string({"filter": {"eventTypeList": [5]}, "q": "a b&c"})
    assert text == "filter%5BeventTypeList%5D%5B%5D=5&q=a+b%26c"
    assert parse_qsl(text) == [("filter[eventTypeList][]", "5"), ("q", "a b&c")]


def test_unsupported_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        encode_query({"x": object()})
