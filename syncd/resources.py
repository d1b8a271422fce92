"""Every synced resource, declared once. Fetching, storing and scheduling iterate over `RESOURCES`.

A resource is one top-level mirror table and the way to read it: its answer DTO (from
`syncd.api.contract`), its primary key, the endpoint and how it is read (paged list, bare list, one
object, once per row of a `Parent`), whether it syncs incrementally, and its default schedule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType


class Read(enum.Enum):
    """How a resource is read from the API."""

    PAGES = "pages"  # a paged list endpoint (envelope or bare array), read page by page
    LIST = "list"  # one call answers the whole list (bare array)
    OBJECT = "object"  # one call answers one object (per `variants`)
    PER_PARENT = "per_parent"  # one call per live row of the `parent` resource (per event type)
    NESTED = "nested"  # never read on its own: arrives nested in other objects (organizations)


@dataclass(frozen=True)
class Parent:
    """What a PER_PARENT resource is read under: one call per live row of `resource`."""

    resource: str  # the parent resource's name (its table has an `id` key)
    column: str  # the key column of the child table that holds the parent's id
    path_param: str  # the endpoint's path placeholder that takes the parent's id


@dataclass(frozen=True)
class DateWindow:
    """A read that takes a date range (`startDate`..`endDate`, `Y-m-d`): the sync asks for the next
    `settings.availability_days` days, at most `max_days` per call."""

    max_days: int


@dataclass(frozen=True)
class Resource:
    name: str  # the table name in the `simplymeet` schema, and the name on the command line
    dto: str  # the answer DTO in syncd.api.contract.DTOS (None-free: integrations use "free-form")
    key: tuple[str, ...]  # primary key columns of the table
    read: Read
    endpoint: str | None  # the endpoint name in syncd.api.endpoints (None for NESTED)
    doc: str
    # Events only: the list has no updatedAt filter, so incremental reads newest-first by this field.
    incremental_field: str | None = None
    # OBJECT resources read once per variant, which fills the key (cancellation policy kinds).
    variants: tuple[str, ...] = ()
    # Default cadence in seconds (the daemon's schedule; settings override it).
    every_s: int = 900
    # PAGES: a full pass reads in this order (ascending), so objects created mid-pass land at the end.
    stable_order: str | None = None
    # PAGES: the list filter that takes ids (`filter[ids][]`), to re-ask about rows a pass did not see.
    id_filter: str | None = None
    # PER_PARENT: the resource each call is read under.
    parent: Parent | None = None
    # A read over a date range, split into calls of at most `max_days`.
    dates: DateWindow | None = None

    @property
    def incremental(self) -> bool:
        return self.incremental_field is not None

    @property
    def object_name(self) -> str:
        """The singular that names the resource's change kinds: `event` in `event.cancelled`."""
        if self.name.endswith("ies"):
            return self.name[:-3] + "y"
        return self.name[:-1] if self.name.endswith("s") else self.name

    @property
    def scope(self) -> tuple[str, ...]:
        """Key columns that name the parent a PER_PARENT read belongs to."""
        return (self.parent.column,) if self.parent is not None else ()

    def __post_init__(self) -> None:
        if (self.read is Read.PER_PARENT) != (self.parent is not None):
            raise ValueError(f"resource {self.name}: a parent goes with Read.PER_PARENT, and only with it")


FREE_FORM = "free-form"  # integrations: the docs give no field list

_PER_EVENT_TYPE = "event_types", "event_type_id"

_DECLARED = (
    Resource(
        "users",
        "UserDTO",
        ("id",),
        Read.LIST,
        "user.list",
        "Users of the account (`GET /panel/api/user/list`).",
    ),
    Resource(
        "organizations",
        "OrganizationDTO",
        ("id",),
        Read.NESTED,
        None,
        "Organizations, as they arrive nested in users (no endpoint lists them).",
    ),
    Resource(
        "event_types",
        "EventTypeDTO",
        ("id",),
        Read.PAGES,
        "event_type.list",
        "Event types (meeting types) (`GET /panel/api/event-type/list`).",
        stable_order="id",
        id_filter="ids",
    ),
    Resource(
        "event_type_tags",
        "EventTypeTagDTO",
        ("event_type_id", "id"),
        Read.PER_PARENT,
        "event_type.tags",
        "Tags attached to each event type (`GET /panel/api/event-type/{id}/tag/list`).",
        parent=Parent(*_PER_EVENT_TYPE, path_param="eventTypeId"),
    ),
    Resource(
        "event_type_availability",
        "EventTypeAvailabilityDTO",
        ("event_type_id", "date"),
        Read.PER_PARENT,
        "event_type.availability",
        "Bookable days and hours of each event type for the next N days "
        "(`GET /panel/api/event-type/availability/{id}`).",
        every_s=3600,
        parent=Parent(*_PER_EVENT_TYPE, path_param="id"),
        dates=DateWindow(max_days=62),  # the API answers at most 62 days per call
    ),
    Resource(
        "user_event_type_tags",
        "UserEventTypeTagDTO",
        ("id",),
        Read.LIST,
        "user_event_type_tag.list",
        "The user's event type tags (`GET /panel/api/user-event-type-tag/list`).",
    ),
    Resource(
        "polls",
        "PollDTO",
        ("id",),
        Read.PAGES,
        "poll.list",
        "Polls (meeting polls) with their slots and votes (`GET /panel/api/poll/list`).",
        stable_order="id",
    ),
    Resource(
        "events",
        "EventDTO",
        ("id",),
        Read.PAGES,
        "event.list",
        "Events (bookings) (`GET /panel/api/event/list`).",
        incremental_field="updatedAt",
        every_s=60,
        stable_order="id",
        id_filter="ids",
    ),
    Resource(
        "cancellation_policies",
        "CancellationPolicyDTO",
        ("type",),
        Read.OBJECT,
        "cancellation_policy",
        "The organization's and the user's cancellation policy "
        "(`GET /panel/api/organization-cancellation-policy`, `.../user-cancellation-policy`).",
        variants=("organization", "user"),
        every_s=86400,
    ),
    Resource(
        "acl_rules",
        "AclRuleDTO",
        ("resource",),
        Read.LIST,
        "acl.list",
        "Access control rules of the current user (`GET /panel/api/acl`).",
        every_s=86400,
    ),
    Resource(
        "integrations",
        FREE_FORM,
        ("scope", "key"),
        Read.OBJECT,
        "integration.list",
        "Connected integrations, user and organization (`GET /panel/api/integration/list`); "
        "the docs give no fields, so each is kept whole in `raw`.",
        every_s=86400,
    ),
)

RESOURCES: MappingProxyType[str, Resource] = MappingProxyType({r.name: r for r in _DECLARED})

# What `syncd sync` reads when no resource is named, in this order: parents before children.
SYNCED: tuple[Resource, ...] = tuple(r for r in _DECLARED if r.read is not Read.NESTED)

DTO_TO_RESOURCE: MappingProxyType[str, Resource] = MappingProxyType(
    {r.dto: r for r in _DECLARED if r.dto != FREE_FORM}
)
