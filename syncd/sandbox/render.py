"""Records -> documented DTOs, in the docs' field order, every field present (null when absent).

Nested users and event types are rendered from the normalized world at answer time, so a change to
a user shows in every event that embeds it. Rendered users and event types are cached until the
world's directory revision moves; events are cheap and rendered fresh.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from syncd.sandbox import model
from syncd.sandbox.variation import Wire

if TYPE_CHECKING:
    from syncd.sandbox.world import World

JsonObj = dict[str, Any]

ORGANIZATION_FIELDS = tuple(model.Organization.__dataclass_fields__)
_USER_ATTRS = tuple(model.User.__dataclass_fields__)
_AT = _USER_ATTRS.index("createdAt")
# UserDTO documents `organization` between avatarName and createdAt; the record holds no copy of it.
USER_FIELDS = (*_USER_ATTRS[:_AT], "organization", *_USER_ATTRS[_AT:])
EVENT_TYPE_FIELDS = tuple(
    f for f in model.EventType.__dataclass_fields__ if f not in ("tags", "weekly", "dates")
)
EVENT_FIELDS = tuple(f for f in model.Event.__dataclass_fields__ if f != "offset")


@lru_cache(maxsize=64)
def offset_suffix(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def iso(ts: int | None, offset: int = 0) -> str | None:
    """ISO 8601 with an explicit offset, like PHP's DATE_ATOM: 2023-12-31T23:59:59+00:00."""
    if ts is None:
        return None
    local = datetime.fromtimestamp(ts + offset * 60, UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + offset_suffix(offset)


def dumps_str(obj: object) -> str:
    # ASCII escapes (\u00e9, surrogate pairs for emoji), as PHP's json_encode writes by default.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def dumps(obj: object) -> bytes:
    return dumps_str(obj).encode("ascii")


# Placeholder for an embedded object in `Renderer.event_json`; world text never contains NUL.
_PLACEHOLDER = re.compile(r'"\\u0000(\d+)"')


class Renderer:
    def __init__(self, world: World) -> None:
        self._world = world
        self._rev = -1
        self._users: dict[int, JsonObj] = {}
        self._event_types: dict[int, JsonObj] = {}
        self._organization: JsonObj | None = None
        self._json: dict[tuple[str, int], str] = {}
        # A profile that varies the wire routes answers through it; the default keeps the fast path.
        self.wire: Wire | None = Wire(world.profile, world.seed) if world.profile.varies_wire else None

    def answer(self, dto: str, obj: JsonObj | None, key: object = None) -> JsonObj | None:
        """A top-level answer object, as the sandbox's profile writes it."""
        return obj if self.wire is None else self.wire.answer(dto, obj, key)

    def envelope(self, items: list[Any], meta: dict[str, int]) -> JsonObj:
        return {"meta": meta, "items": items} if self.wire is None else self.wire.envelope(items, meta)

    def whole_list(self, items: list[Any]) -> object:
        """A list the docs leave unshaped: a bare array, or under enveloped-lists one `{meta, items}` page."""
        if not self._world.profile.enveloped_lists:
            return items
        n = len(items)
        return self.envelope(items, {"pagesCount": 1 if n else 0, "itemsPerPage": n, "itemsCount": n,
                                     "currentPage": 1})  # fmt: skip

    def _fresh(self) -> None:
        if self._rev != self._world.directory_rev:
            self._rev = self._world.directory_rev
            self._users.clear()
            self._event_types.clear()
            self._json.clear()
            self._organization = None

    def organization(self) -> JsonObj:
        self._fresh()
        if self._organization is None:
            o = self._world.organization
            d = {k: getattr(o, k) for k in ORGANIZATION_FIELDS}
            d["createdAt"] = iso(o.createdAt)
            s = o.socialLink
            d["socialLink"] = {
                "id": s.id,
                "facebookUrl": s.facebookUrl,
                "twitterUrl": s.twitterUrl,
                "instagramUrl": s.instagramUrl,
                "linkedinUrl": s.linkedinUrl,
                "whatsappUrl": s.whatsappUrl,
            }
            self._organization = d
        return self._organization

    def user(self, user_id: int | None) -> JsonObj | None:
        if user_id is None:
            return None
        self._fresh()
        cached = self._users.get(user_id)
        if cached is not None:
            return cached
        u = self._world.users.get(user_id)
        if u is None:  # a user removed from the directory still shows as null, never as a crash
            return None
        d: JsonObj = {k: (None if k == "organization" else getattr(u, k)) for k in USER_FIELDS}
        d["organization"] = self.organization()
        d["createdAt"] = iso(u.createdAt)
        d["lastLogin"] = iso(u.lastLogin)
        d["connections"] = list(u.connections)
        self._users[user_id] = d
        return d

    def event_type(self, event_type_id: int | None) -> JsonObj | None:
        if event_type_id is None:
            return None
        self._fresh()
        cached = self._event_types.get(event_type_id)
        if cached is not None:
            return cached
        et = self._world.event_types.get(event_type_id)
        if et is None:
            return None
        d: JsonObj = {k: getattr(et, k) for k in EVENT_TYPE_FIELDS}
        d["user"] = self.user(et.user)
        d["users"] = [self.user(u) for u in et.users]
        d["eventTypeDurations"] = [{"id": x.id, "duration": x.duration} for x in et.eventTypeDurations]
        d["eventTypeRequestLocationTypes"] = [
            {"id": x.id, "locationType": x.locationType} for x in et.eventTypeRequestLocationTypes
        ]
        d["questions"] = [
            {
                "label": q.label,
                "type": q.type,
                "required": q.required,
                "config": [dict(c) for c in q.config],
                "uuid": q.uuid,
                "position": q.position,
            }
            for q in et.questions
        ]
        self._event_types[event_type_id] = d
        return d

    def event(self, ev: model.Event) -> JsonObj:
        return self._event(ev, self.user, self.event_type)

    def event_json(self, ev: model.Event) -> str:
        """The EventDTO encoded; equal to dumps(event(ev)) but embedded users and event types are
        encoded once and spliced in (a 100-event page embeds the same few users ~500 times)."""
        if self.wire is not None:
            return dumps_str(self.wire.answer("EventDTO", self.event(ev)))
        fragments: list[str] = []

        def embed(
            kind: str, render: Callable[[int | None], JsonObj | None]
        ) -> Callable[[int | None], object]:
            def placeholder(obj_id: int | None) -> object:
                if obj_id is None:
                    return None
                self._fresh()
                key = (kind, obj_id)
                text = self._json.get(key)
                if text is None:
                    text = self._json[key] = dumps_str(render(obj_id))
                fragments.append(text)
                return f"\x00{len(fragments) - 1}"

            return placeholder

        text = dumps_str(self._event(ev, embed("user", self.user), embed("eventType", self.event_type)))
        return _PLACEHOLDER.sub(lambda m: fragments[int(m[1])], text)

    def _event(
        self,
        ev: model.Event,
        user: Callable[[int | None], object],
        event_type: Callable[[int | None], object],
    ) -> JsonObj:
        off = ev.offset
        d: JsonObj = {k: getattr(ev, k) for k in EVENT_FIELDS}
        d["user"] = user(ev.user)
        d["eventType"] = event_type(ev.eventType)
        i = ev.invitee
        d["invitee"] = {
            "id": i.id,
            "email": i.email,
            "fullName": i.fullName,
            "timezone": i.timezone,
            "phoneNumber": i.phoneNumber,
            "locale": i.locale,
            "cancellationPolicy": i.cancellationPolicy,
            "uuid": i.uuid,
        }
        c = ev.cancellation
        d["cancellation"] = None if c is None else {"id": c.id, "canceler": c.canceler, "reason": c.reason}
        d["participants"] = [
            {"id": p.id, "email": p.email, "createdAt": iso(p.createdAt, off)} for p in ev.participants
        ]
        d["answers"] = [
            {
                "id": a.id,
                "questionLabel": a.questionLabel,
                "questionType": a.questionType,
                "value": a.value,
                "plainValue": a.plainValue,
                "questionUuid": a.questionUuid,
            }
            for a in ev.answers
        ]
        d["rescheduling"] = [
            {
                "id": r.id,
                "rescheduler": r.rescheduler,
                "reason": r.reason,
                "previouslyScheduledAt": iso(r.previouslyScheduledAt, off),
                "previousUser": user(r.previousUser),
            }
            for r in ev.rescheduling
        ]
        p = ev.payment
        d["payment"] = (
            None
            if p is None
            else {
                "provider": p.provider,
                "amount": p.amount,
                "currency": p.currency,
                "status": p.status,
                "system": p.system,
                "referenceId": p.referenceId,
                "overwritePersonal": p.overwritePersonal,
            }
        )
        d["createdAt"] = iso(ev.createdAt, off)
        d["updatedAt"] = iso(ev.updatedAt, off)
        d["scheduledAt"] = iso(ev.scheduledAt, off)
        d["endDate"] = iso(ev.endDate, off)
        d["canceledAt"] = iso(ev.canceledAt, off)
        d["users"] = [user(u) for u in ev.users]
        d["relatedEventIds"] = list(ev.relatedEventIds)
        return d

    def event_type_tag(self, t: model.Tag) -> JsonObj:
        return {"id": t.id, "name": t.name, "color": t.color, "position": t.position, "enabled": t.enabled}

    def user_event_type_tag(self, t: model.Tag) -> JsonObj:
        return {
            "id": t.id,
            "name": t.name,
            "color": t.color,
            "position": t.position,
            "user": self.user(t.user),
        }

    def poll(self, p: model.Poll) -> JsonObj:
        return {
            "id": p.id,
            "uuid": p.uuid,
            "user": self.user(p.user),
            "eventType": self.event_type(p.eventType),
            "voteVisibility": p.voteVisibility,
            "commentVisibility": p.commentVisibility,
            "emailNotification": p.emailNotification,
            "duration": p.duration,
            "name": p.name,
            "createdAt": iso(p.createdAt),
            "availability": [
                {
                    "id": s.id,
                    "date": iso(s.date),
                    "results": [{"email": r.email, "comment": r.comment} for r in s.results],
                }
                for s in p.availability
            ],
        }

    @staticmethod
    def cancellation_policy(c: model.CancellationPolicy) -> JsonObj:
        return {
            "enabled": c.enabled,
            "period": c.period,
            "label": c.label,
            "text": c.text,
            "version": c.version,
            "type": c.type,
            "overwrite_personal": c.overwrite_personal,
        }
