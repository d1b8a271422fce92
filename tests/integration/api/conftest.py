"""The API client against the sandbox: in process through its transport, or over real loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import stamina

from syncd.api import ApiClient
from syncd.sandbox import Sandbox

API_KEY = "api-client-it-key-93b1"
BASE_URL = "http://sandbox"
EVENTS = 150
ANCHOR = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    # attempts only caps; each client's max_attempts decides. Waits become 0.
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(api_key=API_KEY, events=EVENTS, seed=11, anchor=ANCHOR)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[ApiClient]:
    # No client-side rate limit: the in-process sandbox needs no protecting, and tests stay fast.
    with ApiClient(BASE_URL, API_KEY, transport=sandbox.transport(), rate_limit_per_s=None) as api:
        yield api
