"""The replay engine's `Dispatcher` over the API client: an intent becomes a request through its kind's
declaration (`syncd.intent_kinds`: endpoint, body, read-back check), the endpoint table and the
client's one `call` (`prepare`, then `send_prepared`); API errors become decisions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any

from syncd.api.client import ApiClient, PreparedCall
from syncd.api.dates import format_api_datetime, parse_api_datetime
from syncd.api.errors import ApiAuthError, ApiError, ApiNotFound, ApiTransientError
from syncd.api.paging import JsonObject, iter_pages
from syncd.dispatch import Decision, ReadFailed, Request
from syncd.intent_kinds import INTENT_KINDS, IntentKind
from syncd.intent_queue import ClaimedIntent
from syncd.logs import redactor

_API_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


class ApiDispatcher:
    """`zone`: the time zone of the API's `Y-m-d H:i:s` request date-times."""

    def __init__(self, client: ApiClient, zone: str = "UTC") -> None:
        self.client = client
        self.zone = zone
        parse_api_datetime("2000-01-01 00:00:00", zone)  # an unknown zone fails here, not mid-pass

    def _request(self, endpoint: str, body: dict[str, Any] | None, event_id: int | None = None) -> Request:
        """Build (and encode) the request now, send it later: an error here means nothing left syncd."""
        prepared = self.client.prepare(
            endpoint, path_params={"id": event_id} if event_id is not None else None, body=body
        )
        return Request(prepared.spec.method, prepared.path, body, lambda: self._send(prepared))

    def _send(self, prepared: PreparedCall) -> None:
        self.client.send_prepared(prepared)

    def single(self, intent: ClaimedIntent, event_type_id: Callable[[], int | None]) -> Request:
        kind = _declared(intent.kind)
        return self._request(kind.endpoint, kind.body(intent.payload, self, event_type_id), intent.event_id)

    def batch(self, kind: str, intents: Sequence[ClaimedIntent]) -> Request:
        declared = _declared(kind)
        if declared.list_endpoint is None:
            raise ValueError(f"{kind} has no list endpoint")
        body = declared.list_body([intent.event_id for intent in intents], intents[0].payload)
        return self._request(declared.list_endpoint, body)

    def decide(self, kind: str, error: BaseException | None) -> Decision:
        """2xx succeeded; 4xx (but 408/409/429) rejected; 5xx, 408, 409, 429, 401/403 and network
        errors before the request left transient; a call that may have been applied in doubt."""
        if error is None:
            return Decision("succeeded", 200)
        if not isinstance(error, ApiError):
            # A bug or an interrupted call: we cannot know whether the request left.
            return Decision("in_doubt", None, redactor.redact(f"{type(error).__name__}: {error}"))
        retry_after = error.retry_after if isinstance(error, ApiTransientError) else None
        if error.in_doubt:
            return Decision("in_doubt", error.status, error.message, retry_after)
        if isinstance(error, ApiTransientError | ApiAuthError):
            # 401/403 too: a key being fixed should not cost every queued decision.
            return Decision("transient", error.status, error.message, retry_after)
        if isinstance(error, ApiNotFound) and _declared(kind).deletes:
            return Decision("succeeded", error.status, "already gone")
        return Decision("rejected", error.status, error.message)

    def read_request(self, event_id: int) -> dict[str, Any]:
        spec = self.client.endpoints["event.get"]
        return {"method": spec.method, "path": spec.path.format(id=event_id), "body": None}

    def read(self, event_id: int) -> JsonObject | None:
        """Reads retry on their own; a read that still fails raises ReadFailed."""
        try:
            found = self.client.call("event.get", path_params={"id": event_id})
        except ApiNotFound:
            return None
        except ApiError as exc:
            raise ReadFailed(exc.message, status=exc.status, retryable=exc.retryable) from exc
        if not isinstance(found, dict):
            raise ReadFailed("event.get: the answer is not an object", status=200, retryable=True)
        return found

    def read_many(self, event_ids: Sequence[int]) -> dict[int, JsonObject]:
        found: dict[int, JsonObject] = {}
        try:
            for page in iter_pages(self.client, "event.list", {"filter": {"ids": list(event_ids)}}, 100):
                found.update({item["id"]: item for item in page.items if isinstance(item.get("id"), int)})
        except ApiError as exc:
            raise ReadFailed(exc.message, status=exc.status, retryable=exc.retryable) from exc
        return found

    def api_datetime(self, value: Any) -> str:
        """`Y-m-d H:i:s` or ISO 8601 with an offset, as the API's `Y-m-d H:i:s` in the configured zone."""
        if not isinstance(value, str):
            raise ValueError(f"expected a date-time string, got {type(value).__name__}")
        text = format_api_datetime(parse_api_datetime(value, self.zone), self.zone)
        if not _API_DATETIME.fullmatch(text):  # strftime writes year 1 as "1", not "0001"
            raise ValueError(f"{value!r} cannot be written as the API's Y-m-d H:i:s (got {text!r})")
        return text

    def updated_at(self, event: JsonObject) -> dt.datetime | None:
        try:
            return parse_api_datetime(str(event.get("updatedAt")), self.zone)
        except ValueError:
            return None

    def same_instant(self, payload_value: Any, answered: Any) -> bool:
        wanted = parse_api_datetime(self.api_datetime(payload_value), self.zone)
        return wanted == parse_api_datetime(str(answered))

    def applied(self, intent: ClaimedIntent, event: JsonObject | None) -> bool | None:
        return _declared(intent.kind).applied(intent.payload, event, self)


def _declared(kind: str) -> IntentKind:
    declared = INTENT_KINDS.get(kind)
    if declared is None:
        raise ValueError(f"unknown kind {kind!r}")
    return declared
