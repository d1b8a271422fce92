"""PHP-style query strings (`filter[ids][]=1&filter[state]=canceled`) and the list parameters."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from syncd.sandbox.errors import ApiError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no", ""})


def parse_php_query(qs: str) -> dict[str, Any]:
    """Nested dicts/lists the way PHP builds $_GET; `a[]` appends, later keys win."""
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(qs, keep_blank_values=True):
        m = _KEY.match(raw_key)
        if m is None:  # PHP keeps odd keys verbatim; so do we
            root[raw_key] = value
            continue
        path = [m[1], *_SEGMENT.findall(m[2])]
        node: Any = root
        for i, seg in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, list):  # only reached through `[]`: start a new element
                if last:
                    node.append(value)
                    break
                child: Any = [] if path[i + 1] == "" else {}
                node.append(child)
                node = child
                continue
            if last:
                node[seg] = value
            else:
                want_list = path[i + 1] == ""
                existing = node.get(seg)
                if not isinstance(existing, list if want_list else dict):
                    existing = [] if want_list else {}
                    node[seg] = existing
                node = existing
    return root


@dataclass(frozen=True, slots=True)
class ListParams:
    page: int
    on_page: int
    order_field: str
    descending: bool
    skip_pagination: bool
    filter: Mapping[str, Any]


def _scalar(q: Mapping[str, Any], key: str) -> str | None:
    value = q.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key}: expected a single value")
    return value


def _int(q: Mapping[str, Any], key: str, default: int) -> int:
    raw = _scalar(q, key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"{key}: expected an integer, got {raw!r}") from None


def to_bool(raw: str, name: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ApiError(400, f"{name}: expected a boolean (1/0/true/false), got {raw!r}")


def list_params(q: Mapping[str, Any], *, order_fields: Collection[str], default_order: str) -> ListParams:
    page = _int(q, "page", 1)
    if page < 1:
        raise ApiError(400, "page: should be greater than 0")
    on_page = _int(q, "onPage", 20)
    if not 1 <= on_page <= 100:
        raise ApiError(400, "onPage: should be greater than 0 and less than or equal to 100")
    order_field = _scalar(q, "orderField") or default_order
    if order_field not in order_fields:
        raise ApiError(
            400, f"orderField: unsupported value {order_field!r}; one of {', '.join(order_fields)}"
        )
    direction = (_scalar(q, "orderDirection") or "asc").lower()
    if direction not in ("asc", "desc"):
        raise ApiError(400, "orderDirection: should be either 'asc' or 'desc'")
    skip_raw = _scalar(q, "skipPagination")
    skip = to_bool(skip_raw, "skipPagination") if skip_raw is not None else False
    filt = q.get("filter", {})
    if filt == "":
        filt = {}
    if not isinstance(filt, dict):
        raise ApiError(400, "filter: expected filter[...] fields")
    # groupBy is documented without semantics: accepted and ignored.
    return ListParams(page, on_page, order_field, direction == "desc", skip, filt)


def page_window(total: int, p: ListParams) -> tuple[int, int, dict[str, int]]:
    """(start, stop, MetaDataDTO) of the requested page; a page past the end is empty, not an error."""
    if p.skip_pagination:
        return 0, total, {"pagesCount": 1 if total else 0, "itemsPerPage": total, "itemsCount": total,
                          "currentPage": 1}  # fmt: skip
    start = (p.page - 1) * p.on_page
    meta = {
        "pagesCount": math.ceil(total / p.on_page),
        "itemsPerPage": p.on_page,
        "itemsCount": total,
        "currentPage": p.page,
    }
    return min(start, total), min(start + p.on_page, total), meta


# -- filter values ----------------------------------------------------------------------------


def filter_list(f: Mapping[str, Any], key: str) -> list[str] | None:
    """`filter[k][]=a&filter[k][]=b`, `filter[k][0]=a` or `filter[k]=a`; empty entries are dropped."""
    value = f.get(key)
    if value is None:
        return None
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in items):
        raise ApiError(400, f"filter[{key}]: expected a list of values")
    return [v for v in items if v != ""]


def filter_ints(f: Mapping[str, Any], key: str) -> set[int] | None:
    items = filter_list(f, key)
    if items is None or not items:
        return None
    try:
        return {int(v) for v in items}
    except ValueError:
        raise ApiError(400, f"filter[{key}]: expected integer ids") from None


def filter_str(f: Mapping[str, Any], key: str) -> str | None:
    value = f.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"filter[{key}]: expected a single value")
    return value


def filter_date(f: Mapping[str, Any], key: str) -> int | None:
    """YYYY-MM-DD -> epoch seconds at 00:00 UTC."""
    raw = filter_str(f, key)
    if raw is None:
        return None
    try:
        return int(datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise ApiError(400, f"filter[{key}]: expected a date YYYY-MM-DD, got {raw!r}") from None
