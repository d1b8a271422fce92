"""Small helpers shared by the test rings (fixtures live in conftest.py)."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from syncd.api import ApiClient
from syncd.api.dispatcher import ApiDispatcher
from syncd.db.intent_queue import PostgresIntentQueue

REPO_ROOT = Path(__file__).resolve().parents[1]
CANARY_KEY = "canary-KEY-7c1d9e4b2a"


def url_for_env(url: URL) -> str:
    """A URL string for SYNCD_DATABASE_URL in a subprocess."""
    return url.render_as_string(hide_password=False)


def clean_env(extra: Mapping[str, str] | None = None, *, home: Path | None = None) -> dict[str, str]:
    """The environment a user's shell would give syncd: no SYNCD_* leaking in from the test run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNCD_")}
    if home is not None:
        env["HOME"] = str(home)
        env.pop("XDG_DATA_HOME", None)
    env.update(extra or {})
    return env


def run_syncd(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `syncd` command as a user would."""
    executable = Path(sys.executable).with_name("syncd")
    return subprocess.run(
        [str(executable), *args],
        env=dict(env) if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO_ROOT,
        check=False,
    )


@contextmanager
def sandbox_process(
    *, events: int, seed: int, api_key: str = CANARY_KEY, extra: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`syncd sandbox --port 0` as a user starts it; yields the process and its base URL, kills it after."""
    executable = Path(sys.executable).with_name("syncd")
    argv = [str(executable), "sandbox", "--port", "0", "--api-key", api_key, "--events", str(events)]
    process = subprocess.Popen(
        [*argv, "--seed", str(seed), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert found, f"the sandbox did not say where it listens: {first!r}"
        yield process, found.group(0)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes the pipes


class Clock:
    """A frozen clock for the sandbox and the engines; tests move it with `advance`."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def run_syncd_in_terminal(
    *args: str, env: Mapping[str, str], columns: int = 120, lines: int = 50, timeout: float = 120
) -> tuple[int, bytes]:
    """Run the installed `syncd` on a pseudo-terminal, as in a person's terminal (stdin, stdout and
    stderr all on it); returns the exit code and every byte it wrote, escape sequences included."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time

    executable = Path(sys.executable).with_name("syncd")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    terminal_env = {**env, "TERM": "xterm-256color", "COLUMNS": str(columns), "LINES": str(lines)}
    process = subprocess.Popen(
        [str(executable), *args], stdin=slave, stdout=slave, stderr=slave, env=terminal_env, cwd=REPO_ROOT
    )
    os.close(slave)
    written = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal and everything was read
                    break
                if not chunk:
                    break
                written += chunk
            elif process.poll() is not None:
                break
        else:
            raise AssertionError(f"syncd {' '.join(args)} did not finish within {timeout} s")
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        os.close(master)
    return process.returncode, bytes(written)


def terminal_screen(written: bytes, columns: int = 120, lines: int = 50) -> list[str]:
    """The screen `written` leaves on a terminal of that size: its lines, trailing blanks cut."""
    import pyte

    screen = pyte.Screen(columns, lines)
    pyte.ByteStream(screen).feed(written)
    shown = [line.rstrip() for line in screen.display]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def postgres_replay(
    engine: Engine, client: ApiClient, zone: str = "UTC"
) -> tuple[PostgresIntentQueue, ApiDispatcher]:
    """The replay engine's two seams as `syncd replay` wires them: the PostgreSQL queue, the API."""
    return PostgresIntentQueue(engine, zone), ApiDispatcher(client, zone)
