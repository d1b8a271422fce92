"""HTML error pages, malformed JSON and cut-off bodies: retried as transient, then reported clearly."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from structlog.testing import capture_logs

from syncd.api import ApiClient, ApiTransientError
from syncd.api.errors import MESSAGE_LIMIT
from syncd.api.paging import iter_pages
from tests.unit.api.mock_api import CANARY_KEY, Recorder, sequence

pytestmark = pytest.mark.unit

MakeClient = Callable[..., tuple[ApiClient, Recorder]]

# A proxy's error page that echoes the request headers, the key among them, far down the page.
HTML_PAGE = (
    "<!DOCTYPE html>\r\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n"
    + "<p>The upstream server is unavailable.</p>\n" * 20
    + f"<pre>X-API-KEY: {CANARY_KEY}</pre></body></html>"
)
ENVELOPE = {"meta": {"pagesCount": 1, "currentPage": 1}, "items": [{"id": 1}]}


def _ok(body: object) -> httpx.Response:
    return httpx.Response(200, json=body)


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, HTML_PAGE.encode()),
        (502, HTML_PAGE.encode()),
        (200, b'{"meta": {"pagesCount": 1}, "items": [{"id": 1}, {"id"'),  # truncated JSON
        (200, b""),
    ],
)
def test_read_is_retried_then_succeeds(make_client: MakeClient, status: int, content: bytes) -> None:
    client, calls = make_client(sequence(httpx.Response(status, content=content), _ok(ENVELOPE)))
    assert [p.items for p in iter_pages(client, "event.list")] == [[{"id": 1}]]
    assert len(calls.requests) == 2


def test_an_html_page_that_never_clears_is_reported_with_a_short_excerpt(make_client: MakeClient) -> None:
    client, calls = make_client(
        lambda r: httpx.Response(200, content=HTML_PAGE.encode(), headers={"Content-Type": "text/html"}),
        max_attempts=3,
    )
    with capture_logs() as logs, pytest.raises(ApiTransientError) as caught:
        client.get_page("event.list")
    error = caught.value
    assert len(calls.requests) == 3
    assert error.status == 200
    assert error.message.startswith(
        "answer is not valid JSON: <!DOCTYPE html> <html><head><title>502 Bad Gateway"
    )
    assert len(error.message) <= len("answer is not valid JSON: ") + MESSAGE_LIMIT
    assert "\n" not in error.message
    assert "\r" not in error.message
    assert "GET /panel/api/event/list (event.list): HTTP 200: answer is not valid JSON" in str(error)
    retries = [e for e in logs if e["event"] == "api.retry"]
    assert len(retries) == 2
    assert all(e["reason"] == error.message for e in retries)
    for text in (str(error), repr(error), repr(logs)):
        assert CANARY_KEY not in text


def test_a_502_html_page_is_reported_by_its_text(make_client: MakeClient) -> None:
    client, _ = make_client(lambda r: httpx.Response(502, content=HTML_PAGE.encode()), max_attempts=2)
    with pytest.raises(
        ApiTransientError, match=r"HTTP 502: <!DOCTYPE html> <html><head><title>502 Bad Gateway"
    ):
        client.current_user()


@pytest.mark.parametrize("cut", range(1, len(CANARY_KEY)))
def test_a_key_cut_by_the_excerpt_does_not_leak_in_part(make_client: MakeClient, cut: int) -> None:
    # The key straddles the excerpt's end: redacting the short excerpt would miss it.
    prefix = "x" * (MESSAGE_LIMIT - 2 - cut)
    body = f"{prefix} {CANARY_KEY} and more".encode()
    for status in (200, 500):
        client, _ = make_client(lambda r, s=status: httpx.Response(s, content=body), max_attempts=1)
        with pytest.raises(ApiTransientError) as caught:
            client.current_user()
        assert CANARY_KEY[: max(cut, 4)] not in caught.value.message


def test_a_connection_cut_mid_body_is_retried_on_reads(make_client: MakeClient) -> None:
    cut = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    client, calls = make_client(sequence(cut, _ok({"id": 7})))
    assert client.current_user() == {"id": 7}
    assert len(calls.requests) == 2


def test_a_connection_cut_mid_body_after_a_write_is_in_doubt(make_client: MakeClient) -> None:
    cut = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    client, calls = make_client(sequence(cut, _ok({"id": 7})))
    with pytest.raises(ApiTransientError, match="RemoteProtocolError: peer closed connection") as caught:
        client.call("event.create", body={"eventType": 1})
    assert caught.value.in_doubt
    assert len(calls.requests) == 1
