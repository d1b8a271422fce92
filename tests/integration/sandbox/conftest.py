"""A small default world, and clients that speak to it the way a docs-only client would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import httpx
import pytest

from syncd.sandbox import Sandbox
from tests.integration.sandbox.contract import WorldIds, learn_ids
from tests.integration.sandbox.default_world import ANCHOR, SteppingClock, api_client, make_sandbox

# -- a shared world that tests only read -------------------------------------------------------


@pytest.fixture(scope="session")
def shared_sandbox() -> Sandbox:
    return make_sandbox()


@pytest.fixture(scope="session")
def reader(shared_sandbox: Sandbox) -> Iterator[httpx.Client]:
    with api_client(shared_sandbox) as client:
        yield client


@pytest.fixture(scope="session")
def shared_ids(reader: httpx.Client) -> WorldIds:
    return learn_ids(reader)


# -- a fresh world per test, for writes --------------------------------------------------------


@pytest.fixture
def sandbox() -> Sandbox:
    sb = make_sandbox()
    sb.clock = SteppingClock(ANCHOR + dt.timedelta(days=2))
    return sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with api_client(sandbox) as c:
        yield c


@pytest.fixture
def ids(client: httpx.Client) -> WorldIds:
    return learn_ids(client)


@pytest.fixture
def now(sandbox: Sandbox) -> Callable[[], dt.datetime]:
    return lambda: sandbox.clock()
