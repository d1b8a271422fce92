"""What a client written only from the SimplyMeet docs expects of an answer.

Field names and types come from tests/reference.py (the facts extracted from the docs' own text);
nothing here names a DTO field by hand except where a test needs a value to act on (an id, a date).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests import reference

API = "/panel/api"
# The docs name no status codes for refusals; these are the ones a validation refusal may carry.
REFUSED = frozenset({400, 409, 422})

_ISO_WITH_OFFSET = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})")
_PHP_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
PHP_FORMAT = "%Y-%m-%d %H:%M:%S"


# -- answers -----------------------------------------------------------------------------------


def json_of(response: httpx.Response, what: str) -> Any:
    assert response.is_success, f"{what}: expected 2xx, got {response.status_code}: {response.text[:300]}"
    try:
        return response.json()
    except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError
        raise AssertionError(f"{what}: answer is not JSON: {response.text[:300]!r}") from exc


def assert_empty_success(response: httpx.Response, what: str) -> None:
    """The docs: 'Returns empty response when the operation is successful'."""
    assert response.is_success, f"{what}: expected 2xx, got {response.status_code}: {response.text[:300]}"
    assert response.content.strip() == b"", f"{what}: expected an empty body, got {response.text[:300]!r}"


def error_reason(response: httpx.Response, statuses: Iterable[int], what: str) -> str:
    """A refusal with one of `statuses` and a JSON body whose `message` (or `error`) says why."""
    allowed = sorted(statuses)
    assert response.status_code in allowed, (
        f"{what}: expected one of {allowed}, got {response.status_code}: {response.text[:300]}"
    )
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"{what}: error Content-Type is {content_type!r}"
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"{what}: error body is not JSON: {response.text[:300]!r}") from exc
    assert isinstance(body, dict), f"{what}: error body is not a JSON object: {body!r}"
    reason = body.get("message") or body.get("error")
    assert isinstance(reason, str), f"{what}: error body has no `message` (or `error`) text: {body!r}"
    assert reason.strip(), f"{what}: error `message` is blank: {body!r}"
    return reason


# -- DTO shape -----------------------------------------------------------------------------------


@dataclass
class ShapeReport:
    """Problems found while walking an answer against the docs, and which DTOs were really seen."""

    problems: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    datetimes: list[tuple[str, str]] = field(default_factory=list)  # (where, raw text)

    def check(self, value: Any, dto: str, where: str) -> ShapeReport:
        self._dto(value, dto, where)
        return self

    def _dto(self, value: Any, dto: str, where: str) -> None:
        if not isinstance(value, dict):
            self.problems.append(f"{where}: {dto} should be a JSON object, got {type(value).__name__}")
            return
        self.seen.add(dto)
        for fld in reference.dtos()[dto]:
            path = f"{where}.{fld.name}"
            if fld.name not in value:
                self.problems.append(f"{path}: documented field {dto}.{fld.name} is missing")
                continue
            self._value(value[fld.name], fld, path, dto)

    def _value(self, value: Any, fld: reference.Field, where: str, owner: str) -> None:
        if value is None:  # the docs never say which fields are required
            return
        ref = reference.resolve_type(fld.type)
        if ref.dto is not None:
            if not ref.is_list:
                self._dto(value, ref.dto, where)
            elif not isinstance(value, list):
                self.problems.append(f"{where}: {owner}.{fld.name} is {fld.type}, got {type(value).__name__}")
            else:
                for i, item in enumerate(value):
                    self._dto(item, ref.dto, f"{where}[{i}]")
            return
        if not _PRIMITIVE_CHECKS[ref.primitive or ""](value):
            self.problems.append(
                f"{where}: {owner}.{fld.name} is documented as {fld.type}, got {type(value).__name__} {value!r:.60}"
            )
            return
        if fld.is_datetime:
            self.datetimes.append((where, value))
        allowed = fld.allowed_values
        if allowed is not None and value not in allowed:
            self.problems.append(
                f"{where}: {owner}.{fld.name} {value!r} is not one of the documented {sorted(allowed)}"
            )
        if fld.is_uuid:
            try:
                uuid.UUID(value)
            except ValueError:
                self.problems.append(f"{where}: {owner}.{fld.name} {value!r} is not a UUID")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_PRIMITIVE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "int": _is_int,
    "number": lambda v: _is_int(v) or isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    # PHP encodes an array as a JSON list, or as an object when it has string keys.
    "array": lambda v: isinstance(v, list | dict),
    "object": lambda v: isinstance(v, dict) or v == [],
}


def assert_shape(value: Any, dto: str, where: str) -> ShapeReport:
    report = ShapeReport().check(value, dto, where)
    assert not report.problems, f"{where} does not match the documented {dto}:\n  " + "\n  ".join(
        report.problems[:40]
    )
    return report


# -- date-times ----------------------------------------------------------------------------------


def parse_answer_datetime(raw: str) -> dt.datetime:
    """ISO 8601 with an offset, or the backend's `Y-m-d H:i:s` (zone not stated: taken as UTC)."""
    if _ISO_WITH_OFFSET.fullmatch(raw):
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if _PHP_DATETIME.fullmatch(raw):
        return dt.datetime.strptime(raw, PHP_FORMAT).replace(tzinfo=dt.UTC)
    raise ValueError(f"not ISO 8601 with an offset nor Y-m-d H:i:s: {raw!r}")


