"""The daemon's schedule: one job per synced resource, and the nightly full reconciliation.

Only wiring lives here: when each job runs (`syncd.schedule`'s `Cadence`), and what it calls
(`SyncJobs.run`, which calls `syncd.sync.sync` for one resource). Leadership, signals and health belong to `syncd.daemon`.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from syncd.api import ApiClient, ApiKeyRefused, ApiUnreachable
from syncd.resources import SYNCED, Resource
from syncd.retry import first_line
from syncd.schedule import FULL_SYNC, Cadence, full_sync_cadence, resource_cadence
from syncd.sync import ProgressUpdate, ResourceOutcome, SyncOptions, sync

log = structlog.get_logger(__name__)

# Jobs run in this many threads; more jobs due at once wait their turn (each holds a database connection).
WORKERS = 4
_MAX_FULL_GRACE_S = 6 * 3600.0

# "api_unusable": the API cannot be reached or refuses the key, so the job's other resources are not tried.
JobOutcome = Literal["succeeded", "failed", "skipped", "stopped", "error", "api_unusable"]


# --- the jobs --------------------------------------------------------------------------------------


class _Stopping(BaseException):
    """Raised from the progress hook once a stop is asked: the engine has just committed a page.

    A BaseException so the engine's `except Exception` lets it through: the run stays 'running'
    and the next run closes it as interrupted, and a full pass resumes at its next page.
    """


class SyncJobs:
    """What each scheduled job does: call the sync engine for its resources, when this process may."""

    def __init__(
        self,
        engine: Engine,
        client: ApiClient,
        options: SyncOptions,
        *,
        may_run: Callable[[], bool],
        on_outcome: Callable[[ResourceOutcome], None] = lambda _: None,
        on_page: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.options = options
        self.may_run = may_run
        self.on_outcome = on_outcome
        self.on_page = on_page
        self.stopping = threading.Event()
        # One run of a resource at a time in this process; across processes the engine's lock decides.
        self._busy = {r.name: threading.Lock() for r in SYNCED}
        self._running = 0
        self._running_changed = threading.Condition()

    def run(self, resources: Sequence[Resource], full: bool = False) -> None:
        """A scheduled job. Never raises: a failure is logged and the next run comes on schedule."""
        if self.stopping.is_set() or not self.may_run():
            return
        with self._running_changed:
            self._running += 1
        try:
            for resource in resources:
                if self.stopping.is_set() or not self.may_run():
                    return
                if self._run_one(resource, full=full) == "api_unusable":
                    return
        finally:
            with self._running_changed:
                self._running -= 1
                self._running_changed.notify_all()

    def _run_one(self, resource: Resource, *, full: bool) -> JobOutcome:
        lock = self._busy[resource.name]
        # The nightly full pass waits for a routine run of the resource; a routine run skips.
        if not lock.acquire(blocking=full):
            log.info("sync.skipped", resource=resource.name, reason="a run of it is under way here")
            return "skipped"
        try:
            summary = sync(
                self.engine, self.client, [resource], full=full, options=self.options, progress=self._progress
            )
        except _Stopping:
            log.info("sync.stopped", resource=resource.name, reason="stopping after a committed page")
            return "stopped"
        except (ApiUnreachable, ApiKeyRefused):
            # The engine's sync.resource_done said why, in one line; /readyz says it until an answer comes.
            self.on_outcome(ResourceOutcome(resource.name, "full" if full else "incremental", "failed"))
            return "api_unusable"
        except Exception as exc:  # the database is gone, or a bug: the next run comes on schedule
            log.error("sync.job_failed", resource=resource.name, error=first_line(exc, with_type=True))
            self.on_outcome(ResourceOutcome(resource.name, "full" if full else "incremental", "failed"))
            return "error"
        finally:
            lock.release()
        for outcome in summary.outcomes:
            self.on_outcome(outcome)
        return "succeeded" if summary.ok else "failed"

    def _progress(self, update: ProgressUpdate) -> None:
        if update.finished:
            return
        self.on_page(update.resource)
        if self.stopping.is_set():
            raise _Stopping

    def stop(self, timeout_s: float) -> bool:
        """Ask the running jobs to stop after their current page; True if they all did within `timeout_s`."""
        self.stopping.set()
        deadline = time.monotonic() + timeout_s
        with self._running_changed:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._running_changed.wait(left)
        return True


def build_scheduler(
    jobs: SyncJobs,
    schedule: Mapping[str, int | str],
    full_sync_at: str,
    *,
    first_runs: Mapping[str, dt.datetime] | None = None,
) -> tuple[BackgroundScheduler, dict[str, Cadence]]:
    """The scheduler (not started) with one job per resource and the full pass; and each job's cadence.

    `first_runs` places the first run of an interval job (e.g. when its resource is next due).
    """
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(WORKERS)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    cadences: dict[str, Cadence] = {}
    for resource in SYNCED:
        cadence = resource_cadence(resource, schedule)
        cadences[resource.name] = cadence
        first = (first_runs or {}).get(resource.name) if cadence.interval else None
        scheduler.add_job(
            jobs.run,
            cadence.trigger,
            args=([resource],),
            id=resource.name,
            name=f"sync {resource.name}",
            misfire_grace_time=max(1, int(cadence.period_s)),
            **({"next_run_time": first} if first is not None else {}),
        )
    full = full_sync_cadence(full_sync_at, schedule)
    cadences[FULL_SYNC] = full
    scheduler.add_job(
        jobs.run,
        full.trigger,
        args=(list(SYNCED),),
        kwargs={"full": True},
        id=FULL_SYNC,
        name="full reconciliation",
        misfire_grace_time=max(1, int(min(full.period_s, _MAX_FULL_GRACE_S))),
    )
    return scheduler, cadences
