"""The SimplyMeet panel API client: `call` any endpoint of the table by name, over a sync httpx.Client.

A call names its endpoint (`client.call("event.get", path_params={"id": 7})`); `get_page` reads one
page of a list, and `syncd.api.paging` walks a list to its end (in parallel with
`iter_pages_concurrent`).

Retries live here and nowhere else: transient failures (5xx, 408, 409, 429, network errors, an
unreadable 2xx body) are retried (stamina's loop) after `syncd.retry`'s backoff, never sooner than
the server's `Retry-After`. Reads retry by default; writes do not, because a write whose answer was
lost is *in doubt*: it may have taken effect, and repeating it could cancel, invite or notify
twice. The write-back engine settles those by reading back, and passes `retry=True` only where a
repeat is harmless.

Every attempt, retries and concurrent page fetches included, first takes a slot from the client's
request-rate limit, so the account's budget is spent by one bucket, not one per thread.

Two failures say every other call would fail the same way: no connection at all (`ApiUnreachable`)
and a refused key (`ApiKeyRefused`, 401). `problem` names the latest one until an answer comes.
A one-shot command sets `unreachable_budget_s`: a call that cannot connect gives up after that
long, retries included, and once one call gave up on either, the next ones fail at once, unsent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import orjson
import stamina
import structlog

from syncd import __version__
from syncd.api.endpoints import Answer, Endpoint, resolve_paths
from syncd.api.errors import (
    MESSAGE_LIMIT,
    REDACTED,
    ApiAuthError,
    ApiClientError,
    ApiError,
    ApiKeyRefused,
    ApiNotFound,
    ApiTransientError,
    ApiUnreachable,
)
from syncd.api.paging import (
    DEFAULT_PAGE_CONCURRENCY,
    MAX_PAGE_CONCURRENCY,
    JsonObject,
    Page,
    PageMeta,
    check_concurrency,
)
from syncd.api.query import encode_query
from syncd.api.ratelimit import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT_PER_S, RequestRateLimit
from syncd.retry import Backoff, parse_retry_after

log = structlog.get_logger(__name__)

DEFAULT_USER_AGENT = f"syncd/{__version__}"
RETRY_AFTER_CAP_S = 60.0
# Between attempts (syncd.retry's one policy): 0.5 s, 1 s, 2 s ... up to 30 s, full jitter; a
# server's Retry-After is honoured up to a minute.
BACKOFF = Backoff(0.5, 30.0, jitter=1.0, retry_after_cap_s=RETRY_AFTER_CAP_S)

# (endpoint name, HTTP status or None for no answer, seconds, attempt number: 2 and up are retries)
OnResponse = Callable[[str, int | None, float, int], None]


class _ApiKeyAuth(httpx.Auth):
    """Adds X-API-KEY per request, so the key sits in no client-wide header map that could be printed."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({REDACTED})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-API-KEY"] = self._key
        yield request


@dataclass(frozen=True)
class PreparedCall:
    """A request built and checked, not sent: `ApiClient.prepare`, then `ApiClient.send_prepared`."""

    spec: Endpoint
    path: str
    request: httpx.Request = field(repr=False)


