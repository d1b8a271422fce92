"""The reference facts and their parser: the contract tests trust them for every field name.

The facts are pinned here as the committed data file holds them; tests/unit/test_reference_data.py
proves that file is what the parser makes of the reference text. The parser's quirks are pinned on
synthetic text, so they stay checked without the reference at hand.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests import reference

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def sections() -> dict[str, list[tuple[str, str]]]:
    """{docs title: [(field name, type)]}, as the data file holds them."""
    by_class = {dto: [(f.name, f.type) for f in fields] for dto, fields in reference.dtos().items()}
    return {title: by_class[dto] for title, dto in reference.TITLE_TO_DTO.items()}


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


def test_every_section_of_the_schema_part_is_kept() -> None:
    assert len(reference.dtos()) == 56


def test_every_title_has_a_dto_class_name() -> None:
    assert set(reference.dtos()) == set(reference.TITLE_TO_DTO.values())
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


def test_datetime_fields_are_the_described_ones() -> None:
    event = {f.name for f in reference.dtos()["EventDTO"] if f.is_datetime}
    assert event == {"createdAt", "updatedAt", "scheduledAt", "endDate", "canceledAt"}
    poll = {f.name for f in reference.dtos()["PollAvailabilityDTO"] if f.is_datetime}
    assert poll == {"date"}


def test_resolve_type() -> None:
    assert reference.resolve_type("int") == reference.TypeRef("int", None, is_list=False)
    assert reference.resolve_type("UserDTO[]") == reference.TypeRef(None, "UserDTO", is_list=True)
    assert reference.resolve_type("eventType") == reference.TypeRef("object", None, is_list=False)


def test_enumerated_values_are_the_described_ones() -> None:
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


def test_uuid_fields_are_the_described_ones() -> None:
    event = {f.name for f in reference.dtos()["EventDTO"] if f.is_uuid}
    assert event == {"uuid"}
    assert not [f.name for f in reference.dtos()["QuestionDTO"] if f.is_uuid], (
        "QuestionDTO.uuid is not said to be one"
    )


# -- the generator, on synthetic text ----------------------------------------------------------------

ENDPOINTS_TEXT = """\
| | method | path | request | answer |
|---|---|---|---|---|
| C | GET / PUT | /panel/api/user-cancellation-policy | CancellationPolicyRequestDTO (PUT) | CancellationPolicyDTO |
| I | DELETE | /panel/api/event/{id} | - | empty |
"""


def _synthetic_reference(row: str = "when string The creation date of it") -> str:
    """A reference text with every known section title, each holding one row."""
    return "intro\n" + "".join(f"{title}{reference.HEADER} {row} -\n" for title in reference.TITLE_TO_DTO)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("at string Date and time of the event start", reference.Field("at", "string", is_datetime=True)),
        ("at string ISO 8601 timestamp", reference.Field("at", "string", is_datetime=True)),
        ("id string Event UUID", reference.Field("id", "string", is_uuid=True)),
        (
            "kind string Can be 'user' or 'organization'",
            reference.Field("kind", "string", allowed_values=frozenset({"user", "organization"})),
        ),
        (
            "kind string Duration type: fixed or flexible",
            reference.Field("kind", "string", allowed_values=frozenset({"fixed", "flexible"})),
        ),
        ("kind string The kind of it, free text", reference.Field("kind", "string")),
        ("at int Date and time as a UNIX UUID 'x'", reference.Field("at", "int")),
    ],
)
def test_descriptions_give_their_facts(row: str, expected: reference.Field) -> None:
    assert reference.parse_rows(row + " -") == [expected]


def test_a_field_cannot_be_both_a_date_time_and_a_uuid() -> None:
    with pytest.raises(ValueError, match="'at' is described as both a date-time and a UUID"):
        reference.parse_rows("at string Creation date, a UUID -")


def test_two_sections_on_one_line_are_refused() -> None:
    text = f"Access Control List Rule schema{reference.HEADER} name string X - Thing{reference.HEADER} size int Y -\n"
    with pytest.raises(ValueError, match="2 'Имя Тип Описание' headers but 1 parsed sections"):
        reference.parse_sections(text)


def test_titles_must_match_the_class_names_both_ways() -> None:
    with pytest.raises(ValueError, match=r"without a DTO class name in TITLE_TO_DTO: \['Brand new'\]"):
        reference.parse_dtos(_synthetic_reference() + f"Brand new{reference.HEADER} name string X -\n")
    partial = "intro\n" + f"Access Control List Rule schema{reference.HEADER} name string X -\n"
    with pytest.raises(
        ValueError, match=r"TITLE_TO_DTO names sections the reference does not have: .*'Answer'"
    ):
        reference.parse_dtos(partial)


def test_endpoint_rows_give_one_endpoint_per_method() -> None:
    assert reference.parse_endpoints(ENDPOINTS_TEXT) == [
        reference.DocumentedEndpoint("GET", "/panel/api/user-cancellation-policy", confirmed=True),
        reference.DocumentedEndpoint("PUT", "/panel/api/user-cancellation-policy", confirmed=True),
        reference.DocumentedEndpoint("DELETE", "/panel/api/event/{id}", confirmed=False),
    ]
    with pytest.raises(ValueError, match=r"ENDPOINTS\.md has no"):
        reference.parse_endpoints("# no table here\n")


def test_extracted_data_holds_facts_not_prose() -> None:
    text = _synthetic_reference()
    data = reference.extract(text, ENDPOINTS_TEXT)
    assert data["generated_from"]["reference"] == {
        "file": reference.REFERENCE_NAME,
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    assert list(data["dtos"]) == sorted(reference.TITLE_TO_DTO.values())
    assert data["dtos"]["EventDTO"] == [{"name": "when", "type": "string", "format": "date-time"}]
    assert data["endpoints"][0] == ["DELETE", "/panel/api/event/{id}", "inferred"]
    assert "creation" not in reference.render(data).lower(), "a description leaked into the data"


def test_rendering_puts_one_field_or_endpoint_per_line() -> None:
    rendered = reference.render(reference.extract(_synthetic_reference(), ENDPOINTS_TEXT))
    assert '\n      {"name": "when", "type": "string", "format": "date-time"}\n' in rendered
    assert '\n    ["GET", "/panel/api/user-cancellation-policy", "confirmed"],\n' in rendered
    assert json.loads(rendered)["dtos"]["PollDTO"][0]["name"] == "when"


def test_the_committed_file_is_in_its_rendered_form() -> None:
    # A hand edit that is not in the generator's form shows up here, even without the reference.
    assert reference.DATA_FILE.read_text(encoding="utf-8") == reference.render(reference.load_data())


def test_the_committed_file_names_its_sources_without_a_path() -> None:
    sources = reference.load_data()["generated_from"]
    assert sources["reference"]["file"] == reference.REFERENCE_NAME
    assert sources["endpoints"]["file"] == reference.ENDPOINTS_NAME
    for source in sources.values():
        assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"]), source


def test_generator_refuses_a_missing_reference_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main([str(tmp_path / "nowhere.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.match(r"reference-data: SimplyMeet API reference not found at .*nowhere\.txt", err)


def test_generator_needs_the_endpoint_table_beside_the_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / reference.REFERENCE_NAME).write_text(_synthetic_reference(), encoding="utf-8")
    assert reference.main([str(tmp_path / reference.REFERENCE_NAME)]) == 2
    assert "ENDPOINTS.md is missing (it lives beside the reference)" in capsys.readouterr().err


def test_generator_check_reports_a_stale_file_without_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / reference.REFERENCE_NAME).write_text(_synthetic_reference(), encoding="utf-8")
    (tmp_path / reference.ENDPOINTS_NAME).write_text(ENDPOINTS_TEXT, encoding="utf-8")
    before = reference.DATA_FILE.read_text(encoding="utf-8")
    assert reference.main(["--check", str(tmp_path / reference.REFERENCE_NAME)]) == 1
    assert "api_reference.json differs from what" in capsys.readouterr().err
    assert reference.DATA_FILE.read_text(encoding="utf-8") == before


def test_generator_without_a_reference_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(reference.REFERENCE_ENV, raising=False)
    with pytest.raises(SystemExit) as exc:
        reference.main([])
    assert exc.value.code == 2
