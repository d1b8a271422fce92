"""The SimplyMeet API reference, read from the text the project was given.

The contract tests take every field name from here, so what they check follows the docs and not
the sandbox. The text is messy: each DTO is one line, `Title` glued to `Имя Тип Описание`, then
rows of `name type free-text description`, ending in ` -`. A row starts where a camelCase or
snake_case identifier is directly followed by a type token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import NamedTuple

REFERENCE_ENV = "SYNCD_API_REFERENCE"
REFERENCE_NAME = "000_ef00f9208c72b086.txt"
# In CI the repository is cloned elsewhere with shared/ beside it: resolve from the repo root.
DEFAULT_REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "simplymeet-api" / REFERENCE_NAME

SCHEMA_SECTION_START = "Access Control List Rule schema"
HEADER = "Имя Тип Описание"

PRIMITIVE_TYPES = frozenset({"int", "string", "bool", "array", "object", "number"})
# PollDTO documents `user user user` and `eventType eventType eventType`: an object of unstated shape.
OPAQUE_OBJECT_TYPES = frozenset({"user", "eventType"})

_IDENTIFIER = re.compile(r"[a-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")
# `InviteeRequestDTO">EditEventInviteeRequestDTO` is an HTML leftover: the part after `">` is the type.
_DTO_TYPE = re.compile(r'(?:[A-Za-z]+DTO">)?(?P<name>[A-Z][A-Za-z]+DTO)(?P<list>\[\])?')
# Lower-case English words that precede a DTO name inside descriptions ("Array of UserDTO objects").
_PROSE_WORDS = frozenset(
    {"a", "an", "and", "as", "by", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with"}
)

# The docs' section titles, and the class names the endpoint table and field types use for them.
TITLE_TO_DTO: Mapping[str, str] = {
    "Access Control List Rule schema": "AclRuleDTO",  # the docs name no class; ours
    "Answer": "AnswerDTO",
    "Answer request schema": "AnswerRequestDTO",
    "Availability Rule": "AvailabilityRuleDTO",
    "Availability Rule Request": "AvailabilityRuleRequestDTO",
    "Cancel event list request schema": "CancelEventListRequestDTO",
    "Cancel event request schema": "CancelEventRequestDTO",
    "Cancellation": "CancellationDTO",
    "Cancellation policy data transfer object": "CancellationPolicyDTO",
    "Cancellation policy request DTO": "CancellationPolicyRequestDTO",
    "Create event request schema": "CreateEventRequestDTO",
    "Delete event list request schema": "DeleteEventListRequestDTO",
    "EditEventAnswerRequestDTO": "EditEventAnswerRequestDTO",
    "EditEventInviteeRequestDTO": "EditEventInviteeRequestDTO",
    "EditEventRequestDTO": "EditEventRequestDTO",
    "Event DTO": "EventDTO",
    "Event edit notes request schema": "EventEditNotesRequestDTO",
    "Event invite participants request schema": "EventInviteParticipantsRequestDTO",
    "EventPaymentDTO": "EventPaymentDTO",
    "Event Type Availability": "EventTypeAvailabilityDTO",
    "Event Type Availability Hours": "EventTypeAvailabilityHoursDTO",
    "Event type DTO": "EventTypeDTO",
    "EventTypeDurationDTO": "EventTypeDurationDTO",
    "EventTypeRequestLocationTypeDTO": "EventTypeRequestLocationTypeDTO",
    "Event Type Tag": "EventTypeTagDTO",
    "Get Event List Filter": "GetEventListFilterDTO",
    "Get Event List Request": "GetEventListRequestDTO",
    "Get Event Type Availability Request": "GetEventTypeAvailabilityRequestDTO",
    "Get Event Type List Filter": "GetEventTypeListFilterDTO",
    "Get Event Type List Request": "GetEventTypeListRequestDTO",
    "GetPollListRequestDTO": "GetPollListRequestDTO",
    "Hour Interval": "HourIntervalDTO",
    "Integration list data transfer object": "IntegrationListDTO",
    "Invitee": "InviteeDTO",
    "Invitee request schema": "InviteeRequestDTO",
    "Metadata for the paginated result": "MetaDataDTO",
    "No show event list request schema": "NoShowEventListRequestDTO",
    "OrganizationDTO": "OrganizationDTO",
    "Participant": "ParticipantDTO",
    "Participant request schema": "ParticipantRequestDTO",
    "Data Transfer Object (DTO) for Poll Availability": "PollAvailabilityDTO",
    "Poll availability request schema": "PollAvailabilityRequestDTO",
    "Data Transfer Object (DTO) for Poll": "PollDTO",
    "Poll request schema": "PollRequestDTO",
    "Data Transfer Object (DTO) for Poll Result": "PollResultDTO",
    "Poll result request schema": "PollResultRequestDTO",
    "QuestionDTO": "QuestionDTO",
    "Reschedule event request schema": "RescheduleEventRequestDTO",
    "Rescheduling": "ReschedulingDTO",
    "SimpleEventTypeDTO": "SimpleEventTypeDTO",
    "SimpleUserDTO": "SimpleUserDTO",
    "Single use link response schema": "SingleUseLinkDTO",
    "SocialLinkDTO": "SocialLinkDTO",
    "User": "UserDTO",
    "User Event Type Tag": "UserEventTypeTagDTO",
    "User Event Type Tag Request": "UserEventTypeTagRequestDTO",
}

# A string field holds a date-time when its description says so.
_DATETIME_DESCRIPTION = re.compile(r"date and time|creation date|ISO 8601", re.IGNORECASE)
# "Can be 'user' or 'organization'", "Location type: 'custom', 'zoom', ..."
_QUOTED = re.compile(r"'([a-z_]+)'")
# "Type: regular, round-robin, collective", "Duration type: fixed or flexible"
_LISTED = re.compile(r"[A-Z][a-z ]*: (?P<values>[a-z-]+(?:(?:, | or )[a-z-]+)+)")


class ReferenceMissingError(RuntimeError):
    """The API reference text is not where the tests look for it."""


class Field(NamedTuple):
    name: str
    type: str
    description: str

    @property
    def is_datetime(self) -> bool:
        return self.type == "string" and bool(_DATETIME_DESCRIPTION.search(self.description))

    @property
    def is_uuid(self) -> bool:
        return self.type == "string" and "UUID" in self.description

    @property
    def allowed_values(self) -> frozenset[str] | None:
        """The values a string field's description enumerates ("Type: regular, round-robin, collective")."""
        if self.type != "string":
            return None
        quoted = _QUOTED.findall(self.description)
        if quoted:
            return frozenset(quoted)
        listed = _LISTED.fullmatch(self.description)
        if listed is None:
            return None
        return frozenset(v for v in re.split(r",\s*|\s+or\s+", listed["values"]) if v)