def has_offset(raw: str) -> bool:
    return _ISO_WITH_OFFSET.fullmatch(raw) is not None


def php(moment: dt.datetime) -> str:
    return moment.strftime(PHP_FORMAT)


# -- lists ---------------------------------------------------------------------------------------


def envelope(response: httpx.Response, what: str) -> tuple[dict[str, Any], list[Any]]:
    body = json_of(response, what)
    assert isinstance(body, dict), f"{what}: expected a {{meta, items}} object, got {type(body).__name__}"
    assert "meta" in body, f"{what}: no `meta` in {sorted(body)}"
    assert "items" in body, f"{what}: no `items` in {sorted(body)}"
    assert isinstance(body["items"], list), f"{what}: `items` is not an array"
    assert_shape(body["meta"], "MetaDataDTO", f"{what} meta")
    return body["meta"], body["items"]


def event_pages(
    client: httpx.Client, on_page: int = 100, **params: Any
) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    page = 1
    while True:
        meta, items = envelope(
            client.get(f"{API}/event/list", params={**params, "page": page, "onPage": on_page}),
            f"event list page {page}",
        )
        yield meta, items
        if page >= meta["pagesCount"] or not items:
            return
        page += 1
        assert page <= 1000, "event list never ends"


def all_events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    return [event for _, items in event_pages(client, **params) for event in items]


def bare_array(response: httpx.Response, what: str) -> list[Any]:
    body = json_of(response, what)
    assert isinstance(body, list), (
        f"{what}: the docs answer a bare array, got {type(body).__name__}: {body!r:.200}"
    )
    return body


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)


# -- what a client learns about the world -------------------------------------------------------


@dataclass
class WorldIds:
    """Ids a client learns from the API itself, to fill the documented paths."""

    events: list[dict[str, Any]]
    event_type_id: int
    tag_id: int
    user_id: int
    poll_id: int | None
    poll: dict[str, Any] | None = None

    def active_events(
        self, *, past: bool | None = None, now: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        uncancelled = [e for e in self.events if e["canceledAt"] is None and e["cancellation"] is None]
        # The docs name no states: the commonest state of uncancelled events is the plain, booked one
        # (this leaves out events already marked, e.g. as no-shows).
        plain = Counter(e["state"] for e in uncancelled).most_common(1)[0][0] if uncancelled else None
        chosen = [e for e in uncancelled if e["state"] == plain]
        if past is not None:
            assert now is not None
            chosen = [e for e in chosen if (parse_answer_datetime(e["scheduledAt"]) < now) == past]
        assert chosen, "the default world has no event fit for this test"
        return chosen


def learn_ids(client: httpx.Client) -> WorldIds:
    events = all_events(client)
    _, event_types = envelope(
        client.get(f"{API}/event-type/list", params={"page": 1, "onPage": 100}), "event types"
    )
    tags = bare_array(client.get(f"{API}/user-event-type-tag/list"), "user event type tags")
    user = client.get(f"{API}/user/current").json()
    polls = bare_array(client.get(f"{API}/poll/list"), "polls")
    assert events, "the default world has no events"
    assert event_types, "the default world has no event types"
    assert tags, "the default world has no user event type tags"
    return WorldIds(
        events=events,
        event_type_id=event_types[0]["id"],
        tag_id=tags[0]["id"],
        user_id=user["id"],
        poll_id=polls[0]["id"] if polls else None,
        poll=polls[0] if polls else None,
    )
