"""ASGI3 adapter (run under uvicorn by syncd.sandbox.server)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from syncd.sandbox.wire import Request

if TYPE_CHECKING:
    from syncd.sandbox.app import Sandbox

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SandboxASGI:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        req = Request(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        # The core is quick and in-memory: run it on the loop rather than pay for a thread hop.
        reply = self.sb.handle(req)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        if reply.drop:
            # Promise more bytes than we send, then return: uvicorn closes the socket mid-body and
            # the client sees a broken connection.
            declared = str(len(reply.body) + 1024).encode()
            await send({"type": "http.response.start", "status": reply.status,
                        "headers": [*headers, (b"content-length", declared)]})  # fmt: skip
            await send(
                {"type": "http.response.body", "body": reply.body[: len(reply.body) // 2], "more_body": True}
            )
            return
        headers.append((b"content-length", str(len(reply.body)).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
