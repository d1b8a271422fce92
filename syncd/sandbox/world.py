"""The sandbox's state: the seeded world, its mutations, and the test side door onto it.

Every mutation that changes what an event answers moves `updatedAt` to the clock (whole seconds, as
the upstream writes them) and bumps `rev`, which invalidates the sorted views the list endpoint pages.
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from syncd.sandbox import model
from syncd.sandbox.profiles import (
    ACCOUNT_ZONE,
    DEFAULT,
    HIDDEN_SHARE,
    SAME_UPDATED_AT_RUN,
    SILENT_EVERY,
    Profile,
)
from syncd.sandbox.render import Renderer

Clock = Callable[[], datetime]

# orderField -> sort key (ties broken by id, so paging is stable).
EVENT_ORDER_KEYS: dict[str, Callable[[model.Event], Any]] = {
    "id": lambda e: e.id,
    "createdAt": lambda e: (e.createdAt, e.id),
    "updatedAt": lambda e: (e.updatedAt, e.id),
    "scheduledAt": lambda e: (e.scheduledAt, e.id),
    "endDate": lambda e: (e.endDate, e.id),
    "duration": lambda e: (e.duration, e.id),
}

_DATETIME_FIELDS = frozenset({"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt"})
_TEXT_FIELDS = frozenset(
    {"uuid", "notes", "details", "location", "locationType", "onlineEventId", "name", "description"}
)
_INT_FIELDS = frozenset(
    {"duration", "sentEmailReminder", "lastSentInviteeEmailReminder", "lastSentInviteeEmailFollowUp"}
)
_INVITEE_FIELDS = frozenset({"email", "fullName", "timezone", "phoneNumber", "locale", "cancellationPolicy"})


class NotFound(LookupError):
    """An id the world does not hold (the API answers 404)."""


class Conflict(ValueError):
    """A change the event's state forbids, e.g. cancelling a cancelled event (the API answers 400)."""


