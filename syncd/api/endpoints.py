"""The SimplyMeet panel API, declared once: one `Endpoint` per operation.

The table follows the public API reference's endpoint table (ENDPOINTS.md; the tests hold its
rows in tests/data/api_reference.json and check this table against them). A path the docs confirm is
`Confirmed`; a path inferred from the naming pattern is `Inferred`, and any path can be replaced
by name at run time (`ApiClient(paths={...})`, fed from the `[api.paths]` settings table), so a
wrong guess is fixed in configuration rather than in code.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

HttpMethod = Literal["GET", "POST", "PUT", "DELETE"]


class PathSource(enum.Enum):
    CONFIRMED = "confirmed"  # the public docs state this path
    INFERRED = "inferred"  # guessed from the confirmed ones' naming pattern


class Answer(enum.Enum):
    """The shape of a successful answer's body."""

    ENVELOPE = "envelope"  # {"meta": MetaDataDTO, "items": [...]}
    ARRAY = "array"  # a bare JSON array
    OBJECT = "object"  # a JSON object
    EMPTY = "empty"  # no body is promised; whatever comes is ignored


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: HttpMethod
    path: str  # a template: "/panel/api/event/cancel/{id}"
    source: PathSource
    answer: Answer
    # Reads are safe to repeat; a write whose answer was lost is in doubt and must not be repeated blindly.
    write: bool

    @property
    def placeholders(self) -> frozenset[str]:
        return placeholders_of(self.path)


def placeholders_of(template: str) -> frozenset[str]:
    """The `{name}` fields of a path template; raises ValueError on a malformed one."""
    names: set[str] = set()
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(f"path template {template!r}: {{{field}}} is not a plain placeholder")
        names.add(field)
    return frozenset(names)


def _read(name: str, path: str, source: PathSource, answer: Answer) -> Endpoint:
    return Endpoint(name, "GET", path, source, answer, write=False)


def _write(name: str, method: HttpMethod, path: str, source: PathSource, answer: Answer) -> Endpoint:
    return Endpoint(name, method, path, source, answer, write=True)


# Short names so the table reads like the docs' table: C/I column, then the answer's shape.
_C, _I = PathSource.CONFIRMED, PathSource.INFERRED
_E, _A, _O, _N = Answer.ENVELOPE, Answer.ARRAY, Answer.OBJECT, Answer.EMPTY
_P = "/panel/api"

