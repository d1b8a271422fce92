"""Query strings the way the PHP backend reads them.

SimplyMeet runs on PHP (its formats are PHP's `Y-m-d H:i:s`), whose `$_GET` parser builds nested
arrays from bracketed keys: `filter[eventTypeList][]=5&filter[eventTypeList][]=9` arrives as
`["filter" => ["eventTypeList" => [5, 9]]]`. This module flattens nested Python values to those
pairs; percent-encoding of the brackets is left to httpx (PHP decodes before parsing, and its own
`http_build_query` encodes them too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

QueryPairs = list[tuple[str, str]]


def encode_query(params: Mapping[str, object]) -> QueryPairs:
    """Flatten `params` into PHP-style `(key, value)` pairs, in the order given.

    - a mapping becomes `key[sub]=...`;
    - a list of scalars becomes repeated `key[]=...`; a list holding mappings or lists uses
      indices (`key[0][sub]=...`), since `[]` would open a new element for every leaf;
    - None is left out, like PHP's `http_build_query`; so are empty lists and mappings, which a
      query string cannot express;
    - bools become `1`/`0`: PHP reads every non-empty string but "0" as true, so `false` (or
      Python's `False`) sent as text would arrive as true;
    - dates become `Y-m-d`, naive date-times `Y-m-d H:i:s` (the backend's formats).
    """
    pairs: QueryPairs = []
    for key, value in params.items():
        _flatten(str(key), value, pairs)
    return pairs


def build_query_string(params: Mapping[str, object]) -> str:
    """`encode_query` joined into one percent-encoded string (for logs and tests)."""
    return urlencode(encode_query(params))


def _flatten(key: str, value: object, out: QueryPairs) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(f"{key}[{sub}]", item, out)
        return
    if _is_sequence(value):
        assert isinstance(value, Sequence)
        indexed = any(isinstance(i, Mapping) or _is_sequence(i) for i in value)
        for index, item in enumerate(value):
            _flatten(f"{key}[{index}]" if indexed else f"{key}[]", item, out)
        return
    out.append((key, scalar_text(value)))


def _is_sequence(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def scalar_text(value: object) -> str:
    """The text PHP expects for one scalar query value."""
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            # The docs state no zone for request date-times; refuse to guess one silently.
            raise ValueError(f"query date-time {value.isoformat()} is zone-aware; pass a naive one or text")
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, int | float | str):
        return str(value)
    raise TypeError(f"cannot put a {type(value).__name__} in a query string")
