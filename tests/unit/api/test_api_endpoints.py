from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from syncd.api import ENDPOINTS, Answer, ApiClient, PathSource, resolve_paths
from tests import reference
from tests.unit.api.mock_api import CANARY_KEY, Recorder

pytestmark = pytest.mark.unit

BRIEFED_NAMES = {
    "event.list", "event.get", "event.cancel", "event.cancel_list", "event.reschedule", "event.notes",
    "event.invite", "event.no_show", "event.no_show_list", "event.delete", "event.delete_list",
    "event.resend_notification", "event.create", "event.edit", "event_type.list", "event_type.get",
    "event_type.availability", "event_type.tags", "event_type.tag_add", "event_type.tag_remove",
    "event_type.single_use_link", "integration.list", "poll.list", "poll.get", "poll.create", "poll.delete",
    "poll.result", "user.current", "user.list", "user_event_type_tag.list", "user_event_type_tag.create",
    "user_event_type_tag.update", "user_event_type_tag.delete", "acl.list", "cancellation_policy.organization",
    "cancellation_policy.user", "cancellation_policy.organization_update", "cancellation_policy.user_update",
    "availability_rule.save",
}  # fmt: skip


def _documented_rows() -> set[tuple[str, str, PathSource]]:
    return {
        (e.method, e.path, PathSource.CONFIRMED if e.confirmed else PathSource.INFERRED)
        for e in reference.documented_endpoints()
    }


def test_the_table_names_every_endpoint() -> None:
    assert set(ENDPOINTS) == BRIEFED_NAMES


def test_the_table_matches_the_documented_methods_paths_and_sources() -> None:
    # The docs write tag paths with {eventTypeId}/{tagId}, like the table.
    ours = {(e.method, e.path, e.source) for e in ENDPOINTS.values()}
    assert ours == _documented_rows()


def test_method_table_wins_over_the_docs_example() -> None:
    assert ENDPOINTS["event.cancel"].method == "PUT"
    assert ENDPOINTS["event.delete_list"].method == "DELETE"


def test_answer_shapes() -> None:
    assert ENDPOINTS["event.list"].answer is Answer.ENVELOPE
    assert ENDPOINTS["poll.list"].answer is Answer.ARRAY
    assert ENDPOINTS["user.list"].answer is Answer.ARRAY
    assert ENDPOINTS["event.get"].answer is Answer.OBJECT
    assert ENDPOINTS["event.cancel"].answer is Answer.EMPTY


def test_only_get_endpoints_are_reads() -> None:
    for endpoint in ENDPOINTS.values():
        assert endpoint.write is (endpoint.method != "GET"), endpoint.name


def test_the_table_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        ENDPOINTS["event.get"] = ENDPOINTS["event.list"]  # type: ignore[index]


def test_override_replaces_a_path() -> None:
    table = resolve_paths({"event.notes": "/panel/api/event/{id}/notes"})
    assert table["event.notes"].path == "/panel/api/event/{id}/notes"
    assert table["event.notes"].method == "PUT"
    assert ENDPOINTS["event.notes"].path == "/panel/api/event/notes/{id}"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"event.nots": "/panel/api/x/{id}"}, r"unknown endpoint 'event\.nots'"),
        ({"event.notes": "/panel/api/event/notes"}, r"'event\.notes'.*lacks placeholder \{id\}"),
        (
            {"event_type.tag_add": "/panel/api/tag/{tagId}"},
            r"'event_type\.tag_add'.*lacks placeholder \{eventTypeId\}",
        ),
        ({"event.notes": "/panel/api/event/{id}/{other}"}, r"'event\.notes'.*unknown placeholder \{other\}"),
        ({"event.notes": "panel/api/event/{id}"}, r"'event\.notes'.*must start with '/'"),
        ({"event.notes": "/panel/api/event/{id:d}"}, r"'event\.notes'.*not a plain placeholder"),
        ({"event.notes": "/panel/api/event/{id"}, r"'event\.notes'"),
    ],
)
def test_bad_overrides_are_refused_by_name(overrides: dict[str, str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        resolve_paths(overrides)
    with pytest.raises(ValueError, match=match):
        ApiClient("http://api.test", CANARY_KEY, paths=overrides)


def test_client_sends_to_the_overridden_path(make_client: Callable[..., tuple[ApiClient, Recorder]]) -> None:
    client, calls = make_client(
        lambda r: httpx.Response(204), paths={"event.notes": "/panel/api/event/{id}/notes"}
    )
    client.call("event.notes", path_params={"id": 42}, body={"notes": "bring slides"})
    assert calls.paths == ["/panel/api/event/42/notes"]
    assert calls.requests[0].method == "PUT"
    assert client.endpoints["event.notes"].path == "/panel/api/event/{id}/notes"
