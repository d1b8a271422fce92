"""/_sandbox/: the HTTP side door for out-of-process tests. Never faulted, never in the call log."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from syncd.sandbox.errors import ApiError
from syncd.sandbox.render import iso
from syncd.sandbox.validate import json_body
from syncd.sandbox.wire import Ids, Reply, Request, Route, dispatch, empty_reply, json_reply, route
from syncd.sandbox.world import Conflict, NotFound

if TYPE_CHECKING:
    from syncd.sandbox.app import Sandbox

PREFIX = "/_sandbox"
WORLD_ACTIONS = (
    "touch_event",
    "add_event",
    "remove_event",
    "cancel_event",
    "set_event_field",
    "set_user_field",
)


class SideDoor:
    def __init__(self, sb: Sandbox, admin_token: str | None) -> None:
        self.sb = sb
        self.token = admin_token
        self.routes: list[Route] = [
            route("GET", r"/calls", self.calls),
            route("DELETE", r"/calls", self.clear_calls),
            route("GET PUT", r"/faults", self.faults),
            route("POST", r"/world/\w+", self.world),
        ]

    def handle(self, req: Request) -> Reply:
        sub = req.path[len(PREFIX) :]
        if sub == "/health" and req.method == "GET":
            w = self.sb.world
            return json_reply(
                {"status": "ok", "events": len(w.events), "seed": w.seed, "anchor": iso(w.anchor)}
            )
        if self.token is None:
            raise ApiError(404, "the sandbox side door is off (no admin token)")
        given = req.headers.get("x-sandbox-token", "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise ApiError(401, "missing or wrong X-SANDBOX-TOKEN")
        with self.sb.world.lock:
            return dispatch(self.routes, req, sub)

    def calls(self, req: Request, ids: Ids) -> Reply:
        return json_reply(
            [
                {
                    "method": c.method,
                    "path": c.path,
                    "query": c.query,
                    "status": c.status,
                    "at": c.at.isoformat(),
                    "bytes": c.bytes,
                }
                for c in list(self.sb.calls)
            ]
        )

    def clear_calls(self, req: Request, ids: Ids) -> Reply:
        self.sb.calls.clear()
        return empty_reply()

    def faults(self, req: Request, ids: Ids) -> Reply:
        if req.method == "PUT":
            try:
                self.sb.faults.update(dict(json_body(req.body).data))
            except ValueError as exc:
                raise ApiError(400, str(exc)) from None
        return json_reply(self.sb.faults.as_dict())

    def world(self, req: Request, ids: Ids) -> Reply:
        action = req.path.rsplit("/", 1)[-1]
        if action not in WORLD_ACTIONS:
            raise ApiError(404, f"unknown world action {action!r}; one of {', '.join(WORLD_ACTIONS)}")
        body: dict[str, Any] = dict(json_body(req.body, required=False).data)
        w = self.sb.world
        try:
            if action == "add_event":
                return json_reply({"id": w.add_event(**body)})
            target = body.get("id")
            if not isinstance(target, int) or isinstance(target, bool):
                raise ApiError(400, "id: expected an integer")
            if action == "touch_event":
                w.touch_event(target)
            elif action == "remove_event":
                w.remove_event(target)
            elif action == "cancel_event":
                w.cancel_event(target, body.get("reason"))
            elif action == "set_event_field":
                w.set_event_field(target, str(body.get("field")), body.get("value"))
            else:
                w.set_user_field(target, str(body.get("field")), body.get("value"))
        except NotFound as exc:
            raise ApiError(404, str(exc.args[0])) from None
        except (Conflict, ValueError, TypeError) as exc:
            raise ApiError(400, str(exc)) from None
        return empty_reply()
