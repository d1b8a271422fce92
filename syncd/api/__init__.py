"""The SimplyMeet panel API: the endpoint table, the client, paging and errors.

Nothing else in syncd speaks raw HTTP to SimplyMeet.
"""

from __future__ import annotations

from syncd.api.client import DEFAULT_USER_AGENT, ApiClient, OnResponse, parse_retry_after
from syncd.api.endpoints import ENDPOINTS, Answer, Endpoint, PathSource, resolve_paths
from syncd.api.errors import (
    ApiAuthError,
    ApiClientError,
    ApiError,
    ApiNotFound,
    ApiPagingError,
    ApiTransientError,
)
from syncd.api.paging import JsonObject, Page, PageMeta, PageWalker
from syncd.api.query import build_query_string, encode_query

__all__ = [
    "DEFAULT_USER_AGENT",
    "ENDPOINTS",
    "Answer",
    "ApiAuthError",
    "ApiClient",
    "ApiClientError",
    "ApiError",
    "ApiNotFound",
    "ApiPagingError",
    "ApiTransientError",
    "Endpoint",
    "JsonObject",
    "OnResponse",
    "Page",
    "PageMeta",
    "PageWalker",
    "PathSource",
    "build_query_string",
    "encode_query",
    "parse_retry_after",
    "resolve_paths",
]
