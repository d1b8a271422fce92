"""`syncd` exactly as a user runs it, with one change: the client-side request-rate limit.

`syncd sync` has no setting for the limit yet (every ApiClient gets the 5 requests/s default), and
at 100 events a page that default alone caps a sync at 500 events/s. The benchmark measures syncd's
own throughput, so it runs the real command line through this shim with the limit it was asked for.

    python -m benchmarks._syncd_cli --rate-limit off sync
"""

from __future__ import annotations

import sys
from typing import Any


def _parse_limit(value: str) -> float | None:
    return None if value == "off" else float(value)


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--rate-limit":
        print("usage: python -m benchmarks._syncd_cli --rate-limit off|N SYNCD-ARGS...", file=sys.stderr)
        return 2
    limit = _parse_limit(argv[1])

    from syncd.api.client import ApiClient
    from syncd.cli import main as syncd_main

    original = ApiClient.__init__

    def with_limit(self: ApiClient, *args: Any, **kwargs: Any) -> None:
        kwargs["rate_limit_per_s"] = limit  # forced, so it holds even if the CLI starts passing one
        original(self, *args, **kwargs)

    ApiClient.__init__ = with_limit  # type: ignore[method-assign]
    return syncd_main(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
