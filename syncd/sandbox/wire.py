"""What the adapters hand the core and get back, and the small route table both APIs use."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.sandbox.errors import ApiError
from syncd.sandbox.render import dumps

Ids = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # decoded, without the query
    query: str  # raw (still percent-encoded)
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    # Fault instructions for the adapter: drop the connection after the headers; wait before answering.
    drop: bool = False
    delay_s: float = 0.0


def json_reply(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status, dumps(obj), (("content-type", "application/json"), *headers))


def raw_json_reply(text: str, status: int = 200) -> Reply:
    """JSON the caller already encoded (ASCII by construction)."""
    return Reply(status, text.encode("ascii"), (("content-type", "application/json"),))


def empty_reply() -> Reply:
    """The docs' "Returns empty response": 200 with an empty body."""
    return Reply(200)


def error_reply(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return json_reply({"message": message}, status, headers)


Handler = Callable[[Request, Ids], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


def route(methods: str, pattern: str, handler: Handler) -> Route:
    """`route("PUT POST", r"/event/cancel/(\\d+)", fn)`: path groups arrive as int ids."""
    return Route(frozenset(methods.split()), re.compile(pattern), handler)


def dispatch(routes: Iterable[Route], req: Request, sub_path: str) -> Reply:
    allowed: set[str] = set()
    for r in routes:
        m = r.pattern.fullmatch(sub_path)
        if m is None:
            continue
        if req.method in r.methods:
            return r.handler(req, tuple(int(g) for g in m.groups()))
        allowed |= r.methods
    if allowed:
        allow = ", ".join(sorted(allowed))
        raise ApiError(405, f"method {req.method} not allowed here; allowed: {allow}", (("allow", allow),))
    raise ApiError(404, f"no route for {req.method} {req.path}")