class ApiClient:
    """A SimplyMeet panel API session. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.BaseTransport | None = None,
        paths: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int = 5,
        user_agent: str = DEFAULT_USER_AGENT,
        on_response: OnResponse | None = None,
        rate_limit_per_s: float | RequestRateLimit | None = DEFAULT_RATE_LIMIT_PER_S,
        rate_burst: float = DEFAULT_RATE_BURST,
        page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
        unreachable_budget_s: float | None = None,
    ) -> None:
        """`rate_limit_per_s`: requests a second for every call of this client (None: no limit); pass a
        `RequestRateLimit` to share one bucket between clients of the same account. `rate_burst`: the
        bucket's size, requests that may go at once before the rate applies (ignored with a bucket given).
        `page_concurrency`: how many pages `paging.iter_pages_concurrent` reads at once by default.
        `on_response` is called from page-fetch threads too, so it must be thread-safe.
        `unreachable_budget_s`: for one-shot commands (see the module docstring); None, for the
        daemon, retries a failed connection like any transient failure, and every call tries.
        """
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, not {base_url!r}")
        if not api_key:
            raise ValueError("api_key is empty")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self.page_concurrency = check_concurrency(page_concurrency)
        self.rate_limit: RequestRateLimit | None = (
            rate_limit_per_s
            if rate_limit_per_s is None or isinstance(rate_limit_per_s, RequestRateLimit)
            else RequestRateLimit(rate_limit_per_s, burst=rate_burst)
        )
        self.endpoints: Mapping[str, Endpoint] = resolve_paths(paths)
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        if unreachable_budget_s is not None and unreachable_budget_s <= 0:
            raise ValueError(f"unreachable_budget_s must be positive, not {unreachable_budget_s}")
        self.unreachable_budget_s = unreachable_budget_s
        # Set from any thread; a plain attribute store is atomic, and a stale read only delays a message.
        self._problem: str | None = None
        self._gave_up: ApiUnreachable | ApiKeyRefused | None = None
        self._api_key = api_key
        self._on_response = on_response
        if not isinstance(timeout, httpx.Timeout):
            # httpx's default is 5 s of inactivity for everything; say what each phase may take.
            timeout = httpx.Timeout(connect=min(timeout, 10.0), read=timeout, write=timeout, pool=timeout)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=_ApiKeyAuth(api_key),
            headers={"Accept": "application/json", "User-Agent": user_agent},
            timeout=timeout,
            transport=transport,
            # Enough kept-alive connections for the most concurrent page reads (httpx.Client is thread-safe).
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=MAX_PAGE_CONCURRENCY),
            follow_redirects=False,  # a redirect would be a login page or a moved API, not an answer
        )

    def __repr__(self) -> str:
        return f"ApiClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    @property
    def gave_up(self) -> ApiUnreachable | ApiKeyRefused | None:
        """The failure a call last gave up on that every call would meet; None once an answer came."""
        return self._gave_up

    @property
    def problem(self) -> str | None:
        """Why no call can succeed now ("api unreachable: connection refused", "the API refused the
        key (HTTP 401)"), from the latest attempt; None once any other answer came back."""
        return self._problem

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reads syncd makes by hand

    def current_user(self) -> JsonObject:
        """The key's user: `syncd check` proves the key works with it."""
        return self._object(self.call("user.current"))

    # ------------------------------------------------------------------ lists

    def get_page(
        self, endpoint: str, params: Mapping[str, object] | None = None, page: int = 1, on_page: int = 100
    ) -> Page:
        """One page of a list endpoint, whichever shape it answers in."""
        spec = self.endpoints.get(endpoint)
        if spec is None or spec.answer not in (Answer.ENVELOPE, Answer.ARRAY):
            raise ValueError(f"{endpoint!r} is not a list endpoint")
        query = {**(params or {}), "page": page, "onPage": on_page}
        answer = self.call(endpoint, query=query)
        if isinstance(answer, dict) and "meta" in answer:
            meta_raw = answer["meta"]
            meta = PageMeta.from_json(meta_raw) if isinstance(meta_raw, dict) else None
            return Page(items=self._items(answer), meta=meta, page=page)
        return Page(items=self._items(answer), meta=None, page=page)

    # ------------------------------------------------------------------ the one way out

    def call(
        self,
        endpoint: str,
        *,
        path_params: Mapping[str, int | str] | None = None,
        query: Mapping[str, object] | None = None,
        body: object = None,
        retry: bool | None = None,
    ) -> Any:
        """Call an endpoint by name and return its decoded answer (None for empty-answer endpoints).

        `retry=None` means the endpoint's default: reads retry, writes do not.
        """
        prepared = self.prepare(endpoint, path_params=path_params, query=query, body=body)
        return self._run(prepared, retry=(not prepared.spec.write) if retry is None else retry)

    def send_prepared(self, prepared: PreparedCall) -> Any:
        """Send a prepared call once (no retry: a writer decides about repeating a write)."""
        return self._run(prepared, retry=False)

    def _run(self, prepared: PreparedCall, *, retry: bool) -> Any:
        gave_up = self._gave_up
        if gave_up is not None and self.unreachable_budget_s is not None:
            # Every call would fail the same way: fail now, without a request.
            raise _unsent_copy(gave_up, prepared.spec, self._redact(prepared.path))
        deadline = None if self.unreachable_budget_s is None else time.monotonic() + self.unreachable_budget_s
        try:
            if not retry:
                return self._send(prepared, attempt=1, deadline=deadline)
            return self._call_retrying(prepared, deadline)
        except (ApiUnreachable, ApiKeyRefused) as exc:
            self._gave_up = exc
            raise

    def _call_retrying(self, prepared: PreparedCall, deadline: float | None) -> Any:
        spec = prepared.spec
        attempt_no = 0

        def retry_on(exc: Exception) -> bool | float:
            if not isinstance(exc, ApiTransientError):
                return False
            wait = BACKOFF.delay_s(attempt_no, exc.retry_after)
            if isinstance(exc, ApiUnreachable) and deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0.1 or self._gave_up is not None:
                    return False  # out of budget, or another call found the API gone for good
                wait = min(wait, left)
            if attempt_no < self.max_attempts:
                # A failed connection says nothing new each time: the caller's line says it if it stays.
                level = log.debug if isinstance(exc, ApiUnreachable) else log.warning
                level(
                    "api.retry",
                    endpoint=spec.name,
                    method=spec.method,
                    path=spec.path,
                    attempt=attempt_no,
                    status=exc.status,
                    error=type(exc).__name__,
                    reason=exc.message,
                    retry_after=exc.retry_after,
                )
            return wait

        for attempt in stamina.retry_context(
            on=retry_on,
            attempts=self.max_attempts,
            timeout=None,  # bounded by attempts; each attempt by the httpx timeouts, each wait by the caps
        ):
            with attempt:
                attempt_no = attempt.num
                return self._send(prepared, attempt=attempt_no, deadline=deadline)
        raise AssertionError("unreachable: stamina re-raises the last error")

    def prepare(
        self,
        endpoint: str,
        *,
        path_params: Mapping[str, int | str] | None = None,
        query: Mapping[str, object] | None = None,
        body: object = None,
    ) -> PreparedCall:
        """Everything a call does before its request leaves: the path, the query, the encoded body.

        Raises ValueError or TypeError for what cannot become a request; nothing has been sent then,
        so a write that fails here is not in doubt (see `send_prepared`).
        """
        spec = self.endpoints.get(endpoint)
        if spec is None:
            raise ValueError(f"unknown endpoint {endpoint!r}")
        path = _fill(spec, path_params or {})
        pairs = encode_query(query) if query else None
        request = self._http.build_request(
            spec.method, path, params=tuple(pairs) if pairs else None, json=body
        )
        return PreparedCall(spec, path, request)

    def _send(self, prepared: PreparedCall, *, attempt: int, deadline: float | None = None) -> Any:
        spec, path, request = prepared.spec, prepared.path, prepared.request
        if deadline is not None:
            # A silent host must not hold a connect past the budget (httpx reads this per request).
            timeouts = self._http.timeout.as_dict()
            left = max(deadline - time.monotonic(), 0.1)
            connect = timeouts.get("connect")
            timeouts["connect"] = left if connect is None else min(connect, left)
            request.extensions["timeout"] = timeouts
        if self.rate_limit is not None:
            waited = self.rate_limit.acquire()
            if waited > 0.0:
                log.debug("api.rate_limited", endpoint=spec.name, waited_ms=round(waited * 1000, 1))
        started = time.perf_counter()
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            duration = time.perf_counter() - started
            self._observe(spec, None, duration, attempt, error=type(exc).__name__)
            error = self._transport_error(spec, path, exc)
            if isinstance(error, ApiUnreachable):
                self._problem = f"api unreachable: {error.reason}"
            raise error from exc
        duration = time.perf_counter() - started
        if response.status_code == 401:
            self._problem = f"the API refused the key (HTTP 401 on {spec.method} {spec.path})"
        else:
            self._problem = self._gave_up = None  # an answer: the API is there and takes the key
        self._observe(spec, response.status_code, duration, attempt)
        if response.is_success:
            return self._decode(spec, path, response)
        raise self._status_error(spec, path, response)

    def _observe(
        self, spec: Endpoint, status: int | None, duration: float, attempt: int, error: str | None = None
    ) -> None:
        log.debug(
            "api.request",
            endpoint=spec.name,
            method=spec.method,
            path=spec.path,
            status=status,
            duration_ms=round(duration * 1000, 1),
            attempt=attempt,
            **({"error": error} if error else {}),
        )
        if self._on_response is not None:
            try:
                self._on_response(spec.name, status, duration, attempt)
            except Exception as exc:  # a metrics hook must not turn a settled call into a failed one
                log.warning("api.on_response_failed", endpoint=spec.name, error=type(exc).__name__)

    # ------------------------------------------------------------------ answers and errors

    def _decode(self, spec: Endpoint, path: str, response: httpx.Response) -> Any:
        if spec.answer is Answer.EMPTY:
            return None  # the docs promise an empty body; whatever comes is not ours to read
        try:
            data = orjson.loads(response.content)  # pages are ~1 MB: the stdlib's decoder is the bottleneck
        except ValueError:
            raise self._error(
                ApiTransientError,
                spec,
                path,
                response.status_code,
                f"answer is not valid JSON: {_excerpt(self._redact(response.text)) or '(empty body)'}",
            ) from None
        if spec.answer is Answer.OBJECT and not isinstance(data, dict):
            raise self._error(
                ApiTransientError,
                spec,
                path,
                response.status_code,
                f"expected a JSON object, got {_kind(data)}",
            )
        if spec.answer in (Answer.ENVELOPE, Answer.ARRAY):
            # Either shape may come from either kind of list endpoint; the items must be objects.
            items = data.get("items") if isinstance(data, dict) else data
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                shape = "an object without an items list" if isinstance(data, dict) else _kind(data)
                raise self._error(
                    ApiTransientError,
                    spec,
                    path,
                    response.status_code,
                    f"expected a list of objects, got {shape}",
                )
        return data

    def _status_error(self, spec: Endpoint, path: str, response: httpx.Response) -> ApiError:
        status = response.status_code
        message = _error_message(response, self._redact)
        if status == 401:
            return self._error(ApiKeyRefused, spec, path, status, message)
        if status == 403:
            # The key is known but not allowed this (a plan or a permission): other calls may work.
            return self._error(ApiAuthError, spec, path, status, message)
        if status == 404:
            return self._error(ApiNotFound, spec, path, status, message)
        if status in (408, 429):
            # The server says it did not act on the request.
            retry_after = parse_retry_after(response.headers.get("Retry-After"), cap_s=RETRY_AFTER_CAP_S)
            return self._transient(spec, path, status, message, in_doubt=False, retry_after=retry_after)
        if status == 409:
            # Undocumented; read as "conflicting concurrent change, try again", which a repeat can clear.
            return self._transient(spec, path, status, message, in_doubt=False, retry_after=None)
        if 400 <= status < 500:
            return self._error(ApiClientError, spec, path, status, message)
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), cap_s=RETRY_AFTER_CAP_S)
            return self._transient(spec, path, status, message, in_doubt=True, retry_after=retry_after)
        # 1xx/3xx: a redirect to a login page or a moved API; nothing a retry fixes.
        location = response.headers.get("Location")
        return self._error(ApiError, spec, path, status, f"unexpected answer; Location: {location}")

    def _transport_error(self, spec: Endpoint, path: str, exc: httpx.TransportError) -> ApiError:
        message = f"{type(exc).__name__}: {_excerpt(self._redact(str(exc))) or 'no detail'}"
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
            return self._error(ApiError, spec, path, None, message)  # our own mistake; a retry repeats it
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            # Refused, no such host, TLS refused, or no answer to the connect: nothing was sent.
            reason = _unreachable_reason(exc)
            return ApiUnreachable(reason, self._redact(message), spec.name, spec.method, self._redact(path))
        # Never connected: the request never left, so even a write is not in doubt.
        never_sent = isinstance(exc, httpx.PoolTimeout)
        return self._transient(spec, path, None, message, in_doubt=not never_sent, retry_after=None)

    def _transient(
        self,
        spec: Endpoint,
        path: str,
        status: int | None,
        message: str,
        *,
        in_doubt: bool,
        retry_after: float | None,
    ) -> ApiTransientError:
        return ApiTransientError(
            status,
            self._redact(message),
            spec.name,
            spec.method,
            self._redact(path),
            in_doubt=in_doubt and spec.write,
            retry_after=retry_after,
        )

    def _error(
        self, cls: type[ApiError], spec: Endpoint, path: str, status: int | None, message: str
    ) -> ApiError:
        # A 2xx that cannot be read after a write: it happened, but we cannot tell what it returned.
        in_doubt = spec.write and status is not None and 200 <= status < 300
        return cls(
            status, self._redact(message), spec.name, spec.method, self._redact(path), in_doubt=in_doubt
        )

    def _redact(self, text: str) -> str:
        # An error page may echo request headers; the key must not travel on in a message.
        return text.replace(self._api_key, REDACTED)

    def _object(self, data: Any) -> JsonObject:
        assert isinstance(data, dict), "_decode checks OBJECT answers"
        return data

    def _items(self, data: Any) -> list[JsonObject]:
        """The items of a list answer, bare array or `{meta, items}` envelope alike (`_decode` checked them)."""
        items = data["items"] if isinstance(data, dict) else data
        assert isinstance(items, list)
        return items


