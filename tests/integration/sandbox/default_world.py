"""The default world the contract tests run against, and how a docs-only client reaches it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from syncd.sandbox import Sandbox

API_KEY = "contract-key"
ADMIN_TOKEN = "contract-admin-token"
EVENTS = 120
SEED = 7
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
BASE_URL = "http://sandbox"


class SteppingClock:
    """A clock after the whole world that moves one second per reading, so writes move updatedAt."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def make_sandbox(**overrides: Any) -> Sandbox:
    kwargs: dict[str, Any] = {
        "api_key": API_KEY,
        "events": EVENTS,
        "seed": SEED,
        "anchor": ANCHOR,
        "admin_token": ADMIN_TOKEN,
    }
    return Sandbox(**(kwargs | overrides))


def api_client(sb: Sandbox, *, api_key: str | None = API_KEY) -> httpx.Client:
    headers = {"X-API-KEY": api_key} if api_key is not None else {}
    return httpx.Client(transport=sb.transport(), base_url=BASE_URL, headers=headers)
