"""The webhook payload JSON Schemas without I/O: the committed files are the generator's output, each
is a valid draft 2020-12 schema, payloads `syncd.webhooks.payload` builds pass, wrong ones do not,
and each field's type accepts what the mirror accepts from the API (so no delivery can fail it)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from syncd import webhooks
from syncd.api.contract import Kind
from syncd.db.feed import TEST_KIND, Change, all_kinds
from syncd.mapping import MappingError, convert
from syncd.webhook_schemas import DIRECTORY, INDEX, VALUES, nullable, render, schemas
from syncd.webhooks import payload
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.unit

AT = dt.datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=dt.UTC)
SCHEMAS = schemas()


def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[kind], format_checker=Draft202012Validator.FORMAT_CHECKER)


def _errors(body: Any, kind: str | None = None) -> list[str]:
    """Every message, those under anyOf included (each alternative says why it failed)."""
    found: list[str] = []
    pending = list(_validator(kind or body["type"]).iter_errors(body))
    while pending:
        error = pending.pop(0)
        found.append(error.message)
        pending.extend(error.context or [])
    return found


EVENT = {
    "id": 1017,
    "uuid": "0c6f3b7e-7f7a-4c35-9d1a-2f0f3f7b9a10",
    "user": {"id": 3, "email": "owner@example.com", "organization": {"id": 1, "name": "Acme"}},
    "eventType": {"id": 8, "name": "Intro call", "users": [{"id": 3}], "questions": []},
    "invitee": {"id": 5, "email": "ann@example.com", "fullName": "Ann"},
    "cancellation": None,
    "participants": [{"id": 1, "email": "bob@example.com", "createdAt": "2026-11-20T10:00:00+00:00"}],
    "users": [{"id": 3}],
    "scheduledAt": "2026-12-02T10:00:00+00:00",
    "endDate": "2026-12-02 10:30:00",
    "state": "active",
    "notes": "café ☕",
    "relatedEventIds": [1016, "1015"],
    "somethingNew": {"the API": "may add fields"},
}


def _change(**overrides: Any) -> Change:
    values: dict[str, Any] = {
        "id": 42,
        "occurred_at": AT,
        "resource": "events",
        "object_id": "1017",
        "kind": "event.rescheduled",
        "kinds": ["event.updated", "event.rescheduled", "event.notes_changed"],
        "fields": {"scheduledAt": {"old": "2026-12-01T10:00:00+00:00", "new": "2026-12-02T10:00:00+00:00"}},
        "data": EVENT,
        "origin": "sync",
    }
    values.update(overrides)
    return Change(**values)


def test_the_committed_schemas_are_the_generators_output() -> None:
    directory = REPO_ROOT / DIRECTORY
    expected = render()
    committed = {path.name: path.read_text(encoding="utf-8") for path in directory.glob("*.json")}
    assert sorted(committed) == sorted(expected), "docs/webhook-schemas is stale: run `make webhook-schemas`"
    for name, text in expected.items():
        assert committed[name] == text, f"docs/webhook-schemas/{name} is stale: run `make webhook-schemas`"


def test_there_is_one_valid_schema_per_kind_and_the_index_names_them() -> None:
    assert list(SCHEMAS) == [*all_kinds(), TEST_KIND]
    for kind, schema in SCHEMAS.items():
        Draft202012Validator.check_schema(schema)
        assert schema["properties"]["type"] == {"const": kind}
    index = json.loads(render()[INDEX])
    assert index["kinds"] == {kind: f"{kind}.json" for kind in SCHEMAS}


def test_the_envelope_lists_what_payload_sends() -> None:
    body = payload(_change())
    schema = SCHEMAS["event.rescheduled"]
    assert schema["required"] == list(body)
    assert schema["properties"]["data"]["required"] == list(body["data"])
    ping = webhooks.test_payload(7, AT)
    assert SCHEMAS[TEST_KIND]["properties"]["data"]["required"] == list(ping["data"])


@pytest.mark.parametrize(
    "change",
    [
        _change(),
        _change(kind="event.created", kinds=["event.created"], fields=None),
        _change(kind="event.deleted", kinds=["event.deleted"], fields=None, origin="replay:12,13"),
        _change(
            kind="event.updated", kinds=["event.updated"], fields={"location": {"old": None, "new": "x"}}
        ),
        # An object back after a deletion is created again, with what differs from before.
        _change(kind="event.created", kinds=["event.created"], fields={"state": {"old": "a", "new": "b"}}),
        _change(
            kind="event.cancelled",
            kinds=["event.updated", "event.cancelled", "event.notes_changed"],
            data={**EVENT, "state": "canceled", "cancellation": {"id": 2, "reason": None}},
        ),
        _change(
            resource="event_type_tags",
            object_id="8/4",
            kind="event_type_tag.created",
            kinds=["event_type_tag.created"],
            fields=None,
            data={"id": 4, "name": "VIP", "enabled": 1},  # the key's event type is the read's, not a field
        ),
        _change(
            resource="cancellation_policies",
            object_id="user",
            kind="cancellation_policy.updated",
            kinds=["cancellation_policy.updated"],
            data={"enabled": True, "period": "60"},  # `type` comes from the endpoint read
        ),
        _change(
            resource="integrations",
            object_id="user/zoom",
            kind="integration.updated",
            kinds=["integration.updated"],
            data={"anything": ["the docs give no fields"]},
        ),
    ],
    ids=lambda change: change.kind,
)
def test_payloads_of_every_shape_pass(change: Change) -> None:
    assert _errors(payload(change)) == []


def test_the_ping_passes() -> None:
    assert _errors(webhooks.test_payload(3, AT)) == []


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"kinds": ["event.updated", "event.notes_changed", "event.rescheduled"]}, "event.rescheduled"),
        ({"kinds": ["event.rescheduled"]}, "event.updated"),
        ({"fields": None}, "None is not of type 'object'"),
        ({"fields": {}}, "should be non-empty"),
        ({"fields": {"notes": {"new": "x"}}}, "'old' is a required property"),
        ({"origin": "cron"}, "does not match"),
        ({"resource": "users"}, "'events' was expected"),
        ({"object_id": ""}, "should be non-empty"),
        ({"data": {**EVENT, "id": None}}, "None is not of type 'integer', 'string'"),
        ({"data": {k: v for k, v in EVENT.items() if k != "id"}}, "'id' is a required property"),
        ({"data": {**EVENT, "scheduledAt": "next Tuesday"}}, "does not match"),
        ({"data": {**EVENT, "users": [{"email": "no id"}]}}, "'id' is a required property"),
        ({"data": {**EVENT, "participants": {"id": 1}}}, "is not of type 'array', 'null'"),
        ({"data": {**EVENT, "user": {"id": 3, "isEnabled": "yes"}}}, "'yes' is not of type 'boolean'"),
        ({"data": {**EVENT, "duration": "thirty"}}, "does not match"),
        ({"data": {**EVENT, "eventType": {"id": 8, "amount": "NaN"}}}, "does not match"),
        ({"data": [EVENT]}, "is not of type 'object'"),
    ],
)
def test_a_payload_that_breaks_the_contract_fails(overrides: dict[str, Any], says: str) -> None:
    errors = _errors(payload(_change(**overrides)))
    assert errors, "expected a validation error"
    assert any(says in error for error in errors), errors


def test_a_payload_fails_the_schema_of_another_kind() -> None:
    body = payload(_change())
    errors = _errors(body, "event.cancelled")
    assert any("'event.cancelled' was expected" in error for error in errors)


def test_the_timestamp_is_utc_with_z() -> None:
    body = payload(_change())
    assert _errors({**body, "timestamp": "2026-11-25T09:30:15+01:00"})
    assert _errors({**body, "timestamp": "2026-11-25T09:30:15Z"}) == []


# What the API might send for a scalar: the mirror's converter decides what it stores (and so what a
# delivery may carry); the schema must accept all of that, and refuses what the converter refuses.
SAMPLES: list[Any] = [
    0,
    12,
    -7,
    1.5,
    "12",
    " 12 ",
    "+3",
    "x",
    "",
    "1.5",
    "-2.5e3",
    ".5",
    "NaN",
    "Infinity",
    True,
    False,
    "true",
    "2026-12-02T10:00:00+00:00",
    "2026-12-02T10:00:00.123456Z",
    "2026-12-02T10:00:00+0100",
    "2026-12-02 10:00:00",
    "2026-12-02",
    "2026-12-02T10:00",
    "02.12.2026",
    [],
    [1, "2"],
    [1, None],
    ["a", 5],
    ["a", True],
    {},
    {"id": 1},
]


def _accepted(kind: Kind, value: Any) -> bool:
    try:
        convert(kind, value, "x")
    except MappingError:
        return False
    return True


@pytest.mark.parametrize("kind", sorted(VALUES, key=lambda k: k.name), ids=lambda k: k.name)
def test_each_type_accepts_exactly_what_the_mirror_accepts(kind: Kind) -> None:
    validator = Draft202012Validator(nullable(VALUES[kind]))
    assert validator.is_valid(None)
    for value in SAMPLES:
        assert validator.is_valid(value) == _accepted(kind, value), (kind, value)


def test_impossible_dates_are_the_mirrors_business_not_the_pattern() -> None:
    # A pattern cannot know February; the mirror refuses the object, so it is never delivered.
    validator = Draft202012Validator(VALUES[Kind.TIMESTAMP])
    assert validator.is_valid("2026-02-30 10:00:00")
    assert not _accepted(Kind.TIMESTAMP, "2026-02-30 10:00:00")
