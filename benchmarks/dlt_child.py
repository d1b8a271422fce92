"""The dlt peer's child process: dlt's `rest_api` source with merge over the sandbox's four lists.

    SYNCD_BENCH_API_KEY=... python -m benchmarks.dlt_child --base-url URL --database-url URL \
        --pipelines-dir DIR [--dataset simplymeet]

What a user would write to mirror the account with dlt instead of syncd: events and event types
(the `{meta, items}` envelope, paged by `page` up to `meta.pagesCount`), polls and users (bare
arrays, paged until a short page, as ENDPOINTS.md "Lists, paging" says and syncd/api/paging.py
does), 100 a page ordered by id, the API key in the `X-API-KEY` header, `write_disposition="merge"`
on primary key `id` into PostgreSQL. Run once for the first load and again, nothing changed, for
the no-change merge; `benchmarks.dlt_peer` times this process and counts what it loaded.

Imports dlt and the standard library only (no syncd, no SQLAlchemy), so the process's CPU is dlt's.
Prints one JSON line on stdout: dlt's version and the rows it reports loaded per table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ON_PAGE = 100  # the API's largest page, as syncd reads


def _short_page_paginator(on_page: int) -> Any:
    """Page numbers from 1, stopping at a page of any other length than `on_page` (a bare-array list)."""
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    class ShortPagePaginator(PageNumberPaginator):
        def update_state(self, response: Any, data: list[Any] | None = None) -> None:
            super().update_state(response, data)
            if data is not None and len(data) != on_page:
                self._has_next_page = False  # short: the last page; longer: the whole list at once

    return ShortPagePaginator(base_page=1, page_param="page", total_path=None, stop_after_empty_page=True)


def rest_api_config(base_url: str, api_key: str, on_page: int = ON_PAGE) -> dict[str, Any]:
    """The `rest_api` source's configuration: the four lists, merged on `id`."""
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    paged = {"onPage": on_page, "orderField": "id", "orderDirection": "asc"}

    def envelope() -> Any:
        return PageNumberPaginator(base_page=1, page_param="page", total_path="meta.pagesCount")

    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/panel/api/",
            "auth": {"type": "api_key", "name": "X-API-KEY", "api_key": api_key, "location": "header"},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [
            {
                "name": "events",
                "endpoint": {
                    "path": "event/list",
                    "params": dict(paged),
                    "data_selector": "items",
                    "paginator": envelope(),
                },
            },
            {
                "name": "event_types",
                "endpoint": {
                    "path": "event-type/list",
                    "params": dict(paged),
                    "data_selector": "items",
                    "paginator": envelope(),
                },
            },
            {
                "name": "polls",
                "endpoint": {
                    "path": "poll/list",
                    "params": dict(paged),
                    "data_selector": "$",
                    "paginator": _short_page_paginator(on_page),
                },
            },
            {
                "name": "users",
                "endpoint": {
                    "path": "user/list",
                    "data_selector": "$",
                    "paginator": _short_page_paginator(on_page),
                },
            },
        ],
    }


def destination_credentials(database_url: str) -> dict[str, Any]:
    """dlt's PostgreSQL credentials from a libpq URL, a unix-socket `?host=` dir included.

    dlt insists on a host and a password; a server that admits us without a password (peer or trust,
    as the embedded one does) ignores the placeholder.
    """
    parts = urlsplit(database_url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "") or query.get("host")
    if not host:
        raise ValueError("the database URL names no host (neither in the authority nor as ?host=)")
    if host.startswith("/"):
        # A unix-socket dir: dlt writes the host into a URL's authority, where a path does not
        # parse; libpq takes `?host=` from the query over the authority's placeholder.
        query["host"], host = host, "localhost"
    return {
        "database": unquote(parts.path.lstrip("/")),
        "username": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else "unused",
        "host": host,
        "port": parts.port or int(query.pop("port", "5432")),
        **({"query": query} if query else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.dlt_child", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base-url", required=True, help="the sandbox's URL, without /panel/api")
    parser.add_argument("--database-url", required=True, help="postgresql://... of the scratch database")
    parser.add_argument("--pipelines-dir", required=True, help="dlt's pipeline state (a temporary dir)")
    parser.add_argument("--dataset", default="simplymeet", help="the schema dlt loads into")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    api_key = os.environ.get("SYNCD_BENCH_API_KEY", "")
    if not api_key:
        print("dlt_child: SYNCD_BENCH_API_KEY is not set", file=sys.stderr)
        return 2
    try:
        import dlt
        from dlt.sources.rest_api import rest_api_source
    except ImportError as exc:
        print(
            f"dlt_child: dlt is not installed ({exc}); `make bench` installs the bench extra", file=sys.stderr
        )
        return 3

    pipeline = dlt.pipeline(
        pipeline_name="syncd_bench_dlt",
        pipelines_dir=args.pipelines_dir,
        destination=dlt.destinations.postgres(credentials=destination_credentials(args.database_url)),
        dataset_name=args.dataset,
    )
    config: Any = rest_api_config(args.base_url, api_key)  # a RESTAPIConfig (a TypedDict) in dlt's terms
    info = pipeline.run(rest_api_source(config, name="simplymeet"))
    info.raise_on_failed_jobs()
    normalized = pipeline.last_trace.last_normalize_info if pipeline.last_trace else None
    rows = normalized.row_counts if normalized else {}
    print(json.dumps({"dlt_version": dlt.__version__, "rows_normalized": dict(rows)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
