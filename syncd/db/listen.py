"""LISTEN on PostgreSQL channels from a dedicated autocommit connection, for the loops that wake on NOTIFY.

A NOTIFY can be missed (sent while the listener reconnects), so every user of this also polls:
`wait` returns on a notification, a timeout or a stop, and the caller looks at the table either way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from syncd.retry import Backoff, first_line

log = structlog.get_logger(__name__)

_STOP_CHECK_S = 0.2  # the longest a stop waits to be noticed
_RECONNECT_MAX_S = 30.0
_RECONNECT = Backoff(0.5, _RECONNECT_MAX_S, jitter=0.0)  # 0.5 s, 1 s, 2 s ... up to 30 s


class Listener:
    """`listen()` (re)connects when needed; `wait()` blocks for a notification; `close()` ends it.

    `name` prefixes the log events (`replay.listening`, `webhooks.notified`).
    """

    def __init__(self, engine: Engine, *channels: str, name: str) -> None:
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.channels = channels
        self.name = name
        self.conn: psycopg.Connection[Any] | None = None

    def listen(self) -> None:
        if self.conn is not None and not self.conn.closed:
            return
        self.conn = psycopg.connect(
            self.conninfo, autocommit=True, application_name=f"syncd-{self.name}-listen", connect_timeout=10
        )
        for channel in self.channels:
            self.conn.execute(f"LISTEN {channel}")
        log.info(f"{self.name}.listening", channels=list(self.channels))

    def wait(self, timeout_s: float, stop: threading.Event) -> bool:
        """Until a notification (True), the timeout or a stop (False); drains what else is queued."""
        assert self.conn is not None
        deadline = time.monotonic() + timeout_s
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            got = list(self.conn.notifies(timeout=min(left, _STOP_CHECK_S), stop_after=1))
            if got:
                drained = list(self.conn.notifies(timeout=0.01))  # a burst of commits is one wake-up
                log.debug(f"{self.name}.notified", payload=got[0].payload, more=len(drained))
                return True
        return False

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None


def follow_notifications(
    engine: Engine, stop: threading.Event, *channels: str, name: str, one_pass: Callable[[], float]
) -> None:
    """Run `one_pass` until `stop` is set: again on every NOTIFY on `channels`, and at the latest
    after the seconds it returns (its sweep, since a NOTIFY can be missed). The listener is set up
    before each pass, so a commit during the pass still wakes the next one. A lost database
    connection is retried with backoff (0.5 s doubling, at most 30 s); a stop returns once the pass
    under way is done. Logs `<name>.database_lost` and `<name>.stopped`."""
    listener = Listener(engine, *channels, name=name)
    failures = 0
    try:
        while not stop.is_set():
            try:
                listener.listen()
                wait = one_pass()
                failures = 0
                listener.wait(max(wait, 0.0), stop)
            except (psycopg.OperationalError, DBAPIError) as exc:
                failures += 1
                delay = _RECONNECT.delay_s(failures)
                message = first_line(exc)
                log.warning(f"{name}.database_lost", error=message, retry_in_s=delay)
                listener.close()
                stop.wait(delay)
    finally:
        listener.close()
        log.info(f"{name}.stopped")
