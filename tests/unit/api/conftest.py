"""A client over httpx.MockTransport, a canary key, and retries without waiting."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import stamina

from syncd.api import ApiClient
from tests.unit.api.mock_api import BASE_URL, CANARY_KEY, Handler, Recorder


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    # attempts is only a cap here, so each test's max_attempts still decides; waits become 0.
    with stamina.set_testing(True, attempts=1_000, cap=True):
        yield


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[ApiClient, Recorder]]]:
    clients: list[ApiClient] = []

    def make(handler: Handler, **kwargs: Any) -> tuple[ApiClient, Recorder]:
        recorder = Recorder(handler)
        kwargs.setdefault("rate_limit_per_s", None)  # tests of the limit pass their own, on a fake clock
        client = ApiClient(BASE_URL, CANARY_KEY, transport=httpx.MockTransport(recorder), **kwargs)
        clients.append(client)
        return client, recorder

    yield make
    for client in clients:
        client.close()
