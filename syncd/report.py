"""What `syncd sync` and `syncd status` show people: a live progress display, and tables.

On a terminal one live display (rich) covers the whole run, a row per resource, and is cleared when
the run ends so that the summary table replaces it; anywhere else progress goes to the log at most
every few seconds, since nobody watches it live. rich is imported only when a display is shown.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from syncd.db.intents import STATUSES as INTENT_STATUSES
from syncd.db.leader import Leader
from syncd.db.state import LastRun, ResourceStatus
from syncd.formatting import table, when
from syncd.logs import logs_written_to
from syncd.sync import ProgressUpdate, SyncSummary

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.live import Live

log = structlog.get_logger(__name__)

LOG_EVERY_S = 5.0
REFRESH_PER_S = 4


@dataclass
class ResourceProgress:
    """Where one resource's run stands, as the live display shows it."""

    resource: str
    started: float
    pages_done: int = 0
    pages_total: int | None = None
    objects: int = 0
    finished_at: float | None = None
    status: str = "running"

    def cells(self, now: float) -> tuple[str, str, str, str]:
        """pages, objects, objects/s, and the ETA (where the page count is known) or how it ended."""
        elapsed = (self.finished_at if self.finished_at is not None else now) - self.started
        total = self.pages_total
        unit = "page" if (total or self.pages_done) == 1 else "pages"
        pages = f"{self.pages_done}/{total} {unit}" if total else f"{self.pages_done} {unit}"
        rate = f"{self.objects / elapsed:,.0f}/s" if elapsed >= 0.1 and self.objects else ""
        if self.finished_at is not None:
            state = "done" if self.status == "succeeded" else self.status.upper()
        elif total and 0 < self.pages_done <= total:
            state = f"eta {duration(elapsed / self.pages_done * (total - self.pages_done))}"
        else:
            state = ""
        return pages, f"{self.objects:,} objects", rate, state


def duration(seconds: float) -> str:
    """`0:07`, `12:30`, `1:02:03`."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class LiveProgress:
    """On a terminal: one display for the whole run, a row per resource as it starts, redrawn in place
    and cleared at the end. While it shows, log lines are printed above it, never through it."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self._rows: dict[str, ResourceProgress] = {}
        self._lock = threading.Lock()  # the refresh thread renders while the sync thread updates
        self._live: Live | None = None
        self._logs: AbstractContextManager[None] | None = None

    def __enter__(self) -> LiveProgress:
        from rich.console import Console
        from rich.file_proxy import FileProxy
        from rich.live import Live

        console = Console(file=self.stream)
        self._live = Live(
            get_renderable=self._render,
            console=console,
            transient=True,
            refresh_per_second=REFRESH_PER_S,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        # FileProxy prints each whole line through the console, which puts it above the display.
        self._logs = logs_written_to(FileProxy(console, self.stream))
        self._logs.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.stop()
        if self._logs is not None:
            self._logs.__exit__(None, None, None)

    def __call__(self, update: ProgressUpdate) -> None:
        now = self.clock()
        with self._lock:
            row = self._rows.get(update.resource)
            new = row is None
            if row is None:
                row = self._rows[update.resource] = ResourceProgress(update.resource, started=now)
            row.objects = update.objects
            if update.finished:
                row.finished_at, row.status = now, update.status
            if not update.finished or row.pages_total is None:
                # The closing update counts stored pages, not calls out of a known total: keep the last.
                row.pages_done = update.pages_done
            if update.pages_total is not None:
                row.pages_total = update.pages_total
        if (new or update.finished) and self._live is not None:
            self._live.refresh()  # a row appears or ends at once; counts move at the refresh rate

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        now = self.clock()
        grid = Table.grid(padding=(0, 2))
        for justify in ("left", "left", "right", "right", "right", "left"):
            grid.add_column(justify=justify, no_wrap=True)
        with self._lock:
            rows = list(self._rows.values())
        for row in rows:
            finished = row.finished_at is not None
            total = row.pages_total if row.pages_total else (1 if finished else None)
            done = row.pages_done if row.pages_total else (1 if finished else 0)
            bar = ProgressBar(total=total, completed=done, width=24)
            grid.add_row(row.resource, bar, *row.cells(now))
        return grid


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
