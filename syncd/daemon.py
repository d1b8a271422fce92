"""`syncd run`: the long-running service. Owns the lifecycle: readiness, leadership, signals, health.

    check the schema → schedule the jobs → start replay → READY=1 → main loop → stop

- **Leadership**: a PostgreSQL advisory lock on a dedicated connection (`syncd.db.leader`). Only
  the leader's scheduled jobs sync; a follower tries again every `leader_poll_s`. The engine's own
  per-resource lock still guards each run, so a leader that has just lost its connection and a new
  one can never sync the same resource at once.
- **Replay**: every replica runs `syncd.replay.follow` (claims are `FOR UPDATE SKIP LOCKED`).
- **Webhooks**: every replica runs `syncd.webhooks.follow_deliveries` (a subscription is locked
  while it is delivered, so it stays in order); the leader prunes the change feed hourly.
- **Stop**: the first SIGTERM/SIGINT stops scheduling, lets the jobs under way finish their
  current page (bounded by `shutdown_timeout_s`) and exits 0; a second signal exits at once.
- **systemd**: READY=1, STATUS=..., WATCHDOG=1 from the main loop, STOPPING=1 (`sd_notify`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from syncd.api import ApiClient, OnResponse
from syncd.api.dispatcher import ApiDispatcher
from syncd.db import feed, health, leader
from syncd.db import webhooks as webhook_store
from syncd.db.intent_queue import PostgresIntentQueue
from syncd.engine_options import replay_options, sync_options, webhook_options
from syncd.metrics import CONTENT_TYPE, DaemonMetrics
from syncd.replay import ReplayOptions, follow
from syncd.resources import SYNCED
from syncd.retry import Backoff, first_line
from syncd.schedule import FULL_SYNC, Cadence, resource_cadence
from syncd.scheduler import SyncJobs, build_scheduler
from syncd.settings import Settings
from syncd.webhooks import follow_deliveries

log = structlog.get_logger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STALE_AFTER_PERIODS = 3  # /readyz: a resource not synced for 3 of its periods is stale
_TICK_S = 0.5  # the main loop's pace: watchdog, leadership, stop
_RECONNECT_MAX_S = 60.0
# A replay or webhook loop that failed starts again after 2 s, 4 s ... up to a minute.
_RESTART_BACKOFF = Backoff(2.0, _RECONNECT_MAX_S, jitter=0.0)
PRUNE_JOB = "prune_feed"
_PRUNE_EVERY_S = 3600


class DaemonError(Exception):
    """The daemon cannot start as its settings say (the health port is taken, ...); one line, exit 2."""


# --- systemd ----------------------------------------------------------------------------------------


def sd_notify(*lines: str) -> bool:
    """Send `KEY=VALUE` lines to $NOTIFY_SOCKET; False (and nothing else) when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
    except OSError as exc:
        log.warning("daemon.notify_failed", error=type(exc).__name__)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half of WATCHDOG_USEC (systemd's advice), when the watchdog is meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2_000_000, 0.01)
    except ValueError:
        return None


# --- leadership -------------------------------------------------------------------------------------


class Leadership:
    """Holds (or keeps trying for) the leader lock. Driven by `tick()` from the main loop."""

    def __init__(
        self,
        engine: Engine,
        poll_s: float,
        *,
        on_change: Callable[[bool], None] = lambda _: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.poll_s = poll_s
        self.on_change = on_change
        self.clock = clock
        self.name = f"syncd-run {socket.gethostname()} pid {os.getpid()}"[:63]
        self._conn: psycopg.Connection[Any] | None = None
        self._leading = False
        self._next_try = 0.0
        self._failures = 0

    @property
    def leading(self) -> bool:
        return self._leading

    def tick(self) -> None:
        if self.clock() < self._next_try:
            return
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(
                    self.conninfo,
                    autocommit=True,
                    application_name=self.name,
                    connect_timeout=10,
                    # A dead peer is noticed in ~25 s even where no RST arrives.
                    keepalives=1,
                    keepalives_idle=10,
                    keepalives_interval=5,
                    keepalives_count=3,
                )
            if self._leading:
                leader.still_connected(self._conn)
            elif leader.try_lead(self._conn):
                self._set(True)
        except psycopg.Error as exc:
            self._failures += 1
            delay = Backoff(self.poll_s, _RECONNECT_MAX_S, jitter=0.0).delay_s(self._failures)
            log.warning("daemon.leader_connection_lost", error=first_line(exc), retry_in_s=round(delay, 1))
            self._drop()
            self._next_try = self.clock() + delay
            return
        self._failures = 0
        self._next_try = self.clock() + self.poll_s

    def _set(self, leading: bool) -> None:
        if leading != self._leading:
            self._leading = leading
            log.info("daemon.leadership", leading=leading, session=self.name)
            self.on_change(leading)

    def _drop(self) -> None:
        self._set(False)
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def release(self) -> None:
        """Closing the session frees the lock; the follower takes over on its next try."""
        self._drop()


# --- health -----------------------------------------------------------------------------------------


def readiness(
    engine: Engine,
    periods: Mapping[str, float],
    started_at: float,
    now: float,
    api_problem: str | None = None,
) -> tuple[bool, list[str]]:
    """Ready when the database answers, the API last answered (`api_problem` is None: it was not
    unreachable and did not refuse the key), and no resource is older than STALE_AFTER_PERIODS periods.

    A resource never synced counts from the daemon's start, so a fresh install is ready at once.
    """
    api = [api_problem] if api_problem is not None else []
    try:
        with engine.connect() as conn:
            health.ping(conn)
            ages = health.last_success_ages_s(conn)
    except DBAPIError as exc:
        return False, [f"database unreachable: {first_line(exc.orig or exc)}", *api]
    problems = api
    for name, period in periods.items():
        threshold = STALE_AFTER_PERIODS * period
        age = ages.get(name, now - started_at)
        if age > threshold:
            problems.append(f"{name}: last success {age:.0f}s ago, stale after {threshold:.0f}s")
    return not problems, problems


class HealthServer:
    """`/healthz`, `/readyz`, `/metrics` on a loopback port, in a thread of its own."""

    def __init__(
        self, host: str, port: int, ready: Callable[[], tuple[bool, list[str]]], metrics: DaemonMetrics
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    outer._answer(self, 200, b"ok\n")
                elif path == "/readyz":
                    ok, problems = ready()
                    body = json.dumps({"ready": ok, "problems": problems}).encode() + b"\n"
                    outer._answer(self, 200 if ok else 503, body, "application/json")
                elif path == "/metrics":
                    outer._answer(self, 200, metrics.exposition(), CONTENT_TYPE)
                else:
                    outer._answer(self, 404, b"not found\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # scrapes every few seconds would drown the log

        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise DaemonError(
                f"cannot listen on {host}:{port} for /healthz: {exc.strerror} (setting health_port; 0 = off)"
            ) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="syncd-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str = "text/plain"
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the daemon -------------------------------------------------------------------------------------


class Daemon:
    """One `syncd run` process on an engine and an API client; `run()` until `stop` is set."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        client_factory: Callable[[OnResponse], ApiClient],
        *,
        stop: threading.Event | None = None,
        replay: ReplayOptions | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.stop = stop or threading.Event()
        self.started_at = time.monotonic()
        self.leadership = Leadership(engine, settings.leader_poll_s, on_change=self._leadership_changed)
        self.metrics = DaemonMetrics(engine, [r.name for r in SYNCED], lambda: self.leadership.leading)
        self.health: HealthServer | None = None
        if settings.health_port:
            # First: a taken port is a bad setting, said in one line before anything else is set up.
            self.health = HealthServer(settings.health_host, settings.health_port, self.ready, self.metrics)
        self.client = client_factory(self.metrics.observe_api)
        self.replay_options = replay or replay_options(settings)
        self.jobs = SyncJobs(
            engine,
            self.client,
            sync_options(settings),
            may_run=lambda: self.leadership.leading,
            on_outcome=self.metrics.observe_outcome,
            on_page=self.metrics.observe_page,
        )
        self.scheduler, cadences = build_scheduler(
            self.jobs, settings.schedule, settings.full_sync_at, first_runs=self._first_runs()
        )
        self.periods = {name: c.period_s for name, c in cadences.items() if name != FULL_SYNC}
        self.metrics.set_stale_after({name: STALE_AFTER_PERIODS * p for name, p in self.periods.items()})
        self.cadences: dict[str, Cadence] = cadences
        self.scheduler.add_job(
            self.prune,
            "interval",
            seconds=_PRUNE_EVERY_S,
            id=PRUNE_JOB,
            name="prune the change feed",
            next_run_time=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60),
            misfire_grace_time=_PRUNE_EVERY_S,
        )
        self._replay_stop = threading.Event()
        self._replay_thread = threading.Thread(target=self._replay, name="syncd-replay", daemon=True)
        self._webhooks_thread = threading.Thread(target=self._webhooks, name="syncd-webhooks", daemon=True)

    def ready(self) -> tuple[bool, list[str]]:
        return readiness(self.engine, self.periods, self.started_at, time.monotonic(), self.client.problem)

    def _first_runs(self) -> dict[str, dt.datetime]:
        """Each resource's first run when it is due (last success + its period), else in a moment."""
        now = dt.datetime.now(dt.UTC)
        try:
            with self.engine.connect() as conn:
                ages = health.last_success_ages_s(conn)
        except DBAPIError:
            ages = {}
        first = {}
        for index, resource in enumerate(SYNCED):
            period = resource_cadence(resource, self.settings.schedule).period_s
            due_in = max(period - ages[resource.name], 0.0) if resource.name in ages else 0.0
            # Spread the first runs a little: declaration order, parents first.
            first[resource.name] = now + dt.timedelta(seconds=due_in + 0.1 * index)
        return first

    def _leadership_changed(self, leading: bool) -> None:
        sd_notify(f"STATUS={self._status_line(leading)}")
        if leading and self.scheduler.running:
            # A new leader catches up at once on what the old one left due, not a period later.
            for name, due in self._first_runs().items():
                if self.cadences[name].interval:
                    self.scheduler.modify_job(name, next_run_time=due)

    def _status_line(self, leading: bool | None = None) -> str:
        leading = self.leadership.leading if leading is None else leading
        role = "leader: running the sync jobs" if leading else "follower: replaying intents only"
        return f"{role}; {len(self.periods)} resources scheduled"

    def _replay(self) -> None:
        self._supervise(
            "replay",
            lambda: follow(
                PostgresIntentQueue(self.engine, self.replay_options.api_timezone),
                ApiDispatcher(self.client, self.replay_options.api_timezone),
                self._replay_stop,
                self.replay_options,
                on_pass=self.metrics.observe_replay,
            ),
        )

    def _webhooks(self) -> None:
        options = webhook_options(self.settings)
        self._supervise(
            "webhooks",
            lambda: follow_deliveries(
                self.engine, self._replay_stop, options, on_attempt=self.metrics.observe_delivery
            ),
        )

    def _supervise(self, name: str, loop: Callable[[], None]) -> None:
        """Run a follow loop until the stop, restarted after an unexpected error (database losses it
        handles itself)."""
        failures = 0
        while not self._replay_stop.is_set():
            try:
                loop()
                return
            except Exception as exc:
                failures += 1
                delay = _RESTART_BACKOFF.delay_s(failures)
                log.error(f"daemon.{name}_failed", error=first_line(exc), retry_in_s=delay)
                self._replay_stop.wait(delay)

    def prune(self) -> None:
        """The retention job (leader only): changes and delivery logs older than
        `changes_retention_days`, except changes an enabled subscription has not been sent yet."""
        if not self.leadership.leading or self.jobs.stopping.is_set():
            return
        older_than = dt.datetime.now(dt.UTC) - dt.timedelta(days=self.settings.changes_retention_days)
        changes = deliveries = 0
        try:
            with self.engine.connect() as conn:
                keep_after = webhook_store.lowest_enabled_cursor(conn)
                while went := feed.prune_changes(conn, older_than, keep_after=keep_after):
                    conn.commit()
                    changes += went
                while went := webhook_store.prune_deliveries(conn, older_than):
                    conn.commit()
                    deliveries += went
                conn.commit()
        except DBAPIError as exc:
            log.warning("feed.prune_failed", error=first_line(exc.orig or exc))
            return
        log.info("feed.pruned", changes=changes, deliveries=deliveries, older_than=older_than.isoformat())

    def run(self) -> int:
        if self.health is not None:
            self.health.start()
            log.info("daemon.health_listening", host=self.settings.health_host, port=self.health.port)
        self.leadership.tick()  # a sole replica leads before its first jobs are due
        self.scheduler.start()
        self._replay_thread.start()
        self._webhooks_thread.start()
        log.info(
            "daemon.started",
            leading=self.leadership.leading,
            schedule={name: c.period_s for name, c in self.cadences.items()},
        )
        sd_notify("READY=1", f"STATUS={self._status_line()}")
        watchdog = watchdog_interval_s()
        next_ping = 0.0
        while not self.stop.is_set():
            self.leadership.tick()
            if watchdog is not None and time.monotonic() >= next_ping:
                sd_notify("WATCHDOG=1")
                next_ping = time.monotonic() + watchdog
            self.stop.wait(min(_TICK_S, watchdog or _TICK_S, self.settings.leader_poll_s))
        return self._shutdown()

    def _shutdown(self) -> int:
        timeout = self.settings.shutdown_timeout_s
        deadline = time.monotonic() + timeout
        sd_notify("STOPPING=1", "STATUS=stopping: finishing the current page and intents")
        log.info("daemon.stopping", timeout_s=timeout)
        self.scheduler.shutdown(wait=False)  # no new job starts from here on
        self._replay_stop.set()
        clean = self.jobs.stop(timeout)
        self._replay_thread.join(max(deadline - time.monotonic(), 0.0))
        self._webhooks_thread.join(max(deadline - time.monotonic(), 0.0))
        clean = clean and not self._replay_thread.is_alive() and not self._webhooks_thread.is_alive()
        self.leadership.release()
        if self.health is not None:
            self.health.close()
        if not clean:
            log.error("daemon.stop_timed_out", timeout_s=timeout)
            return EXIT_FAILED
        log.info("daemon.stopped")
        return EXIT_OK


# --- the command ------------------------------------------------------------------------------------


def install_signal_handlers(stop: threading.Event) -> None:
    """First SIGTERM/SIGINT: a graceful stop. Second: exit at once."""

    def handle(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            print(f"syncd: {name} again, exiting at once", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        log.info("daemon.signal", signal=name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)


def run_daemon(settings: Settings) -> int:
    """`syncd run`: refuses to start (SchemaBehind, one line) when the schema is behind."""
    from syncd.db import migrate
    from syncd.db.engine import open_database
    from syncd.memory import tune_allocator

    # Before the threads start and the first page is decoded: freed page buffers must go back, not
    # stay in the threads' arenas (RSS grew ~20-40 MB/min under `make soak`; see syncd/memory.py).
    tune_allocator()
    key = settings.require_api_key()
    stop = threading.Event()
    install_signal_handlers(stop)
    with open_database(settings, application_name="syncd-run") as database:
        migrate.require_current(database.engine)

        def client(on_response: OnResponse) -> ApiClient:
            return settings.api_client(api_key=key, on_response=on_response)

        try:
            daemon = Daemon(settings, database.engine, client, stop=stop)
        except DaemonError as exc:
            print(f"syncd: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            code = daemon.run()
        finally:
            daemon.client.close()
    if code != EXIT_OK:
        # Threads of an unfinished job would hold the interpreter open: leave now, the page is committed.
        os._exit(code)
    return code
