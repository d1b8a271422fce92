"""What the replay engine needs of the API, as a contract: `Dispatcher`, and the values it hands back.

`syncd.api.dispatcher.ApiDispatcher` is the one implementation: each intent becomes a request through
the endpoint table and the API client's one `call`. Tests of the loop use a scripted one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from syncd.intent_queue import ClaimedIntent, JsonObject

Outcome = Literal["succeeded", "rejected", "transient", "in_doubt"]


@dataclass(frozen=True)
class Request:
    """One API call, built (and encoded) but not sent: what it is, for the audit trail (never with the
    key), and how to send it. Building it is where a payload the API could not take fails, unsent."""

    method: str
    path: str
    body: Mapping[str, Any] | None
    send: Callable[[], None] = field(repr=False, compare=False)

    @property
    def audit(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body}


@dataclass(frozen=True)
class Decision:
    """What an answer (or its absence) means for the intents of a call."""

    outcome: Outcome
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None


class ReadFailed(Exception):
    """Reading an event back failed; nothing was written. `retryable`: worth trying again later."""

    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.message, self.status, self.retryable = message, status, retryable


class Dispatcher(Protocol):
    def single(self, intent: ClaimedIntent, event_type_id: Callable[[], int | None]) -> Request:
        """The call for one intent; raises ReadFailed when a read it needed failed, anything else
        when the payload cannot be sent (then nothing left syncd)."""
        ...

    def batch(self, kind: str, intents: Sequence[ClaimedIntent]) -> Request:
        """One list call for intents that share a batch key."""
        ...

    def decide(self, kind: str, error: BaseException | None) -> Decision:
        """What the call's answer means: None is a 2xx."""
        ...

    def read(self, event_id: int) -> JsonObject | None:
        """The event as the API has it now; None when it does not exist. Raises ReadFailed."""
        ...

    def read_many(self, event_ids: Sequence[int]) -> dict[int, JsonObject]:
        """Events by id, in as few calls as the API allows. Raises ReadFailed."""
        ...

    def read_request(self, event_id: int) -> dict[str, Any]:
        """The audit record of `read(event_id)`."""
        ...

    def applied(self, intent: ClaimedIntent, event: JsonObject | None) -> bool | None:
        """Whether the event read back shows the intent's effect; None when no read can tell."""
        ...

    def updated_at(self, event: JsonObject) -> dt.datetime | None:
        """The event's `updatedAt` (the conflict guard compares it); None when unreadable."""
        ...
