"""Talking to a fake SimplyMeet: a recording MockTransport handler and canned answer sequences."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

CANARY_KEY = "canary-KEY-5f3e"
BASE_URL = "http://api.test"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """A MockTransport handler that remembers every request it answered."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def body(self, index: int = -1) -> Any:
        content = self.requests[index].content
        return json.loads(content) if content else None


def sequence(*responses: httpx.Response | Exception) -> Handler:
    """A handler answering with `responses` in turn, then repeating the last one."""
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(answer, Exception):
            raise answer
        # A fresh Response each time: one object must not serve two requests.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return handler
