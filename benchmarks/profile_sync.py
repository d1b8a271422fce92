"""Where a first sync's time goes: the real engine in process, under cProfile, pages read in order.

Pages are read sequentially here (not by the fetch threads) so that HTTP and JSON decoding show
up in the profile; the timed benchmark uses syncd's real, concurrent reader. cProfile slows the
Python-heavy parts (mapping, hashing) more than the time spent waiting on the server, so read the
shares as a ranking, not as exact seconds.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
from sqlalchemy import Engine

import syncd.sync
from syncd.api import ApiClient, Page
from syncd.db.mirror import Prepared
from syncd.sync import SyncOptions, sequential_pages, sync

# What to report, as (label, file suffix, function name); cumulative times, so nested ones overlap.
_COSTS: tuple[tuple[str, str, str], ...] = (
    ("engine: whole first sync", "syncd/sync.py", "sync"),
    ("HTTP requests incl. decode (ApiClient.call)", "syncd/api/client.py", "call"),
    ("  JSON decode (ApiClient._decode)", "syncd/api/client.py", "_decode"),
    ("store() per page (mirror.store)", "syncd/db/mirror.py", "store"),
    ("  map, canonical JSON and digests (mirror._candidate)", "syncd/db/mirror.py", "_candidate"),
    ("    canonical_json_bytes (orjson, sorted keys)", "syncd/mapping.py", "canonical_json_bytes"),
    ("    digest (blake2b)", "syncd/mapping.py", "digest"),
    ("    digest of the typed form (mapping.state_digest)", "syncd/mapping.py", "state_digest"),
    ("  stored-hash lookup (_Writer._stored_state)", "syncd/db/mirror.py", "_stored_state"),
    ("  key, map and digest a page (mirror.prepare)", "syncd/db/mirror.py", "prepare"),
    ("  mapping (map_object)", "syncd/mapping.py", "map_object"),
    ("  upsert: COPY to staging + INSERT..ON CONFLICT (_upsert)", "syncd/db/mirror.py", "_upsert"),
    ("    COPY rows (_copy_rows)", "syncd/db/mirror.py", "_copy_rows"),
    ("    replace child rows (_replace_children)", "syncd/db/mirror.py", "_replace_children"),
    ("record seen keys (state.record_seen)", "syncd/db/state.py", "record_seen"),
    ("deletion candidates (state.unseen_keys)", "syncd/db/state.py", "unseen_keys"),
    ("mark unseen deleted (state.mark_unseen_deleted)", "syncd/db/state.py", "mark_unseen_deleted"),
    ("waiting on PostgreSQL (psycopg wait)", "psycopg/connection.py", "wait"),
)


@dataclass(frozen=True)
class ProfileResult:
    wall_s: float
    costs: list[dict[str, Any]]
    top: str  # pstats text, top functions by own time
    decode: dict[str, float]


def profile_first_sync(engine: Engine, base_url: str, api_key: str, out_dir: Path) -> ProfileResult:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    # cProfile sees one thread: hash and map each page on it too, not in the engine's read-ahead thread.
    with (
        ApiClient(base_url, api_key, rate_limit_per_s=None) as client,
        patch.object(syncd.sync, "_prepare_ahead", _prepare_inline),
    ):
        profiler.enable()
        summary = sync(engine, client, options=SyncOptions(), page_source=sequential_pages)
        profiler.disable()
    wall = time.perf_counter() - started
    if not summary.ok:
        failed = ", ".join(f"{o.resource}: {o.error}" for o in summary.failed)
        raise RuntimeError(f"the profiled sync failed: {failed}")
    out_dir.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out_dir / "profile.pstats")
    stats = pstats.Stats(profiler)
    costs = []
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    for label, suffix, name in _COSTS:
        found = [
            (calls, own, cumulative)
            for (filename, _line, func), (_cc, calls, own, cumulative, _callers) in raw.items()
            if filename.endswith(suffix) and func == name
        ]
        if found:
            calls, own, cumulative = max(found, key=lambda f: f[2])
            # psycopg's wait is the time on the server and the socket: its own time is the figure.
            seconds = own if name == "wait" else cumulative
            costs.append({"what": label, "seconds": round(seconds, 3), "calls": calls})
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
    (out_dir / "profile.txt").write_text(text.getvalue())
    return ProfileResult(wall, costs, text.getvalue(), _decode_rate(base_url, api_key))


def _prepare_inline(
    pages: Iterator[Page], prepare: Callable[[Page], Prepared]
) -> Iterator[tuple[Page, Prepared]]:
    for page in pages:
        yield page, prepare(page)


def _decode_rate(base_url: str, api_key: str) -> dict[str, float]:
    """JSON decode alone, on one real page of 100 events: bytes per page and seconds per page."""
    with httpx.Client(base_url=base_url, headers={"X-API-KEY": api_key}, timeout=30.0) as http:
        body = http.get("/panel/api/event/list", params={"page": 2, "onPage": 100}).content
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        json.loads(body)
    per_page = (time.perf_counter() - started) / rounds
    return {
        "page_bytes": len(body),
        "decode_s_per_page": per_page,
        "decode_mb_per_s": len(body) / per_page / 1e6,
    }
