"""What can go wrong talking to the API, sorted by what the caller should do about it.

- `ApiTransientError`: try again later (5xx, 408, 409, 429, network trouble, an unreadable 2xx body).
  `ApiUnreachable`, one of them, says no connection could be made at all (refused, DNS, TLS, connect
  timeout): every other call fails the same way until the network or the URL is fixed.
- `ApiAuthError`, `ApiNotFound`, `ApiClientError`, `ApiPagingError`: retrying will not help.
  `ApiKeyRefused` (401), one of them, says the key itself is refused: every other call fails too.

`in_doubt` tells a writer whether the request may have taken effect although no usable answer came
back: a write that failed in doubt must be settled by reading the object back, not by repeating it.
"""

from __future__ import annotations

REDACTED = "[REDACTED]"
MESSAGE_LIMIT = 200


class ApiError(Exception):
    """A failed API call. Messages never carry the API key (the client redacts them)."""

    retryable = False

    def __init__(
        self,
        status: int | None,
        message: str,
        endpoint: str,
        method: str,
        path: str,
        *,
        in_doubt: bool = False,
    ) -> None:
        self.status = status
        self.message = message
        self.endpoint = endpoint
        self.method = method
        self.path = path
        self.in_doubt = in_doubt
        super().__init__(str(self))

    def __str__(self) -> str:
        answered = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.method} {self.path} ({self.endpoint}): {answered}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"endpoint={self.endpoint!r}, method={self.method!r}, path={self.path!r}, "
            f"in_doubt={self.in_doubt!r})"
        )


class ApiAuthError(ApiError):
    """401/403: the key is wrong, revoked, or lacks the plan or permission."""


class ApiKeyRefused(ApiAuthError):
    """401, the API's answer to a missing or wrong key: no call with this key can succeed."""


class ApiNotFound(ApiError):
    """404: no such object (or no such path: an inferred path may be wrong)."""


class ApiClientError(ApiError):
    """Any other 4xx: the request itself is wrong and would fail again unchanged."""


class ApiPagingError(ApiError):
    """A list answered in a way that cannot be paged to an end (a repeated page, too many pages)."""


class ApiTransientError(ApiError):
    """The call may succeed if repeated later."""

    retryable = True

    def __init__(
        self,
        status: int | None,
        message: str,
        endpoint: str,
        method: str,
        path: str,
        *,
        in_doubt: bool = True,
        retry_after: float | None = None,
    ) -> None:
        # Seconds the server asked us to wait (already capped), or None.
        self.retry_after = retry_after
        super().__init__(status, message, endpoint, method, path, in_doubt=in_doubt)


class ApiUnreachable(ApiTransientError):
    """No connection to the API could be made: refused, DNS or TLS failure, connect timeout.

    The request never left, so even a write is not in doubt. `reason` is the short cause
    ("connection refused", "name or service not known", ...) for a one-line message.
    """

    def __init__(self, reason: str, message: str, endpoint: str, method: str, path: str) -> None:
        self.reason = reason
        super().__init__(None, message, endpoint, method, path, in_doubt=False)
