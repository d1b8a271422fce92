"""The reference parser: the contract tests trust it for every field name, so it is pinned here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import reference

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def text() -> str:
    return reference.load_reference_text()


@pytest.fixture(scope="module")
def sections(text: str) -> dict[str, list[tuple[str, str]]]:
    return reference.parse_reference(text)


def test_event_dto_fields_are_exactly_the_documented_ones(sections: dict[str, list[tuple[str, str]]]) -> None:
    names = [name for name, _ in sections["Event DTO"]]
    assert names == [
        "id",
        "uuid",
        "user",
        "eventType",
        "invitee",
        "cancellation",
        "participants",
        "answers",
        "rescheduling",
        "payment",
        "createdAt",
        "updatedAt",
        "scheduledAt",
        "endDate",
        "canceledAt",
        "state",
        "notes",
        "details",
        "location",
        "locationType",
        "onlineEventId",
        "sentEmailReminder",
        "lastSentInviteeEmailReminder",
        "lastSentInviteeEmailFollowUp",
        "duration",
        "users",
        "relatedEventIds",
        "name",
        "description",
    ]


def test_event_dto_types(sections: dict[str, list[tuple[str, str]]]) -> None:
    types = dict(sections["Event DTO"])
    assert types["id"] == "int"
    assert types["user"] == "UserDTO"
    assert types["participants"] == "ParticipantDTO[]"
    assert types["relatedEventIds"] == "array"
    assert types["sentEmailReminder"] == "int"


def test_every_section_of_the_schema_part_is_parsed(
    text: str, sections: dict[str, list[tuple[str, str]]]
) -> None:
    schema_part = text[text.index(reference.SCHEMA_SECTION_START) :]
    assert len(sections) == schema_part.count(reference.HEADER) == 56


def test_every_title_has_a_dto_class_name(sections: dict[str, list[tuple[str, str]]]) -> None:
    assert set(sections) == set(reference.TITLE_TO_DTO)
    assert len(set(reference.TITLE_TO_DTO.values())) == len(reference.TITLE_TO_DTO), (
        "class names must be unique"
    )


@pytest.mark.parametrize(
    ("title", "dto"),
    [
        ("Event DTO", "EventDTO"),
        ("User", "UserDTO"),
        ("Invitee", "InviteeDTO"),
        ("Data Transfer Object (DTO) for Poll", "PollDTO"),
        ("Data Transfer Object (DTO) for Poll Availability", "PollAvailabilityDTO"),
        ("Data Transfer Object (DTO) for Poll Result", "PollResultDTO"),
        ("Metadata for the paginated result", "MetaDataDTO"),
        ("Cancellation policy data transfer object", "CancellationPolicyDTO"),
        ("Event type DTO", "EventTypeDTO"),
        ("Event Type Tag", "EventTypeTagDTO"),
        ("User Event Type Tag", "UserEventTypeTagDTO"),
    ],
)
def test_title_maps_to_class_name(title: str, dto: str) -> None:
    assert reference.TITLE_TO_DTO[title] == dto


def test_no_dto_repeats_a_field(sections: dict[str, list[tuple[str, str]]]) -> None:
    for title, fields in sections.items():
        names = [name for name, _ in fields]
        assert len(names) == len(set(names)), f"{title}: repeated field in {names}"


def test_field_names_are_identifiers(sections: dict[str, list[tuple[str, str]]]) -> None:
    for title, fields in sections.items():
        assert fields, f"{title}: no fields parsed"
        for name, type_ in fields:
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name), f"{title}: odd field name {name!r}"
            assert reference.is_type_token(type_), f"{title}.{name}: odd type {type_!r}"


def test_every_referenced_dto_is_documented() -> None:
    documented = set(reference.dtos())
    for dto, fields in reference.dtos().items():
        for field in fields:
            target = reference.resolve_type(field.type).dto
            assert target is None or target in documented, f"{dto}.{field.name} refers to unknown {target}"


def test_english_words_that_are_types_do_not_start_rows(sections: dict[str, list[tuple[str, str]]]) -> None:
    # "The total number of pages", "The phone number of the invitee", "for current user".
    assert [name for name, _ in sections["Metadata for the paginated result"]] == [
        "pagesCount",
        "itemsPerPage",
        "itemsCount",
        "currentPage",
    ]
    assert [name for name, _ in sections["Access Control List Rule schema"]] == [
        "resource",
        "attributes",
        "allowedAttributes",
    ]
    assert [name for name, _ in sections["Invitee"]] == (
        ["id", "email", "fullName", "timezone", "phoneNumber", "locale", "cancellationPolicy", "uuid"]
    )
    assert dict(sections["User"])["phone"] == "string"
    assert [name for name, _ in sections["Get Event Type List Filter"]] == [
        "ids",
        "forCurrentUser",
        "manageRoundRobin",
        "type",
    ]


def test_poll_dto_keeps_its_odd_types(sections: dict[str, list[tuple[str, str]]]) -> None:
    assert sections["Data Transfer Object (DTO) for Poll"] == [
        ("id", "int"),
        ("uuid", "string"),
        ("user", "user"),
        ("eventType", "eventType"),
        ("voteVisibility", "bool"),
        ("commentVisibility", "bool"),
        ("emailNotification", "bool"),
        ("duration", "int"),
        ("name", "string"),
        ("createdAt", "string"),
        ("availability", "PollAvailabilityDTO[]"),
    ]


def test_html_leftovers_in_types_are_cleaned(sections: dict[str, list[tuple[str, str]]]) -> None:
    assert dict(sections["EditEventRequestDTO"])["invitee"] == "EditEventInviteeRequestDTO"


def test_snake_case_fields_survive(sections: dict[str, list[tuple[str, str]]]) -> None:
    assert "overwrite_personal" in dict(sections["Cancellation policy data transfer object"])
    assert [name for name, _ in sections["SimpleEventTypeDTO"]] == (
        [
            "id",
            "slug",
            "name",
            "color",
            "location_type",
            "timezone",
            "user_full_name",
            "localized",
            "direct_url",
        ]
    )


def test_nameless_filter_field_is_kept_as_printed(sections: dict[str, list[tuple[str, str]]]) -> None:
    # The docs print `GetEventListFilterDTO GetEventListFilterDTO`: the name was lost, the row is kept.
    assert sections["Get Event List Request"][-1] == ("GetEventListFilterDTO", "GetEventListFilterDTO")
    assert sections["Get Event Type List Request"][-1] == ("filter", "GetEventTypeListFilterDTO")


def test_last_section_needs_no_trailing_dash(sections: dict[str, list[tuple[str, str]]]) -> None:
    assert sections["User Event Type Tag Request"] == [
        ("position", "int"),
        ("name", "string"),
        ("color", "string"),
    ]


def test_synthetic_section() -> None:
    text = (
        "intro\nAccess Control List Rule schemaИмя Тип Описание a_b string X -\n"
        'ThingИмя Тип Описание user user user total int The total number of rows kids KidDTO">KidDTO[] '
        "Array of KidDTO objects amount number amount -\n"
    )
    assert reference.parse_reference(text) == {
        "Access Control List Rule schema": [("a_b", "string")],
        "Thing": [("user", "user"), ("total", "int"), ("kids", "KidDTO[]"), ("amount", "number")],
    }


def test_unparseable_row_is_an_error() -> None:
    with pytest.raises(ValueError, match="no `name type` row"):
        reference.parse_rows("Some prose without rows -")


def test_datetime_fields_come_from_descriptions() -> None:
    event = {f.name for f in reference.dtos()["EventDTO"] if f.is_datetime}
    assert event == {"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt"}
    poll = {f.name for f in reference.dtos()["PollAvailabilityDTO"] if f.is_datetime}
    assert poll == {"date"}


def test_resolve_type() -> None:
    assert reference.resolve_type("int") == reference.TypeRef("int", None, is_list=False)
    assert reference.resolve_type("UserDTO[]") == reference.TypeRef(None, "UserDTO", is_list=True)
    assert reference.resolve_type("eventType") == reference.TypeRef("object", None, is_list=False)


def test_missing_reference_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere.txt"
    monkeypatch.setenv(reference.REFERENCE_ENV, str(missing))
    assert reference.reference_path() == missing
    with pytest.raises(reference.ReferenceMissingError, match=r"reference not found at .*nowhere\.txt"):
        reference.load_reference_text()


def test_env_points_at_the_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    copy = tmp_path / "ref.txt"
    copy.write_text(text, encoding="utf-8")
    monkeypatch.setenv(reference.REFERENCE_ENV, str(copy))
    assert reference.load_reference_text() == text


def test_default_location_is_beside_the_repository() -> None:
    repo = Path(reference.__file__).resolve().parents[1]
    assert repo.parent / "shared" / "simplymeet-api" / reference.REFERENCE_NAME == reference.DEFAULT_REFERENCE


def test_enumerated_values_come_from_descriptions() -> None:
    fields = {(dto, f.name): f for dto, fs in reference.dtos().items() for f in fs}
    assert fields["EventTypeDTO", "type"].allowed_values == {"regular", "round-robin", "collective"}
    assert fields["EventTypeDTO", "durationType"].allowed_values == {"fixed", "flexible"}
    assert fields["CancellationPolicyDTO", "type"].allowed_values == {"user", "organization"}
    assert fields["EventTypeRequestLocationTypeDTO", "locationType"].allowed_values == {
        "custom",
        "zoom",
        "request",
        "whereby",
        "google_meet",
        "kopano_meet",
        "microsoft_teams",
    }
    assert fields["EventDTO", "state"].allowed_values is None, "the docs list no event states"
    assert fields["QuestionDTO", "config"].allowed_values is None, "only string fields are enumerated"


def test_uuid_fields_come_from_descriptions() -> None:
    event = {f.name for f in reference.dtos()["EventDTO"] if f.is_uuid}
    assert event == {"uuid"}
    assert not [f.name for f in reference.dtos()["QuestionDTO"] if f.is_uuid], (
        "QuestionDTO.uuid is not said to be one"
    )
