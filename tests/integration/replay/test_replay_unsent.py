"""A request that cannot be built never left syncd: its intent ends `rejected` at once, not in doubt."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from syncd.api import ApiClient, PreparedCall
from syncd.api.dispatcher import ApiDispatcher
from syncd.sandbox import Sandbox
from tests.integration.replay.conftest import Replay, active_events, attempts, enqueue, intent

pytestmark = pytest.mark.integration

RESCHEDULE = {"start": "2031-12-01 10:00:00", "end": "2031-12-01 10:30:00"}


@pytest.mark.parametrize(
    "payload",
    [{**RESCHEDULE, "eventTypeId": 1}, RESCHEDULE],
    ids=["built-at-the-claim", "built-after-looking-up-the-event-type"],
)
def test_a_request_that_cannot_be_built_is_rejected_on_the_first_attempt(
    sb: Sandbox,
    engine: Engine,
    client: ApiClient,
    replay: Replay,
    monkeypatch: pytest.MonkeyPatch,
    payload: dict[str, Any],
) -> None:
    prepare = client.prepare

    def refuse_reschedules(endpoint: str, **kwargs: Any) -> PreparedCall:
        # The seam: building this request fails (as converting year 1 to another zone once did).
        if endpoint == "event.reschedule":
            raise OverflowError("date value out of range")
        return prepare(endpoint, **kwargs)

    monkeypatch.setattr(client, "prepare", refuse_reschedules)
    event_id = active_events(sb)[0]
    moved = enqueue(engine, "reschedule", event_id, payload)
    noted = enqueue(engine, "notes", event_id, {"notes": "after the failed move"})
    sb.calls.clear()

    summary = replay()

    row = intent(engine, moved)
    assert (row["status"], row["failure_reason"]) == ("failed", "rejected")
    assert row["last_error"] == "request not sent: OverflowError: date value out of range"
    assert row["sent_at"] is None  # never in doubt: nothing to read back
    [attempt] = attempts(engine, moved)
    assert (attempt["attempt"], attempt["outcome"], attempt["status_code"]) == (1, "rejected", None)
    assert not [c for c in sb.calls if "reschedule" in c.path]  # zero requests for it reached the API
    # The event's next intent does not wait behind it: it went out in the same pass.
    assert intent(engine, noted)["status"] == "succeeded"
    assert summary.failed == [moved]
    assert summary.succeeded == [noted]
    assert sb.world.event_dto(event_id)["notes"] == "after the failed move"


def test_a_date_the_api_format_cannot_write_is_refused_before_sending(client: ApiClient) -> None:
    """Year 1 (refused at the INSERT since 0008) would be written "1-01-01 ...": the build refuses it."""
    writes = ApiDispatcher(client)
    assert writes.api_datetime("2100-12-31T23:59:59-14:59") == "2101-01-01 14:58:59"
    with pytest.raises(ValueError, match="cannot be written as the API's Y-m-d H:i:s"):
        writes.api_datetime("0001-01-01 10:00:00")
