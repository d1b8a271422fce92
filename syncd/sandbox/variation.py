"""The wire side of a variation profile: rendered DTOs in, the profile's way of writing them out.

Works on copies of what render.py produced, so the world and the default answers stay as they are.
Every choice is a pure function of the seed, the object and where it sits, so answers stay
reproducible; only malformed objects keep state (how often each was read, so they heal).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from syncd.sandbox.profiles import ACCOUNT_ZONE, MALFORMED_ONE_IN, MALFORMED_READS, Profile

JsonObj = dict[str, Any]

# Which DTO sits under which key: the walk needs it to know each nesting site.
NESTING: dict[str, dict[str, str]] = {
    "EventDTO": {
        "user": "UserDTO",
        "eventType": "EventTypeDTO",
        "invitee": "InviteeDTO",
        "cancellation": "CancellationDTO",
        "participants": "ParticipantDTO",
        "answers": "AnswerDTO",
        "rescheduling": "ReschedulingDTO",
        "payment": "EventPaymentDTO",
        "users": "UserDTO",
    },
    "ReschedulingDTO": {"previousUser": "UserDTO"},
    "UserDTO": {"organization": "OrganizationDTO"},
    "OrganizationDTO": {"socialLink": "SocialLinkDTO"},
    "EventTypeDTO": {
        "user": "UserDTO",
        "users": "UserDTO",
        "eventTypeDurations": "EventTypeDurationDTO",
        "eventTypeRequestLocationTypes": "EventTypeRequestLocationTypeDTO",
        "questions": "QuestionDTO",
    },
    "PollDTO": {"user": "UserDTO", "eventType": "EventTypeDTO", "availability": "PollAvailabilityDTO"},
    "PollAvailabilityDTO": {"results": "PollResultDTO"},
    "UserEventTypeTagDTO": {"user": "UserDTO"},
    "EventTypeAvailabilityDTO": {"hours": "EventTypeAvailabilityHoursDTO"},
}

# partial-nested: the keys each nesting site keeps (always `id`); a different subset at each site.
PARTIAL: dict[str, tuple[str, ...]] = {
    "EventDTO.user": ("id", "email", "fullName"),
    "EventDTO.eventType": ("id", "name", "slug"),
    "EventDTO.users": ("id", "email"),
    "ReschedulingDTO.previousUser": ("id", "fullName"),
    "EventTypeDTO.user": ("id", "email", "fullName", "timezone"),
    "EventTypeDTO.users": ("id",),
    "PollDTO.user": ("id", "slug"),
    "PollDTO.eventType": ("id", "duration"),
    "UserDTO.organization": ("id", "uuid", "name"),
    "UserEventTypeTagDTO.user": ("id", "fullName"),
}

DATETIME_KEYS = frozenset(
    {"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt", "lastLogin", "previouslyScheduledAt"}
)
# PollDTO documents its date-times as ISO 8601 with an offset: local-datetimes leaves them alone.
ISO_DOCUMENTED = frozenset({"PollDTO", "PollAvailabilityDTO"})
OFFSETS = (0, 60, 120, -300, 330, 345, 540, -180, -570, 840)  # minutes, -09:30 and +14:00 included

# extra-fields: undocumented fields, a few per object, picked per DTO.
EXTRA_POOL: tuple[tuple[str, object], ...] = (
    ("deletedAt", None),
    ("isArchived", False),
    ("metadata", {"source": "panel", "labels": []}),
    ("sortOrder", 0),
    ("links", {"self": None}),
    ("version", "2"),
    ("translations", {}),
)

Wrong = Callable[[Any], Any]
# malformed-objects: per DTO, a documented field and the wrong-typed value it takes.
MALFORMED: dict[str, tuple[tuple[str, Wrong], ...]] = {
    "EventDTO": (
        ("duration", lambda v: f"{v} min"),
        ("participants", lambda v: {str(i): p for i, p in enumerate(v or [])}),
        ("state", lambda v: 1),
    ),
    "EventTypeDTO": (("position", str), ("isEnabled", lambda v: "yes" if v else "no")),
    "UserDTO": (("isEnabled", int), ("connections", lambda v: ",".join(v or []))),
    "PollDTO": (("duration", str), ("availability", lambda v: {})),
    "UserEventTypeTagDTO": (("position", str),),
    "EventTypeTagDTO": (("enabled", lambda v: "1" if v else "0"),),
    "CancellationPolicyDTO": (("version", str),),
    "AclRuleDTO": (("attributes", lambda v: ",".join(map(str, v or []))),),
    "EventTypeAvailabilityDTO": (("available", lambda v: "true" if v else "false"),),
}


def _pick(text: str, n: int) -> int:
    """A stable choice among n (crc32, unlike hash(), does not change between runs)."""
    return zlib.crc32(text.encode()) % n


def _suffix(minutes: int, colon: bool = True) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{':' if colon else ''}{mins:02d}"


class Wire:
    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self.account_zone = ZoneInfo(ACCOUNT_ZONE)
        self.reads: dict[tuple[str, str], int] = {}  # malformed-objects: reads of each chosen object

    # -- one answer object ---------------------------------------------------------------------

    def answer(self, dto: str, obj: JsonObj | None, key: object = None) -> JsonObj | None:
        """A top-level answer object as the profile writes it; `key` names it if it has no `id`."""
        if obj is None:
            return None
        out = self._object(obj, dto, None)
        if self.profile.malformed_objects:
            self._malform(out, dto, obj.get("id") if key is None else key)
        return out

    def _object(self, obj: JsonObj, dto: str, site: str | None) -> JsonObj:
        p = self.profile
        keep = PARTIAL.get(site or "") if p.partial_nested else None
        nested = NESTING.get(dto, {})
        out: JsonObj = {}
        for k, v in obj.items():
            if keep is not None and k not in keep:
                continue
            if v is None and p.absent_optional:
                continue
            child = nested.get(k)
            if child is not None and isinstance(v, dict):
                v = self._object(v, child, f"{dto}.{k}")
            elif child is not None and isinstance(v, list):
                v = [self._object(x, child, f"{dto}.{k}") if isinstance(x, dict) else x for x in v]
            elif isinstance(v, str) and (
                k in DATETIME_KEYS or (k == "date" and dto == "PollAvailabilityDTO")
            ):
                v = self._datetime(v, dto, f"{site or dto}.{k}")
            elif p.string_ids and k == "id" and type(v) is int:
                v = str(v)
            elif p.string_ids and k == "relatedEventIds" and isinstance(v, list):
                v = [str(x) for x in v]
            out[k] = v
        if p.extra_fields:
            for i in range(2):
                name, value = EXTRA_POOL[_pick(f"{dto}:{i}", len(EXTRA_POOL))]
                out.setdefault(name, value)
        return out

    def _datetime(self, text: str, dto: str, where: str) -> str:
        mode = self.profile.datetimes
        if mode == "default":
            return text
        instant = datetime.fromisoformat(text)
        if mode == "local":
            if dto in ISO_DOCUMENTED:
                return text
            return instant.astimezone(self.account_zone).strftime("%Y-%m-%d %H:%M:%S")
        choice = _pick(f"{where}:{text}", 4 * len(OFFSETS))
        form, minutes = divmod(choice, len(OFFSETS))
        local = instant.astimezone(timezone(timedelta(minutes=minutes)))
        stamp = local.strftime("%Y-%m-%dT%H:%M:%S")
        if form == 0:
            return stamp + _suffix(minutes)
        if form == 1:  # UTC written as Z
            return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if form == 2:  # PHP's DATE_ISO8601: no colon in the offset
            return stamp + _suffix(minutes, colon=False)
        return stamp + ".000000" + _suffix(minutes)  # fractional seconds, as 'Y-m-d\TH:i:s.uP'

    def _malform(self, out: JsonObj, dto: str, key: object) -> None:
        choices = MALFORMED.get(dto)
        name = f"{self.seed}:{dto}:{key}"
        if not choices or _pick(name, MALFORMED_ONE_IN) != 0:
            return
        seen = self.reads.get((dto, str(key)), 0)
        self.reads[(dto, str(key))] = seen + 1
        if seen >= MALFORMED_READS:
            return  # healed
        field, wrong = choices[_pick(name + ":field", len(choices))]
        out[field] = wrong(out.get(field))

    def is_malformed_choice(self, dto: str, key: object) -> bool:
        """Whether the object is one malformed-objects picks (for tests and the docs' examples)."""
        return dto in MALFORMED and _pick(f"{self.seed}:{dto}:{key}", MALFORMED_ONE_IN) == 0

    # -- lists ---------------------------------------------------------------------------------

    def envelope(self, items: list[Any], meta: dict[str, int]) -> JsonObj:
        """`{meta, items}`, with undocumented extras under extra-fields."""
        if not self.profile.extra_fields:
            return {"meta": meta, "items": items}
        meta = {**meta, "hasNextPage": meta["currentPage"] < meta["pagesCount"]}
        return {"meta": meta, "items": items, "status": "success"}
