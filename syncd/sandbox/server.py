"""Serving the sandbox over real HTTP with uvicorn: blocking (`serve`) or in a thread (`running`)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import httpx
import structlog
import uvicorn

if TYPE_CHECKING:
    from syncd.sandbox.app import Sandbox

log = structlog.get_logger(__name__)

_DROP_MESSAGE = "ASGI callable returned without completing response."


class ListenError(Exception):
    """The sandbox cannot listen where it was asked (the port is taken, no such address); one line."""


class _QuietDrops(logging.Filter):
    """Our drop fault returns mid-response on purpose; uvicorn would log each one as an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _DROP_MESSAGE


def _config(sb: Sandbox, host: str, port: int, log_level: str) -> uvicorn.Config:
    error_logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietDrops) for f in error_logger.filters):
        error_logger.addFilter(_QuietDrops())
    # log_config=None: leave the application's logging alone; no access log unless asked.
    return uvicorn.Config(
        sb.asgi, host=host, port=port, log_config=None, log_level=log_level, access_log=False, lifespan="on"
    )


class _StoppableServer(uvicorn.Server):
    """uvicorn re-raises the signal it caught after shutting down; a stopped sandbox should just return.

    The first SIGINT/SIGTERM drains and stops; a second one stops at once.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: object) -> None:
            if self.should_exit:
                self.force_exit = True
            self.should_exit = True

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _bind(host: str, port: int) -> tuple[socket.socket, str]:
    """Bind before uvicorn starts, so port 0 gives a known free port; returns the socket and base URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without, small answers wait ~40 ms (Nagle vs delayed ACK).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        # Listening now, not when uvicorn starts: a client told the URL may connect at once (it queues).
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    url_host = f"[{host}]" if ":" in host else host
    return sock, f"http://{url_host}:{sock.getsockname()[1]}"


def serve(
    sb: Sandbox,
    host: str = "127.0.0.1",
    port: int = 8080,
    log_level: str = "warning",
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM, then return; `on_listening(base_url)` is called once bound.

    Raises ListenError, before anything starts, when the address cannot be bound."""
    sock, base_url = _bind(host, port)
    log.info("sandbox.starting", url=base_url, events=len(sb.world.events), seed=sb.world.seed)
    if on_listening is not None:
        on_listening(base_url)
    try:
        _StoppableServer(_config(sb, host, sock.getsockname()[1], log_level)).run(sockets=[sock])
    finally:
        sock.close()
        log.info("sandbox.stopped", url=base_url)


@contextmanager
def running(
    sb: Sandbox, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", timeout_s: float = 10.0
) -> Iterator[str]:
    """uvicorn in a daemon thread; yields the base URL once /_sandbox/health answers."""
    sock, base_url = _bind(host, port)
    server = _StoppableServer(_config(sb, host, sock.getsockname()[1], log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="sandbox-uvicorn", daemon=True
    )
    thread.start()
    try:
        _wait_ready(server, thread, base_url, timeout_s)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout_s)
        sock.close()


def _wait_ready(server: uvicorn.Server, thread: threading.Thread, base_url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"sandbox server at {base_url} exited during startup")
        if server.started:
            try:
                if httpx.get(f"{base_url}/_sandbox/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        time.sleep(0.01)
    raise TimeoutError(f"sandbox server at {base_url} did not answer within {timeout_s}s")
