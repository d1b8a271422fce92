"""Every endpoint of ENDPOINTS.md answers, with the documented shape."""

from __future__ import annotations

import httpx
import pytest

from tests import reference
from tests.integration.sandbox.contract import (
    WorldIds,
    assert_empty_success,
    assert_shape,
    bare_array,
    envelope,
    json_of,
)
from tests.integration.sandbox.endpoints import ENDPOINT_IDS, ENDPOINTS, Endpoint

pytestmark = pytest.mark.integration


def test_every_documented_endpoint_is_exercised() -> None:
    ours = {(e.method, e.path) for e in ENDPOINTS}
    documented = {(e.method, e.path) for e in reference.documented_endpoints()}
    assert ours == documented, (
        f"missing here: {sorted(documented - ours)}; not documented: {sorted(ours - documented)}"
    )


def check_answer(endpoint: Endpoint, response: httpx.Response) -> None:
    what = endpoint.id
    answer = endpoint.answer
    if answer == "empty":
        assert_empty_success(response, what)
    elif answer.startswith("empty|"):
        assert response.is_success, f"{what}: expected 2xx, got {response.status_code}: {response.text[:300]}"
        if response.content.strip():
            assert_shape(json_of(response, what), answer.removeprefix("empty|"), what)
    elif answer.startswith("envelope:"):
        _, items = envelope(response, what)
        assert items, f"{what}: the default world should give a non-empty first page"
        for i, item in enumerate(items):
            assert_shape(item, answer.removeprefix("envelope:"), f"{what} items[{i}]")
    elif answer.endswith("[]"):
        for i, item in enumerate(bare_array(response, what)):
            assert_shape(item, answer.removesuffix("[]"), f"{what} [{i}]")
    else:
        assert_shape(json_of(response, what), answer, what)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_endpoint_answers_with_documented_shape(
    endpoint: Endpoint, client: httpx.Client, ids: WorldIds
) -> None:
    if endpoint.setup is not None:
        endpoint.setup(client, ids)
    response = endpoint.request(ids).send(client, endpoint.method)
    check_answer(endpoint, response)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/panel/api/acl", "ACL rule list"),
        ("/panel/api/poll/list", "PollDTO[]"),
        ("/panel/api/user/list", "UserDTO[]"),
        ("/panel/api/user-event-type-tag/list", "UserEventTypeTagDTO[]"),
    ],
)
def test_bare_array_lists_are_not_empty_in_the_default_world(
    reader: httpx.Client, path: str, kind: str
) -> None:
    assert bare_array(reader.get(path), path), f"{path}: the default world should hold some {kind}"


def test_integration_list_is_user_and_organization(reader: httpx.Client) -> None:
    body = json_of(reader.get("/panel/api/integration/list"), "integration list")
    assert set(reference.field_names("IntegrationListDTO")) <= set(body), (
        f"integration list keys: {sorted(body)}"
    )
    assert isinstance(body["user"], list), "integration list: `user` should be an array"
    assert isinstance(body["organization"], list), "integration list: `organization` should be an array"


def test_single_use_link_has_code_and_url(client: httpx.Client, ids: WorldIds) -> None:
    first = json_of(
        client.post(f"/panel/api/event-type/single-use-link/{ids.event_type_id}"), "single-use link"
    )
    second = json_of(
        client.post(f"/panel/api/event-type/single-use-link/{ids.event_type_id}"), "single-use link"
    )
    assert_shape(first, "SingleUseLinkDTO", "single-use link")
    assert first["code"], f"single-use link: empty code in {first}"
    assert first["url"], f"single-use link: empty url in {first}"
    assert first["url"].startswith(("http://", "https://")), (
        f"single-use link url is not a URL: {first['url']!r}"
    )
    assert first["code"] != second["code"], "two single-use links share a code"