_TABLE: tuple[Endpoint, ...] = (
    # Events
    _read("event.list", f"{_P}/event/list", _I, _E),
    _read("event.get", f"{_P}/event/{{id}}", _I, _O),
    _write("event.create", "POST", f"{_P}/event", _I, _O),
    _write("event.edit", "PUT", f"{_P}/event/{{id}}", _I, _N),
    # The docs' example POSTs to cancel while their method table says PUT: the table wins.
    _write("event.cancel", "PUT", f"{_P}/event/cancel/{{id}}", _C, _N),
    _write("event.cancel_list", "PUT", f"{_P}/event/cancel-list", _C, _N),
    _write("event.delete", "DELETE", f"{_P}/event/{{id}}", _C, _N),
    _write("event.delete_list", "DELETE", f"{_P}/event/delete-list", _C, _N),
    _write("event.notes", "PUT", f"{_P}/event/notes/{{id}}", _I, _N),
    _write("event.invite", "POST", f"{_P}/event/invite-participants/{{id}}", _I, _N),
    _write("event.no_show", "PUT", f"{_P}/event/no-show/{{id}}", _I, _N),
    _write("event.no_show_list", "PUT", f"{_P}/event/no-show-list", _I, _N),
    _write("event.reschedule", "PUT", f"{_P}/event/reschedule/{{id}}", _I, _N),
    _write("event.resend_notification", "PUT", f"{_P}/event/resend-notification/{{id}}", _I, _N),
    # Event types
    _read("event_type.list", f"{_P}/event-type/list", _I, _E),
    _read("event_type.get", f"{_P}/event-type/{{id}}", _I, _O),
    _read("event_type.availability", f"{_P}/event-type/availability/{{id}}", _I, _A),
    _read("event_type.tags", f"{_P}/event-type/{{eventTypeId}}/tag/list", _I, _A),
    _write("event_type.tag_add", "PUT", f"{_P}/event-type/{{eventTypeId}}/tag/{{tagId}}", _I, _N),
    _write("event_type.tag_remove", "DELETE", f"{_P}/event-type/{{eventTypeId}}/tag/{{tagId}}", _I, _N),
    _write("event_type.single_use_link", "POST", f"{_P}/event-type/single-use-link/{{id}}", _I, _O),
    # Polls
    _read("poll.list", f"{_P}/poll/list", _I, _A),
    _read("poll.get", f"{_P}/poll/{{id}}", _I, _O),
    _write("poll.create", "POST", f"{_P}/poll", _I, _O),
    _write("poll.delete", "DELETE", f"{_P}/poll/{{id}}", _I, _N),
    _write("poll.result", "POST", f"{_P}/poll/result", _I, _N),
    # Users and tags
    _read("user.current", f"{_P}/user/current", _I, _O),
    _read("user.list", f"{_P}/user/list", _I, _A),
    _read("user_event_type_tag.list", f"{_P}/user-event-type-tag/list", _I, _A),
    _write("user_event_type_tag.create", "POST", f"{_P}/user-event-type-tag", _I, _O),
    _write("user_event_type_tag.update", "PUT", f"{_P}/user-event-type-tag/{{id}}", _I, _O),
    _write("user_event_type_tag.delete", "DELETE", f"{_P}/user-event-type-tag/{{id}}", _I, _N),
    # Account
    _read("acl.list", f"{_P}/acl", _C, _A),
    _read("integration.list", f"{_P}/integration/list", _I, _O),
    _read("cancellation_policy.organization", f"{_P}/organization-cancellation-policy", _C, _O),
    _write(
        "cancellation_policy.organization_update", "PUT", f"{_P}/organization-cancellation-policy", _C, _O
    ),
    _read("cancellation_policy.user", f"{_P}/user-cancellation-policy", _C, _O),
    _write("cancellation_policy.user_update", "PUT", f"{_P}/user-cancellation-policy", _C, _O),
    _write("availability_rule.save", "PUT", f"{_P}/availability-rule", _C, _N),
)

ENDPOINTS: Mapping[str, Endpoint] = MappingProxyType({e.name: e for e in _TABLE})
assert len(ENDPOINTS) == len(_TABLE), "duplicate endpoint name in the table"


def resolve_paths(overrides: Mapping[str, str] | None = None) -> dict[str, Endpoint]:
    """The endpoint table with `overrides` (endpoint name -> path template) applied.

    An override must name a known endpoint, start with '/', and use exactly the placeholders of
    the path it replaces; anything else raises ValueError naming the endpoint.
    """
    table = dict(ENDPOINTS)
    for name, template in (overrides or {}).items():
        endpoint = table.get(name)
        if endpoint is None:
            known = ", ".join(sorted(ENDPOINTS))
            raise ValueError(f"api path override for unknown endpoint {name!r}; known endpoints: {known}")
        if not template.startswith("/"):
            raise ValueError(f"api path override for {name!r}: {template!r} must start with '/'")
        try:
            given = placeholders_of(template)
        except ValueError as exc:
            raise ValueError(f"api path override for {name!r}: {exc}") from None
        if missing := endpoint.placeholders - given:
            fields = ", ".join(f"{{{m}}}" for m in sorted(missing))
            raise ValueError(f"api path override for {name!r}: {template!r} lacks placeholder {fields}")
        if extra := given - endpoint.placeholders:
            fields = ", ".join(f"{{{m}}}" for m in sorted(extra))
            raise ValueError(f"api path override for {name!r}: {template!r} has unknown placeholder {fields}")
        table[name] = Endpoint(
            endpoint.name, endpoint.method, template, endpoint.source, endpoint.answer, endpoint.write
        )
    return table
