"""What `syncd sync` and `syncd status` show people: a progress bar per resource, and tables.

On a terminal the bar redraws one line with `\\r` (no dependency needed for one line of text);
anywhere else progress goes to the log at most every few seconds, since nobody watches it live.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import structlog

from syncd.db.intents import STATUSES as INTENT_STATUSES
from syncd.db.leader import Leader
from syncd.db.state import LastRun, ResourceStatus
from syncd.formatting import table, when
from syncd.sync import ProgressUpdate, SyncSummary

log = structlog.get_logger(__name__)

BAR_WIDTH = 24
LOG_EVERY_S = 5.0


class TerminalProgress:
    """One line per resource, redrawn in place: `events       [#########.....]  12/30 pages`."""

    def __init__(self, stream: TextIO, name_width: int = 24) -> None:
        self.stream = stream
        self.name_width = name_width

    def __call__(self, update: ProgressUpdate) -> None:
        done, total = update.pages_done, update.pages_total
        if update.finished:
            mark = "done" if update.status == "succeeded" else "FAILED"
            line = (
                f"{update.resource:<{self.name_width}} {mark} ({done} page{'s' * (done != 1)}, {update.mode})"
            )
            self.stream.write(f"\r{line:<80}\n")
        else:
            if total:
                filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
                bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} pages"
            else:
                bar = f"[{'?' * (done % BAR_WIDTH):<{BAR_WIDTH}}] {done} pages"
            self.stream.write(f"\r{update.resource:<{self.name_width}} {bar}")
        self.stream.flush()


class LogProgress:
    """Progress as log lines, at most one per resource every `every_s` seconds."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def __call__(self, update: ProgressUpdate) -> None:
        if update.finished:
            self._last.pop(update.resource, None)
            return
        now = time.monotonic()
        last = self._last.setdefault(update.resource, now)
        if now - last >= self.every_s:
            self._last[update.resource] = now
            log.info(
                "sync.progress",
                resource=update.resource,
                pages_done=update.pages_done,
                pages_total=update.pages_total,
            )


def summary_table(summary: SyncSummary) -> str:
    header = (
        "resource",
        "mode",
        "status",
        "pages",
        "inserted",
        "updated",
        "unchanged",
        "deleted",
        "restored",
        "rejected",
    )
    rows = [
        (
            o.resource,
            o.mode_label,
            o.status,
            *(
                str(getattr(o.counts, n))
                for n in ("pages", "inserted", "updated", "unchanged", "deleted", "restored", "rejected")
            ),
        )
        for o in summary.outcomes
    ]
    lines = table(header, rows).split("\n")
    for o in summary.failed:
        lines.append(f"{o.resource}: {o.error}")
    return "\n".join(lines)


def status_table(statuses: Sequence[ResourceStatus], now: dt.datetime) -> str:
    header = ("resource", "last success", "age", "live", "deleted", "rejected", "last run", "error")
    rows = []
    for s in statuses:
        success = s.cursor.last_success_at if s.cursor is not None else None
        run = s.last_run
        outcome = (
            "-"
            if run is None
            else f"{run.status} ({run_mode(run)}, {when(run.finished_at or run.started_at)})"
        )
        rows.append(
            (
                s.resource,
                when(success),
                age(success, now),
                str(s.live),
                str(s.deleted),
                str(s.rejected),
                outcome,
                (run.error or "") if run is not None and run.status == "failed" else "",
            )
        )
    return table(header, rows)


def age(when: dt.datetime | None, now: dt.datetime) -> str:
    """`42s`, `5m`, `3h`, `2d`: enough to tell fresh from stale at a glance."""
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def run_mode(run: LastRun) -> str:
    """A recorded run's mode, or `before fetching` for a failed one that stored no page."""
    return "before fetching" if run.status == "failed" and run.counts.pages == 0 else run.mode


def status_document(
    leader: Leader | None,
    intents: Mapping[str, int],
    oldest_pending_s: float,
    statuses: Sequence[ResourceStatus],
    now: dt.datetime,
) -> dict[str, Any]:
    """`syncd status --json`: the same facts as the text, times in full ISO 8601 (docs/sync.md)."""
    return {
        "checked_at": now.isoformat(),
        "leader": None
        if leader is None
        else {
            "application_name": leader.application_name,
            "pid": leader.pid,
            "client_addr": leader.client_addr,
            "since": leader.backend_start.isoformat(),
        },
        "intents": {
            "by_status": {name: intents.get(name, 0) for name in INTENT_STATUSES},
            "oldest_pending_age_s": round(oldest_pending_s, 3) if intents.get("pending") else None,
        },
        "resources": [_resource_document(s, now) for s in statuses],
    }


def _resource_document(s: ResourceStatus, now: dt.datetime) -> dict[str, Any]:
    success = s.cursor.last_success_at if s.cursor is not None else None
    run = s.last_run
    return {
        "resource": s.resource,
        "last_success_at": None if success is None else success.isoformat(),
        "age_s": None if success is None else round(max(0.0, (now - success).total_seconds()), 3),
        "live": s.live,
        "deleted": s.deleted,
        "rejected": s.rejected,
        "last_run": None
        if run is None
        else {
            "id": run.id,
            "status": run.status,
            "mode": run.mode,
            "fetched": run.counts.pages > 0,
            "fell_back_to_full": run.fell_back_to_full,
            "started_at": run.started_at.isoformat(),
            "finished_at": None if run.finished_at is None else run.finished_at.isoformat(),
            "error": run.error,
            "counts": run.counts.as_dict(),
        },
    }