def _unreachable_reason(exc: httpx.TransportError) -> str:
    """The cause in a few words ("connection refused", "name or service not known", "TLS: certificate
    verify failed: ..."), without errno numbers or OpenSSL source positions."""
    if isinstance(exc, httpx.ConnectTimeout):
        return "no answer to the connect (timed out)"
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(str(exc).split()))
    text = re.sub(r"^\[SSL: [A-Z_]+\]\s*", "TLS: ", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)
    text = _excerpt(text)
    if text[1:2].islower():  # "Connection refused" reads as part of a sentence; "TLS" stays
        text = text[:1].lower() + text[1:]
    return text or "connection failed"


def _unsent_copy(gave_up: ApiUnreachable | ApiKeyRefused, spec: Endpoint, path: str) -> ApiError:
    """The failure `gave_up` again, for a call to `spec` that was not sent because of it."""
    if isinstance(gave_up, ApiUnreachable):
        return ApiUnreachable(gave_up.reason, gave_up.message, spec.name, spec.method, path)
    return ApiKeyRefused(gave_up.status, gave_up.message, spec.name, spec.method, path)


def _fill(spec: Endpoint, params: Mapping[str, int | str]) -> str:
    given, wanted = set(params), set(spec.placeholders)
    if given != wanted:
        raise ValueError(
            f"endpoint {spec.name!r} takes path parameters {sorted(wanted)}, got {sorted(given)}"
        )
    for name, value in params.items():
        if isinstance(value, bool) or (isinstance(value, int) and value < 1):
            raise ValueError(f"endpoint {spec.name!r}: {name}={value!r} is not a valid id")
    return spec.path.format_map({name: quote(str(value), safe="") for name, value in params.items()})


def _error_message(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """The reason a failed answer gives: a JSON `message` or `error`, else the start of the body.

    Redacted before it is cut short: a key cut in half would no longer match the redaction.
    """
    try:
        data = json.loads(response.content)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message", value)
            if isinstance(value, str):
                if value.strip():
                    return _excerpt(redact(value))
            elif value is not None and not isinstance(value, bool):
                return _excerpt(redact(json.dumps(value, ensure_ascii=False)))
    return _excerpt(redact(response.text)) or response.reason_phrase or "(empty body)"


def _excerpt(text: str) -> str:
    """At most MESSAGE_LIMIT characters on one line (CR/LF would forge log lines)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"


def _kind(data: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(data), type(data).__name__
    )
