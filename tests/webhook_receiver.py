"""A real webhook receiver on 127.0.0.1 (a ThreadingHTTPServer in a thread) that records what it is
sent and can be told to fail or to answer slowly. The `receiver` fixture (tests/conftest.py) gives
each test one."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def change_id(self) -> int:
        return int(self.headers["webhook-id"].removeprefix("chg_"))


class Receiver:
    """Answers each POST with the next scripted status (then `status`), after `delay` seconds."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.script: list[int] = []
        self.headers: dict[str, str] = {}
        self.delay = 0.0
        self.body: bytes | None = None  # the answer's body (default: a short JSON, or "receiver says no")
        self.delay_only: str | None = None  # a path: only its requests are delayed
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                path = self.path
                with receiver.lock:
                    receiver.in_flight[path] = receiver.in_flight.get(path, 0) + 1
                    receiver.max_in_flight[path] = max(
                        receiver.max_in_flight.get(path, 0), receiver.in_flight[path]
                    )
                    status = receiver.script.pop(0) if receiver.script else receiver.status
                    extra = dict(receiver.headers)
                    delay = receiver.delay if receiver.delay_only in (None, path) else 0.0
                    answer = receiver.body
                try:
                    if delay:
                        time.sleep(delay)
                    with receiver.lock:
                        receiver.received.append(
                            Received(path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
                        )
                    if answer is None:
                        answer = b'{"ok": true}' if 200 <= status < 300 else b"receiver says no"
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with receiver.lock:
                        receiver.in_flight[path] -= 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def fail(self, times: int, status: int = 500) -> None:
        with self.lock:
            self.script = [status] * times

    def ids(self, path: str | None = None) -> list[int]:
        with self.lock:
            return [r.change_id for r in self.received if path is None or r.path == path]

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
