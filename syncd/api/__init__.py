"""The SimplyMeet panel API: the endpoint table, the client, paging and errors.

Nothing else in syncd speaks raw HTTP to SimplyMeet.
"""

from __future__ import annotations

from syncd.api.client import DEFAULT_USER_AGENT, ApiClient, OnResponse, PreparedCall
from syncd.api.dates import format_api_datetime, parse_api_date, parse_api_datetime
from syncd.api.endpoints import ENDPOINTS, Answer, Endpoint, PathSource, resolve_paths
from syncd.api.errors import (
    ApiAuthError,
    ApiClientError,
    ApiError,
    ApiKeyRefused,
    ApiNotFound,
    ApiPagingError,
    ApiTransientError,
    ApiUnreachable,
)
from syncd.api.paging import (
    DEFAULT_PAGE_CONCURRENCY,
    MAX_PAGE_CONCURRENCY,
    JsonObject,
    Page,
    PageMeta,
    PageWalker,
    iter_pages,
    iter_pages_concurrent,
)
from syncd.api.query import build_query_string, encode_query
from syncd.api.ratelimit import DEFAULT_RATE_BURST, DEFAULT_RATE_LIMIT_PER_S, RequestRateLimit

__all__ = [
    "DEFAULT_PAGE_CONCURRENCY",
    "DEFAULT_RATE_BURST",
    "DEFAULT_RATE_LIMIT_PER_S",
    "DEFAULT_USER_AGENT",
    "ENDPOINTS",
    "MAX_PAGE_CONCURRENCY",
    "Answer",
    "ApiAuthError",
    "ApiClient",
    "ApiClientError",
    "ApiError",
    "ApiKeyRefused",
    "ApiNotFound",
    "ApiPagingError",
    "ApiTransientError",
    "ApiUnreachable",
    "Endpoint",
    "JsonObject",
    "OnResponse",
    "Page",
    "PageMeta",
    "PageWalker",
    "PathSource",
    "PreparedCall",
    "RequestRateLimit",
    "build_query_string",
    "encode_query",
    "format_api_datetime",
    "iter_pages",
    "iter_pages_concurrent",
    "parse_api_date",
    "parse_api_datetime",
    "resolve_paths",
]
