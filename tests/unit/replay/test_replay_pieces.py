"""The replay engine's pure parts: the API dispatcher's retry decision and read-back checks, backoff,
batch keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from syncd.api import ApiClient
from syncd.api.dispatcher import ApiDispatcher
from syncd.api.errors import ApiAuthError, ApiClientError, ApiError, ApiNotFound, ApiTransientError
from syncd.intent_queue import ClaimedIntent
from syncd.replay import ReplayOptions, backoff_s, batch_key

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _intent(kind: str, payload: dict[str, Any] | None = None, **extra: Any) -> ClaimedIntent:
    values: dict[str, Any] = {
        "id": 1,
        "kind": kind,
        "event_id": 7,
        "payload": payload or {},
        "expected_updated_at": None,
        "attempts": 0,
        "sent_at": None,
        "created_at": NOW,
        "age_s": 0.0,
        "last_error": None,
        **extra,
    }
    return ClaimedIntent(**values)


def _error(cls: type[ApiError], status: int | None, **kwargs: Any) -> ApiError:
    return cls(status, "msg", "event.cancel", "PUT", "/panel/api/event/cancel/7", **kwargs)


@pytest.mark.parametrize(
    ("error", "kind", "outcome"),
    [
        (None, "cancel", "succeeded"),
        (_error(ApiClientError, 400), "cancel", "rejected"),
        (_error(ApiNotFound, 404), "notes", "rejected"),
        (_error(ApiNotFound, 404), "delete", "succeeded"),
        (_error(ApiTransientError, 503, in_doubt=True), "cancel", "in_doubt"),
        (_error(ApiTransientError, 429, in_doubt=False), "cancel", "transient"),
        (_error(ApiTransientError, None, in_doubt=False), "cancel", "transient"),
        (_error(ApiTransientError, None, in_doubt=True), "invite", "in_doubt"),
        (_error(ApiAuthError, 401), "cancel", "transient"),
        (RuntimeError("boom"), "invite", "in_doubt"),
    ],
)
def test_decide(writes: ApiDispatcher, error: BaseException | None, kind: str, outcome: str) -> None:
    assert writes.decide(kind, error).outcome == outcome


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    options = ReplayOptions(backoff_base_s=1.0, backoff_cap_s=8.0)
    samples = [backoff_s(options, 10) for _ in range(200)]
    assert all(0.0 <= s <= 8.0 for s in samples)
    assert max(samples) > 4.0
    assert all(backoff_s(options, 1) <= 1.0 for _ in range(50))
    assert backoff_s(options, 1, retry_after=5.0) == 5.0
    assert backoff_s(options, 1, retry_after=30.0) == 8.0  # Retry-After honoured up to the cap


def test_batch_key() -> None:
    assert batch_key(_intent("cancel", {"reason": "x"})) == ("cancel", "x")
    assert batch_key(_intent("no_show")) == ("no_show", None)
    assert batch_key(_intent("notes", {"notes": "x"})) is None
    assert batch_key(_intent("cancel", sent_at=NOW)) is None
    assert batch_key(_intent("cancel", expected_updated_at=NOW)) is None


@pytest.fixture
def writes() -> ApiDispatcher:
    client = ApiClient("http://x", "k" * 20, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    return ApiDispatcher(client, "Europe/Berlin")


def test_start_and_end_are_sent_in_the_configured_zone(writes: ApiDispatcher) -> None:
    assert writes.api_datetime("2026-07-01T10:00:00Z") == "2026-07-01 12:00:00"
    assert writes.api_datetime("2026-07-01 10:00:00") == "2026-07-01 10:00:00"
    with pytest.raises(ValueError, match="not a date-time"):
        writes.api_datetime("tomorrow")


def test_read_back_checks(writes: ApiDispatcher) -> None:
    reschedule = _intent("reschedule", {"start": "2026-07-01 10:00:00", "end": "2026-07-01 10:30:00"})
    moved = {"scheduledAt": "2026-07-01T08:00:00+00:00", "endDate": "2026-07-01T10:30:00+02:00"}
    assert writes.applied(reschedule, moved) is True
    assert writes.applied(reschedule, {**moved, "endDate": "2026-07-01T10:30:00+00:00"}) is False
    invite = _intent("invite", {"emails": ["A@x.com", "b@x.com"]})
    assert writes.applied(invite, {"participants": [{"email": "a@X.com"}, {"email": "b@x.com"}]}) is True
    assert writes.applied(invite, {"participants": [{"email": "a@x.com"}]}) is False
    assert writes.applied(_intent("notes", {"notes": "n"}), {"notes": "n"}) is True
    assert writes.applied(_intent("notes", {"notes": "n"}), None) is False
    assert writes.applied(_intent("cancel"), {"state": "canceled"}) is True
    assert writes.applied(_intent("no_show"), {"state": "active"}) is False
    assert writes.applied(_intent("delete"), None) is True
    assert writes.applied(_intent("resend_notification"), {}) is None


def test_the_audit_request_names_method_path_and_body_never_the_key(writes: ApiDispatcher) -> None:
    write = writes.single(_intent("invite", {"emails": ["a@x.com"]}), lambda: None)
    assert write.audit == {
        "method": "POST",
        "path": "/panel/api/event/invite-participants/7",
        "body": {"emails": ["a@x.com"]},
    }
    assert "k" * 20 not in str(write.audit)
