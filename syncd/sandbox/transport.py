"""Sync in-process httpx transport: the whole HTTP exchange without a socket."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import httpx

from syncd.sandbox.wire import Request

if TYPE_CHECKING:
    from syncd.sandbox.app import Sandbox


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        req = Request(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode("ascii"),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.read(),
        )
        reply = self.sb.handle(req)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            raise httpx.RemoteProtocolError("sandbox dropped the connection mid-response", request=request)
        return httpx.Response(reply.status, headers=list(reply.headers), content=reply.body, request=request)