class TypeRef(NamedTuple):
    """What a field type token points at: a primitive, a DTO (maybe a list of it), or an opaque object."""

    primitive: str | None
    dto: str | None
    is_list: bool


def reference_path() -> Path:
    override = os.environ.get(REFERENCE_ENV)
    return Path(override) if override else DEFAULT_REFERENCE


def load_reference_text(path: Path | None = None) -> str:
    path = path or reference_path()
    if not path.is_file():
        raise ReferenceMissingError(
            f"SimplyMeet API reference not found at {path}. The contract tests read every DTO field from "
            f"it: put shared/simplymeet-api/{REFERENCE_NAME} beside the repository, or set "
            f"{REFERENCE_ENV} to the file."
        )
    return path.read_text(encoding="utf-8")


def is_type_token(token: str) -> bool:
    return token in PRIMITIVE_TYPES or token in OPAQUE_OBJECT_TYPES or _DTO_TYPE.fullmatch(token) is not None


def normalize_type(token: str) -> str:
    match = _DTO_TYPE.fullmatch(token)
    if match is None:
        return token
    return match["name"] + (match["list"] or "")


def _is_field_name(token: str) -> bool:
    # `GetEventListFilterDTO GetEventListFilterDTO`: the docs lost this field's name and printed its type twice.
    if _DTO_TYPE.fullmatch(token):
        return True
    return _IDENTIFIER.fullmatch(token) is not None and token not in _PROSE_WORDS


