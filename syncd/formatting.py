"""Small text helpers the commands share: aligned tables, times, one-line excerpts, JSON defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column (errors, URLs) is left unpadded: it may
    be long, and nothing follows it."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in [header, *rows]
    )


def when(value: dt.datetime | None) -> str:
    """`2026-11-25T15:04:25Z` (ISO 8601, UTC, to the second), or `-`: every time a person reads in
    the commands' tables and lines has this one form; JSON output keeps full precision."""
    return "-" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def one_line(text: str | None, width: int = 80) -> str:
    """Whitespace folded, cut to `width` with `...`."""
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def json_default(value: object) -> str:
    """For json.dumps: date-times as ISO 8601, anything else as its str."""
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)