def to_epoch(value: object) -> int:
    """A datetime, an ISO 8601 string, `Y-m-d H:i:s` (UTC) or epoch seconds -> epoch seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a date-time: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp())
    raise ValueError(f"not a date-time: {value!r}")


class World:
    def __init__(
        self, *, seed: int, anchor: datetime, events: int, clock: Clock, profile: Profile = DEFAULT
    ) -> None:
        from syncd.sandbox.generate import populate  # generation needs World's helpers; import late

        self.profile = profile
        self.lock = threading.RLock()
        self.seed = seed
        self.anchor = to_epoch(anchor)
        self.clock = clock
        self.rng = random.Random(seed)
        self.rev = 0
        self.directory_rev = 0
        self._ids: dict[str, int] = {}
        self.organization: model.Organization
        self.users: dict[int, model.User] = {}
        self.current_user_id = 0
        self.event_types: dict[int, model.EventType] = {}
        self.tags: dict[int, model.Tag] = {}
        self.events: dict[int, model.Event] = {}
        self.polls: dict[int, model.Poll] = {}
        self.organization_policy: model.CancellationPolicy
        self.user_policy: model.CancellationPolicy
        self.acl: list[dict[str, Any]] = []
        self.integrations: dict[str, list[dict[str, Any]]] = {"user": [], "organization": []}
        # Writes with no visible effect are recorded here so tests can see they happened.
        self.notifications: list[tuple[int, datetime]] = []
        self.invitations: list[tuple[int, list[str], str | None]] = []
        self.single_use_links: list[tuple[int, str]] = []
        self.availability_rules: list[dict[str, Any]] = []
        self._sorted: dict[str, tuple[int, list[model.Event]]] = {}
        self.render = Renderer(self)
        populate(self, events)
        self._silent_ticks = 0
        self.held_back: list[int] = []  # shifting-pages: generated events not yet visible, by id
        self._held: dict[int, model.Event] = {}
        self._apply_profile()
        # Later additions (add_event, created ids) draw from their own stream, so they do not
        # depend on how many draws generation happened to make.
        self.rng = random.Random(f"{seed}:after")

    def _apply_profile(self) -> None:
        """The world-side switches of the profile; none draws from the world's own random stream."""
        p = self.profile
        if p.datetimes == "local":  # the account says which zone its Y-m-d H:i:s date-times are in
            me = self.current_user()
            me.timezone, me.timezoneOffset = ACCOUNT_ZONE, "+01:00"
        if p.same_updated_at:  # runs of events, in updatedAt order, share the run's latest updatedAt
            ordered = sorted(self.events.values(), key=EVENT_ORDER_KEYS["updatedAt"])
            for start in range(0, len(ordered), SAME_UPDATED_AT_RUN):
                run = ordered[start : start + SAME_UPDATED_AT_RUN]
                for ev in run:
                    ev.updatedAt = run[-1].updatedAt
        if p.shifting_pages:
            # The 6th, 26th, 46th... event by id: early enough that the first one shifts any page 2.
            self.held_back = sorted(self.events)[HIDDEN_SHARE // 4 :: HIDDEN_SHARE]
            self._held = {i: self.events.pop(i) for i in self.held_back}
        self._silent_rng = random.Random(f"silent:{self.seed}")

    # -- profile behaviour on reads ------------------------------------------------------------

    def list_pass_read(self, page: int) -> None:
        """An /event/list request arrives: the profile's upstream may move (see docs/sandbox.md)."""
        p = self.profile
        if p.shifting_pages and page >= 2 and self.held_back:
            # The held-back event with the lowest id appears now, shifting every later page by one.
            ev = self._held.pop(self.held_back.pop(0))
            self.events[ev.id] = ev
            self.changed(ev)
        if p.silent_changes:
            self._silent_ticks += 1
            if self._silent_ticks % SILENT_EVERY == 0 and self.events:
                ev = self.events[self._silent_rng.choice(sorted(self.events))]
                n = self._silent_ticks // SILENT_EVERY
                if n % 2:
                    email = f"silent.{n}@example.com"
                    ev.participants.append(
                        model.Participant(self.next_id("participant", 9001), email, self.now())
                    )
                else:
                    ev.notes = f"edited upstream ({n})"
                self.changed(ev, touch=False)

    # -- helpers shared by the API and the side door ------------------------------------------

    def now(self) -> int:
        return int(self.clock().timestamp())

    def next_id(self, kind: str, start: int = 1) -> int:
        value = self._ids.get(kind, start)
        self._ids[kind] = value + 1
        return value

    def new_uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def event(self, event_id: int) -> model.Event:
        ev = self.events.get(event_id)
        if ev is None:
            raise NotFound(f"event {event_id} not found")
        return ev

    def changed(self, ev: model.Event | None = None, *, touch: bool = True) -> None:
        """Record a change; `touch` moves the event's updatedAt to now."""
        if ev is not None and touch:
            now = self.now()
            ev.updatedAt = now - now % 60 if self.profile.same_updated_at else now
        self.rev += 1

    def directory_changed(self) -> None:
        self.directory_rev += 1

    def sorted_events(self, order_field: str) -> list[model.Event]:
        """Events ascending by (field, id), cached until the next change."""
        cached = self._sorted.get(order_field)
        if cached is not None and cached[0] == self.rev:
            return cached[1]
        items = sorted(self.events.values(), key=EVENT_ORDER_KEYS[order_field])
        self._sorted[order_field] = (self.rev, items)
        return items

    def current_user(self) -> model.User:
        return self.users[self.current_user_id]

    def cancel(self, ev: model.Event, reason: str | None, canceler: str) -> None:
        if ev.state == "canceled":
            raise Conflict(f"event {ev.id} is already canceled")
        now = self.now()
        ev.state = "canceled"
        ev.canceledAt = now
        ev.cancellation = model.Cancellation(self.next_id("cancellation"), canceler, reason)
        self.changed(ev)

    # -- the side door (tests mutate the "upstream" behind syncd's back) ----------------------

    def event_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.events)

    def event_dto(self, event_id: int) -> dict[str, Any]:
        """The EventDTO the API would answer now (a private copy)."""
        with self.lock:
            return copy.deepcopy(self.render.event(self.event(event_id)))

    def touch_event(self, event_id: int) -> None:
        with self.lock:
            self.changed(self.event(event_id))

    def add_event(self, **overrides: object) -> int:
        """A new active event created now; overrides are EventDTO field names (see set_event_field)."""
        from syncd.sandbox.generate import new_event

        with self.lock:
            now = self.now()
            ev = new_event(self, self.rng, scheduled=now + self.rng.randint(1, 60) * 86400, created=now)
            for name, value in overrides.items():
                self._set_field(ev, name, value)
            self.events[ev.id] = ev  # only once every override was valid
            self.changed(ev, touch="updatedAt" not in overrides)
            return ev.id

    def remove_event(self, event_id: int) -> None:
        """The event vanishes upstream without a trace (as if deleted by someone else)."""
        with self.lock:
            del self.events[self.event(event_id).id]
            self.changed()

    def cancel_event(self, event_id: int, reason: str | None = None) -> None:
        """An upstream cancellation, as if the invitee cancelled."""
        with self.lock:
            ev = self.event(event_id)
            self.cancel(ev, reason, canceler=ev.invitee.fullName)

    def set_event_field(self, event_id: int, field: str, value: object) -> None:
        """Set one EventDTO field; moves updatedAt unless the field is updatedAt itself.

        Fields: date-times (datetime, ISO 8601, or epoch seconds), text and int scalars, state,
        user / eventType (ids), users / relatedEventIds (id lists), payment (dict or None),
        invitee.<field>. Setting scheduledAt moves endDate too, keeping the duration.
        """
        with self.lock:
            ev = self.event(event_id)
            self._set_field(ev, field, value)
            self.changed(ev, touch=field != "updatedAt")

    def set_user_field(self, user_id: int, field: str, value: object) -> None:
        """Change a user; every answer that embeds it shows the change (no event's updatedAt moves)."""
        with self.lock:
            user = self.users.get(user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            if field not in model.User.__dataclass_fields__ or field == "id":
                raise ValueError(f"unsupported user field {field!r}")
            setattr(user, field, to_epoch(value) if field in ("createdAt", "lastLogin") else value)
            self.directory_changed()

    def _set_field(self, ev: model.Event, field: str, value: object) -> None:
        if field in _DATETIME_FIELDS:
            if value is None and field == "canceledAt":
                ev.canceledAt = None
                return
            ts = to_epoch(value)
            if field == "scheduledAt":
                ev.endDate = ts + (ev.endDate - ev.scheduledAt)
            setattr(ev, field, ts)
        elif field == "state":
            if value not in model.EVENT_STATES:
                raise ValueError(f"state must be one of {model.EVENT_STATES}")
            ev.state = str(value)
        elif field in _TEXT_FIELDS:
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{field} must be a string or None")
            setattr(ev, field, value)
        elif field in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{field} must be an int")
            setattr(ev, field, value)
        elif field in ("user", "eventType"):
            known = self.users if field == "user" else self.event_types
            if not isinstance(value, int) or value not in known:
                raise NotFound(f"{field} {value!r} not found")
            setattr(ev, field, value)
        elif field in ("users", "relatedEventIds"):
            if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
                raise ValueError(f"{field} must be a list of ids")
            setattr(ev, field, list(value))
        elif field == "payment":
            ev.payment = None if value is None else model.Payment(**dict(value))  # type: ignore[call-overload]
        elif field.startswith("invitee.") and field[8:] in _INVITEE_FIELDS:
            setattr(ev.invitee, field[8:], value)
        else:
            raise ValueError(f"unsupported event field {field!r}")
