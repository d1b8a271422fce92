"""Concurrent page reads, the client-side rate limit and cut-off bodies, against the sandbox and real sockets."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from syncd.api import ApiClient, JsonObject, Page
from syncd.api.paging import iter_pages, iter_pages_concurrent
from syncd.sandbox import Sandbox
from syncd.sandbox.server import running
from tests.integration.api.conftest import ANCHOR, API_KEY, BASE_URL

pytestmark = pytest.mark.integration

BIG = 1000


@pytest.fixture(scope="module")
def big() -> Sandbox:
    return Sandbox(api_key=API_KEY, events=BIG, seed=5, anchor=ANCHOR)


def _items(pages: Iterator[Page]) -> list[JsonObject]:
    return [item for page in pages for item in page.items]


@pytest.mark.parametrize(
    ("endpoint", "params"),
    [
        ("event.list", None),
        ("event.list", {"orderField": "updatedAt", "orderDirection": "desc"}),
        ("event_type.list", None),
        ("poll.list", None),
    ],
)
def test_concurrent_reads_equal_sequential_reads(
    big: Sandbox, endpoint: str, params: dict[str, object] | None
) -> None:
    with ApiClient(BASE_URL, API_KEY, transport=big.transport(), rate_limit_per_s=None) as client:
        sequential = list(iter_pages(client, endpoint, params, on_page=37))
        concurrent = list(iter_pages_concurrent(client, endpoint, params, on_page=37, concurrency=6))
    assert concurrent == sequential
    if endpoint == "event.list":
        assert len({e["id"] for e in _items(iter(concurrent))}) == BIG


def test_concurrent_reads_ride_out_faults() -> None:
    sandbox = Sandbox(api_key=API_KEY, events=BIG, seed=6, anchor=ANCHOR)
    sandbox.faults.error_rate = 0.2
    sandbox.faults.drop_rate = 0.05
    sandbox.faults.malformed_rate = 0.1
    with ApiClient(
        BASE_URL, API_KEY, transport=sandbox.transport(), max_attempts=20, rate_limit_per_s=None
    ) as client:
        pages = list(iter_pages_concurrent(client, "event.list", on_page=50, concurrency=4))
    assert [p.page for p in pages] == list(range(1, BIG // 50 + 1))
    assert len({e["id"] for e in _items(iter(pages))}) == BIG
    assert any(call.status >= 500 for call in sandbox.calls)


def test_concurrent_reads_over_real_loopback(big: Sandbox) -> None:
    big.faults.latency_s = 0.01
    try:
        with (
            running(big) as base_url,
            ApiClient(base_url, API_KEY, timeout=10.0, rate_limit_per_s=None, page_concurrency=4) as client,
        ):
            pages = iter_pages_concurrent(client, "event.list", on_page=100)
            first = next(pages)
            assert first.meta is not None
            assert first.meta.pages_count == BIG // 100
            rest = list(pages)
            early = iter_pages_concurrent(client, "event.list", on_page=20)
            assert [next(early).page for _ in range(3)] == [1, 2, 3]
            early.close()
            assert client.current_user()["id"]  # the client goes on after an early close
    finally:
        big.faults.latency_s = 0.0
    assert [p.page for p in [first, *rest]] == list(range(1, 11))
    assert len({e["id"] for e in _items(iter([first, *rest]))}) == BIG


def test_a_client_limit_under_the_servers_never_meets_a_429() -> None:
    sandbox = Sandbox(api_key=API_KEY, events=300, seed=7, anchor=ANCHOR)
    sandbox.faults.rate_limit_per_s = 40  # bursts of 40, then 40/s
    with ApiClient(BASE_URL, API_KEY, transport=sandbox.transport(), rate_limit_per_s=30) as client:
        # 30 free in the first burst, the other 15 at 30/s: about half a second of real waiting.
        pages = list(iter_pages_concurrent(client, "event.list", on_page=10, concurrency=4))
        for _ in range(15):
            client.current_user()
    assert len(pages) == 30
    assert [call.status for call in sandbox.calls] == [200] * 45


class _CutBodies(socketserver.BaseRequestHandler):
    """Answers the first request with a body cut short of its Content-Length, then whole ones."""

    answered = 0
    lock = threading.Lock()

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.recv(65536)  # a GET with no body fits
        with self.lock:
            type(self).answered += 1
            first = self.answered == 1
        body = json.dumps({"id": 42, "email": "x@example.com"}).encode()
        sent = body[: len(body) // 2] if first else body
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + sent)


def test_a_body_cut_short_on_the_wire_is_retried() -> None:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _CutBodies) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            with ApiClient(f"http://127.0.0.1:{port}", API_KEY, timeout=5.0, rate_limit_per_s=None) as client:
                assert client.current_user() == {"id": 42, "email": "x@example.com"}
        finally:
            server.shutdown()
    assert _CutBodies.answered == 2
