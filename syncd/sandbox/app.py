"""The Sandbox: one request handler behind both adapters (ASGI and in-process httpx transport)."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import structlog

from syncd.sandbox.directory_api import DirectoryApi
from syncd.sandbox.errors import ApiError
from syncd.sandbox.events_api import EventsApi
from syncd.sandbox.faults import FaultGate, Faults, retry_after_header
from syncd.sandbox.profiles import DEFAULT, Profile, profile_of
from syncd.sandbox.sidedoor import PREFIX as SIDE_DOOR_PREFIX
from syncd.sandbox.sidedoor import SideDoor
from syncd.sandbox.wire import Reply, Request, Route, dispatch, error_reply
from syncd.sandbox.world import Clock, Conflict, NotFound, World

if TYPE_CHECKING:
    import httpx

    from syncd.sandbox.asgi import SandboxASGI

log = structlog.get_logger(__name__)

API_PREFIX = "/panel/api"
MAX_CALLS = 100_000  # the call log keeps the most recent calls; a long-running sandbox must not grow forever


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    query: str
    status: int  # 0 when the connection was dropped: no status reached the client
    at: datetime
    bytes: int = 0  # the answer's body as sent (0 when dropped): what the API served


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _default_anchor() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


class Sandbox:
    """A seeded, in-memory SimplyMeet panel API. Same (seed, anchor, events): same world, same answers."""

    def __init__(
        self,
        api_key: str,
        events: int = 200,
        seed: int = 1,
        anchor: datetime | None = None,
        *,
        admin_token: str | None = None,
        latency: float = 0.0,
        rate_limit: float | None = None,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        malformed_rate: float = 0.0,
        clock: Clock | None = None,
        profile: Profile | str = DEFAULT,
    ) -> None:
        if events < 0:
            raise ValueError("events must be >= 0")
        self.api_key = api_key
        self.faults = Faults(latency, rate_limit, error_rate, drop_rate, malformed_rate)
        self.calls: list[Call] = []
        self._clock: Clock = clock or _utc_now
        anchor = anchor or _default_anchor()
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=UTC)
        self.profile = profile_of(profile)  # ValueError (one line, naming the known ones) on a bad name
        self.world = World(seed=seed, anchor=anchor, events=events, clock=self._now, profile=self.profile)
        self._gate = FaultGate(seed)
        self._gate_lock = threading.Lock()
        self._routes: list[Route] = [*EventsApi(self.world).routes(), *DirectoryApi(self.world).routes()]
        self._side_door = SideDoor(self, admin_token)
        self._asgi: SandboxASGI | None = None

    # `sb.clock` may be replaced by tests; the world reads it through _now, so it follows.
    @property
    def clock(self) -> Clock:
        return self._clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self._clock = value

    def _now(self) -> datetime:
        return self._clock()

    @property
    def asgi(self) -> SandboxASGI:
        if self._asgi is None:
            from syncd.sandbox.asgi import SandboxASGI

            self._asgi = SandboxASGI(self)
        return self._asgi

    def transport(self) -> httpx.BaseTransport:
        from syncd.sandbox.transport import SandboxTransport

        return SandboxTransport(self)

    # -- the one request handler ------------------------------------------------------------------

    def handle(self, req: Request) -> Reply:
        if req.path == SIDE_DOOR_PREFIX or req.path.startswith(SIDE_DOOR_PREFIX + "/"):
            return self._guarded(self._side_door.handle, req)
        if not (req.path == API_PREFIX or req.path.startswith(API_PREFIX + "/")):
            return error_reply(404, f"no route for {req.method} {req.path}")
        reply = self._handle_api(req)
        status, size = (0, 0) if reply.drop else (reply.status, len(reply.body))
        self.calls.append(Call(req.method, req.path, req.query, status, self._clock(), size))
        if len(self.calls) > MAX_CALLS:
            del self.calls[: MAX_CALLS // 2]
        return replace(reply, delay_s=self.faults.latency_s) if self.faults.latency_s else reply

    def _handle_api(self, req: Request) -> Reply:
        faults = self.faults
        with self._gate_lock:
            wait = self._gate.admit(faults, time.monotonic())
            dice = self._gate.draw(faults)
        if wait is not None:
            return error_reply(429, "rate limit exceeded", (("retry-after", retry_after_header(wait)),))
        if dice.error_status is not None:
            return error_reply(dice.error_status, f"simulated upstream failure ({dice.error_status})")
        if not hmac.compare_digest(req.headers.get("x-api-key", "").encode(), self.api_key.encode()):
            return error_reply(401, "missing or invalid X-API-KEY header")
        reply = self._guarded(self._dispatch_api, req)
        if dice.drop:  # the request took effect; only the answer is lost
            return replace(reply, drop=True)
        if dice.malformed and 200 <= reply.status < 300:
            body = reply.body[: len(reply.body) // 2] if len(reply.body) > 1 else b'{"'
            return replace(reply, body=body)
        return reply

    def _dispatch_api(self, req: Request) -> Reply:
        with self.world.lock:
            return dispatch(self._routes, req, req.path[len(API_PREFIX) :])

    @staticmethod
    def _guarded(handler: Callable[[Request], Reply], req: Request) -> Reply:
        try:
            return handler(req)
        except ApiError as exc:
            return error_reply(exc.status, exc.message, exc.headers)
        except NotFound as exc:
            return error_reply(404, str(exc.args[0]))
        except Conflict as exc:
            return error_reply(400, str(exc))
        except Exception:  # a sandbox bug must answer 500, not kill the server
            log.exception("sandbox.handler_failed", method=req.method, path=req.path)
            return error_reply(500, "internal sandbox error")


__all__ = ["Call", "Clock", "Faults", "Profile", "Sandbox"]