def _starts_row(tokens: list[str], i: int) -> bool:
    if not (i + 2 < len(tokens) and _is_field_name(tokens[i]) and is_type_token(tokens[i + 1])):
        return False
    # Some types are English words too ("The total number of pages", "for current user"): a real
    # row's description starts with a capital, or repeats the field name ("amount number amount").
    description = tokens[i + 2]
    return description[:1].isupper() or description == tokens[i] or not description[:1].isalpha()


def parse_rows(body: str) -> list[Field]:
    """Rows of one DTO section, the text after `Имя Тип Описание`."""
    tokens = body.split()
    if tokens and tokens[-1] == "-":
        tokens.pop()
    fields: list[Field] = []
    i = 0
    while i < len(tokens):
        if not _starts_row(tokens, i):
            raise ValueError(f"no `name type` row at {' '.join(tokens[i : i + 4])!r} in {body[:60]!r}")
        name, type_ = tokens[i], normalize_type(tokens[i + 1])
        # Every documented row has a description of at least one word (`user user user`), so the
        # next row cannot start right after the type.
        j = i + 3
        while j < len(tokens) and not _starts_row(tokens, j):
            j += 1
        fields.append(Field(name, type_, " ".join(tokens[i + 2 : j])))
        i = j
    return fields


def parse_sections(text: str) -> dict[str, list[Field]]:
    """Every DTO section of the reference, by its title in the docs, in the docs' order."""
    start = text.find(SCHEMA_SECTION_START)
    if start < 0:
        raise ValueError(f"the reference has no {SCHEMA_SECTION_START!r} section")
    sections: dict[str, list[Field]] = {}
    for line in text[start:].splitlines():
        if HEADER not in line:
            continue
        title, _, body = line.partition(HEADER)
        title = title.strip()
        if title in sections:
            raise ValueError(f"DTO section {title!r} appears twice")
        sections[title] = parse_rows(body)
    return sections


def parse_reference(text: str) -> dict[str, list[tuple[str, str]]]:
    """{dto title: [(field name, type)]}."""
    return {title: [(f.name, f.type) for f in fields] for title, fields in parse_sections(text).items()}


@cache
def dtos() -> dict[str, list[Field]]:
    """Every DTO of the reference, by class name (`EventDTO`). Raises if the reference is missing."""
    sections = parse_sections(load_reference_text())
    unknown = sorted(set(sections) - set(TITLE_TO_DTO))
    if unknown:
        raise ValueError(f"reference sections without a DTO class name in TITLE_TO_DTO: {unknown}")
    return {TITLE_TO_DTO[title]: fields for title, fields in sections.items()}


def field_names(dto: str) -> list[str]:
    return [f.name for f in dtos()[dto]]


def resolve_type(type_: str) -> TypeRef:
    if type_ in PRIMITIVE_TYPES:
        return TypeRef(type_, None, is_list=False)
    if type_ in OPAQUE_OBJECT_TYPES:
        return TypeRef("object", None, is_list=False)
    match = _DTO_TYPE.fullmatch(type_)
    if match is None:
        raise ValueError(f"not a type token: {type_!r}")
    return TypeRef(None, match["name"], is_list=match["list"] is not None)


ENDPOINTS_NAME = "ENDPOINTS.md"
_ENDPOINT_ROW = re.compile(
    r"^\|\s*[CI]\s*\|\s*(?P<methods>[A-Z /]+?)\s*\|\s*(?P<path>/\S+)\s*\|", re.MULTILINE
)


def documented_endpoints(path: Path | None = None) -> set[tuple[str, str]]:
    """(method, path) of every row of the endpoint table in ENDPOINTS.md, beside the reference."""
    path = path or reference_path().with_name(ENDPOINTS_NAME)
    if not path.is_file():
        raise ReferenceMissingError(f"the endpoint table {path} is missing (it lives beside the reference)")
    rows = _ENDPOINT_ROW.finditer(path.read_text(encoding="utf-8"))
    return {(method.strip(), row["path"]) for row in rows for method in row["methods"].split("/")}
