"""The SimplyMeet panel API client: one method per endpoint, over a sync httpx.Client.

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

import contextvars
import datetime as dt
import json
import re
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self
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
    ApiPagingError,
    ApiTransientError,
    ApiUnreachable,
)
from syncd.api.paging import JsonObject, Page, PageMeta, PageWalker, PagingLoop
from syncd.api.query import encode_query
from syncd.api.ratelimit import DEFAULT_RATE_LIMIT_PER_S, RequestRateLimit
from syncd.retry import Backoff, parse_retry_after

log = structlog.get_logger(__name__)

DEFAULT_USER_AGENT = f"syncd/{__version__}"
RETRY_AFTER_CAP_S = 60.0
# Between attempts (syncd.retry's one policy): 0.5 s, 1 s, 2 s ... up to 30 s, full jitter; a
# server's Retry-After is honoured up to a minute.
BACKOFF = Backoff(0.5, 30.0, jitter=1.0, retry_after_cap_s=RETRY_AFTER_CAP_S)
DEFAULT_PAGE_CONCURRENCY = 4
# More parallel page reads than this would hammer the account, not speed a sync up.
MAX_PAGE_CONCURRENCY = 32

# (endpoint name, HTTP status or None for no answer, seconds, attempt number: 2 and up are retries)
OnResponse = Callable[[str, int | None, float, int], None]
CancellationPolicyKind = Literal["organization", "user"]
OrderDirection = Literal["asc", "desc"]
_REQUEST_DATETIME = "%Y-%m-%d %H:%M:%S"


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
        page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
        unreachable_budget_s: float | None = None,
    ) -> None:
        """`rate_limit_per_s`: requests a second for every call of this client (None: no limit); pass a
        `RequestRateLimit` to share one bucket between clients of the same account.
        `page_concurrency`: how many pages `iter_pages_concurrent` reads at once by default.
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
        self.page_concurrency = _check_concurrency(page_concurrency)
        self.rate_limit: RequestRateLimit | None = (
            rate_limit_per_s
            if rate_limit_per_s is None or isinstance(rate_limit_per_s, RequestRateLimit)
            else RequestRateLimit(rate_limit_per_s)
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

    # ------------------------------------------------------------------ events

    def list_events(
        self,
        *,
        page: int = 1,
        on_page: int = 100,
        order_field: str | None = None,
        order_direction: OrderDirection | None = None,
        filters: Mapping[str, object] | None = None,
    ) -> Page:
        """One page of `GET event/list`; `filters` is GetEventListFilterDTO (`{"eventTypeList": [5, 9]}`)."""
        return self.get_page("event.list", _list_params(order_field, order_direction, filters), page, on_page)

    def get_event(self, event_id: int) -> JsonObject:
        return self._object(self.call("event.get", path_params={"id": event_id}))

    def create_event(self, body: Mapping[str, Any], *, retry: bool = False) -> JsonObject:
        """CreateEventRequestDTO in, EventDTO out."""
        return self._object(self.call("event.create", body=dict(body), retry=retry))

    def edit_event(self, event_id: int, body: Mapping[str, Any], *, retry: bool = False) -> None:
        """EditEventRequestDTO (invitee, answers)."""
        self.call("event.edit", path_params={"id": event_id}, body=dict(body), retry=retry)

    def cancel_event(self, event_id: int, reason: str | None = None, *, retry: bool = False) -> None:
        self.call("event.cancel", path_params={"id": event_id}, body=_drop_none(reason=reason), retry=retry)

    def cancel_list(self, ids: Sequence[int], reason: str | None = None, *, retry: bool = False) -> None:
        self.call("event.cancel_list", body=_drop_none(ids=list(ids), reason=reason), retry=retry)

    def reschedule_event(
        self,
        event_id: int,
        start: str,
        end: str,
        event_type_id: int | None = None,
        user_id: int | None = None,
        *,
        retry: bool = False,
    ) -> None:
        """Move an event; `start`/`end` are `Y-m-d H:i:s` (the zone is not documented)."""
        body = _drop_none(
            start=_request_datetime("start", start),
            end=_request_datetime("end", end),
            eventTypeId=event_type_id,
            userId=user_id,
        )
        self.call("event.reschedule", path_params={"id": event_id}, body=body, retry=retry)

    def edit_notes(self, event_id: int, notes: str, *, retry: bool = False) -> None:
        self.call("event.notes", path_params={"id": event_id}, body={"notes": notes}, retry=retry)

    def invite_participants(
        self, event_id: int, emails: Sequence[str], message: str | None = None, *, retry: bool = False
    ) -> None:
        if isinstance(emails, str):
            raise TypeError("emails must be a sequence of addresses, not one string")
        body = _drop_none(emails=list(emails), message=message)
        self.call("event.invite", path_params={"id": event_id}, body=body, retry=retry)

    def no_show(self, event_id: int, *, retry: bool = False) -> None:
        self.call("event.no_show", path_params={"id": event_id}, retry=retry)

    def no_show_list(self, ids: Sequence[int], *, retry: bool = False) -> None:
        self.call("event.no_show_list", body={"ids": list(ids)}, retry=retry)

    def delete_event(self, event_id: int, *, retry: bool = False) -> None:
        self.call("event.delete", path_params={"id": event_id}, retry=retry)

    def delete_list(self, ids: Sequence[int], *, retry: bool = False) -> None:
        """DELETE with a JSON body `{ids}`, as the docs have it."""
        self.call("event.delete_list", body={"ids": list(ids)}, retry=retry)

    def resend_notification(self, event_id: int, *, retry: bool = False) -> None:
        self.call("event.resend_notification", path_params={"id": event_id}, retry=retry)

    # ------------------------------------------------------------------ event types

    def list_event_types(
        self,
        *,
        page: int = 1,
        on_page: int = 100,
        order_field: str | None = None,
        order_direction: OrderDirection | None = None,
        filters: Mapping[str, object] | None = None,
    ) -> Page:
        """One page of `GET event-type/list`; `filters` is GetEventTypeListFilterDTO."""
        params = _list_params(order_field, order_direction, filters)
        return self.get_page("event_type.list", params, page, on_page)

    def get_event_type(self, event_type_id: int) -> JsonObject:
        return self._object(self.call("event_type.get", path_params={"id": event_type_id}))

    def event_type_availability(
        self,
        event_type_id: int,
        start_date: str | dt.date,
        end_date: str | dt.date,
        timezone: str | None = None,
        duration_id: int | None = None,
        user_id: int | None = None,
    ) -> list[JsonObject]:
        """EventTypeAvailabilityDTO[] for the dates from `start_date` to `end_date` (`Y-m-d`)."""
        query = _drop_none(
            startDate=start_date, endDate=end_date, timezone=timezone, durationId=duration_id, userId=user_id
        )
        answer = self.call("event_type.availability", path_params={"id": event_type_id}, query=query)
        return self._items(answer)

    def event_type_tags(self, event_type_id: int) -> list[JsonObject]:
        answer = self.call("event_type.tags", path_params={"eventTypeId": event_type_id})
        return self._items(answer)

    def add_event_type_tag(self, event_type_id: int, tag_id: int, *, retry: bool = False) -> None:
        self.call(
            "event_type.tag_add", path_params={"eventTypeId": event_type_id, "tagId": tag_id}, retry=retry
        )

    def remove_event_type_tag(self, event_type_id: int, tag_id: int, *, retry: bool = False) -> None:
        params = {"eventTypeId": event_type_id, "tagId": tag_id}
        self.call("event_type.tag_remove", path_params=params, retry=retry)

    def create_single_use_link(self, event_type_id: int, *, retry: bool = False) -> JsonObject:
        """`{code, url}` of a new single-use booking link."""
        return self._object(
            self.call("event_type.single_use_link", path_params={"id": event_type_id}, retry=retry)
        )

    # ------------------------------------------------------------------ polls

    def list_polls(
        self,
        *,
        page: int = 1,
        on_page: int = 100,
        order_field: str | None = None,
        order_direction: OrderDirection | None = None,
    ) -> Page:
        """One page of `GET poll/list` (a bare array in the docs)."""
        return self.get_page("poll.list", _list_params(order_field, order_direction, None), page, on_page)

    def get_poll(self, poll_id: int) -> JsonObject:
        return self._object(self.call("poll.get", path_params={"id": poll_id}))

    def create_poll(self, body: Mapping[str, Any], *, retry: bool = False) -> JsonObject:
        """PollRequestDTO in, PollDTO out."""
        return self._object(self.call("poll.create", body=dict(body), retry=retry))

    def delete_poll(self, poll_id: int, *, retry: bool = False) -> None:
        self.call("poll.delete", path_params={"id": poll_id}, retry=retry)

    def create_poll_result(self, body: Mapping[str, Any], *, retry: bool = False) -> None:
        """PollResultRequestDTO: `{uuid, availability, email, comment}`."""
        self.call("poll.result", body=dict(body), retry=retry)

    # ------------------------------------------------------------------ users and tags

    def current_user(self) -> JsonObject:
        return self._object(self.call("user.current"))

    def list_users(self) -> list[JsonObject]:
        """Every user; the docs say this list is not paged."""
        return self._items(self.call("user.list"))

    def user_event_type_tags(self) -> list[JsonObject]:
        return self._items(self.call("user_event_type_tag.list"))

    def create_user_event_type_tag(
        self, name: str, *, color: str | None = None, position: int | None = None, retry: bool = False
    ) -> JsonObject:
        body = _drop_none(name=name, color=color, position=position)
        return self._object(self.call("user_event_type_tag.create", body=body, retry=retry))

    def update_user_event_type_tag(
        self,
        tag_id: int,
        name: str,
        *,
        color: str | None = None,
        position: int | None = None,
        retry: bool = False,
    ) -> JsonObject:
        body = _drop_none(name=name, color=color, position=position)
        answer = self.call("user_event_type_tag.update", path_params={"id": tag_id}, body=body, retry=retry)
        return self._object(answer)

    def delete_user_event_type_tag(self, tag_id: int, *, retry: bool = False) -> None:
        self.call("user_event_type_tag.delete", path_params={"id": tag_id}, retry=retry)

    # ------------------------------------------------------------------ account

    def acl_rules(self) -> list[JsonObject]:
        return self._items(self.call("acl.list"))

    def integrations(self) -> JsonObject:
        """`{user: [...], organization: [...]}`."""
        return self._object(self.call("integration.list"))

    def cancellation_policy(self, kind: CancellationPolicyKind) -> JsonObject:
        return self._object(self.call(_policy_endpoint(kind)))

    def update_cancellation_policy(
        self, kind: CancellationPolicyKind, body: Mapping[str, Any], *, retry: bool = False
    ) -> JsonObject:
        """CancellationPolicyRequestDTO in (`enabled, period, label, text, overwritePersonal`), policy out."""
        return self._object(self.call(_policy_endpoint(kind) + "_update", body=dict(body), retry=retry))

    def save_availability_rule(self, body: Mapping[str, Any], *, retry: bool = False) -> None:
        """AvailabilityRuleRequestDTO."""
        self.call("availability_rule.save", body=dict(body), retry=retry)

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

    def iter_pages(
        self,
        endpoint: str,
        params: Mapping[str, object] | None = None,
        on_page: int = 100,
        *,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> Iterator[Page]:
        """Every page of a list endpoint, from `start_page` to the end; raises ApiPagingError on a loop."""
        walker = PageWalker(on_page, start_page=start_page, max_pages=max_pages)
        number: int | None = walker.page
        while number is not None:
            page = self.get_page(endpoint, params, number, on_page)
            number = self._advance(walker, endpoint, page)
            yield page

    def iter_pages_concurrent(
        self,
        endpoint: str,
        params: Mapping[str, object] | None = None,
        on_page: int = 100,
        *,
        concurrency: int | None = None,
        start_page: int = 1,
        max_pages: int | None = None,
    ) -> Generator[Page, None, None]:
        """The pages of `iter_pages`, in the same order and under the same loop checks, read ahead in parallel.

        The first page is read alone to learn `meta.pagesCount`; the next ones are then fetched by
        up to `concurrency` threads (default: the client's `page_concurrency`), never more than
        `concurrency` pages in flight or waiting, so memory stays flat however long the list. A
        list without a page count (a bare array) is read one page at a time. A page that fails
        after its retries raises here, at its place in the order. Closing the iterator early
        cancels the pages not yet started and waits for those under way.
        """
        concurrency = self.page_concurrency if concurrency is None else _check_concurrency(concurrency)
        walker = PageWalker(on_page, start_page=start_page, max_pages=max_pages)
        first = self.get_page(endpoint, params, walker.page, on_page)
        number = self._advance(walker, endpoint, first)
        yield first
        if number is None:
            return
        known = first.meta.pages_count if first.meta is not None else None
        if known is None or concurrency == 1:
            while number is not None:
                page = self.get_page(endpoint, params, number, on_page)
                number = self._advance(walker, endpoint, page)
                yield page
            return

        log.debug("api.pages_concurrent", endpoint=endpoint, pages_count=known, concurrency=concurrency)
        window: deque[tuple[int, Future[Page]]] = deque()
        submitted = number - 1

        def top_up(pool: ThreadPoolExecutor, wanted: int, known: int) -> None:
            # Up to the latest pagesCount (it may grow or shrink mid-pass), always including `wanted`.
            nonlocal submitted
            while len(window) < concurrency and submitted < max(known, wanted):
                submitted += 1
                # A copy per page: the caller's bound log context reaches the fetching thread.
                context = contextvars.copy_context()
                window.append(
                    (submitted, pool.submit(context.run, self.get_page, endpoint, params, submitted, on_page))
                )

        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="syncd-pages") as pool:
            try:
                top_up(pool, number, known)
                while number is not None:
                    wanted, future = window.popleft()
                    assert wanted == number, "the window holds consecutive pages from the walker's next"
                    page = future.result()
                    number = self._advance(walker, endpoint, page)
                    if page.meta is not None and page.meta.pages_count is not None:
                        known = page.meta.pages_count
                    if number is not None:
                        top_up(pool, number, known)  # before yielding: fetching overlaps the caller's work
                    yield page
            finally:
                # Pages read past the end, or no longer wanted: cancel what has not started.
                for _, pending in window:
                    pending.cancel()

    def _advance(self, walker: PageWalker, endpoint: str, page: Page) -> int | None:
        try:
            return walker.advance(page)
        except PagingLoop as exc:
            spec = self.endpoints[endpoint]
            raise ApiPagingError(None, str(exc), endpoint, spec.method, spec.path) from None

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


def _check_concurrency(value: int) -> int:
    if isinstance(value, bool) or not 1 <= value <= MAX_PAGE_CONCURRENCY:
        raise ValueError(f"page concurrency must be within 1..{MAX_PAGE_CONCURRENCY}, not {value!r}")
    return value


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


def _list_params(
    order_field: str | None, order_direction: str | None, filters: Mapping[str, object] | None
) -> dict[str, object]:
    return _drop_none(
        orderField=order_field, orderDirection=order_direction, filter=dict(filters or {}) or None
    )


def _drop_none(**fields: object) -> dict[str, object]:
    return {key: value for key, value in fields.items() if value is not None}


def _policy_endpoint(kind: str) -> str:
    if kind not in ("organization", "user"):
        raise ValueError(f"cancellation policy kind must be 'organization' or 'user', not {kind!r}")
    return f"cancellation_policy.{kind}"


def _request_datetime(field: str, value: str) -> str:
    try:
        dt.datetime.strptime(value, _REQUEST_DATETIME)
    except (TypeError, ValueError):
        raise ValueError(
            f"{field} must be 'Y-m-d H:i:s' text like '2026-12-01 10:00:00', not {value!r}"
        ) from None
    return value


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
