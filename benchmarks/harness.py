"""The benchmark's moving parts: the sandbox process, timed child processes, scratch databases.

Every piece is a context manager that cleans up after itself (the sandbox is stopped, scratch
databases are dropped, the embedded server is left), and every wait has a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from syncd.db.embedded import EmbeddedServer, start_embedded, stop_embedded
from syncd.db.engine import make_engine
from syncd.db.url import parse_database_url

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


class PhaseFailed(RuntimeError):
    """A phase did not finish, or finished wrong; the message says which and why."""


# --- child processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: its exit code, wall time and its own peak RSS (from wait4)."""

    returncode: int
    wall_s: float
    peak_rss_mb: float
    cpu_user_s: float
    cpu_system_s: float


def phase_figures(
    child: ChildRun,
    calls: list[dict[str, Any]],
    *,
    server_before: float | None,
    server_after: float | None,
    sandbox_cpu_s: float,
) -> dict[str, Any]:
    """What every timed child phase (a syncd sync, a dlt run) reports: its own wall time, peak RSS and
    CPU (wait4); the server's whole CPU over the phase (backends, autovacuum, checkpointer; None when
    the server is not local); the sandbox's CPU; and the sandbox's call log: requests, JSON bytes
    served, requests by path."""
    paths = Counter(call["path"].removeprefix("/panel/api") for call in calls)
    return {
        "wall_s": child.wall_s,
        "peak_rss_mb": child.peak_rss_mb,
        "cpu_user_s": child.cpu_user_s,
        "cpu_system_s": child.cpu_system_s,
        "server_cpu_s": None
        if server_before is None or server_after is None
        else server_after - server_before,
        "sandbox_cpu_s": sandbox_cpu_s,
        "requests": len(calls),
        "requests_not_2xx": sum(1 for call in calls if not 200 <= call["status"] < 300),
        "json_bytes": sum(call.get("bytes", 0) for call in calls),
        "requests_by_path": dict(paths.most_common()),
    }


def run_timed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout_s: float,
    stdout: Path,
    stderr: Path,
    what: str,
    cwd: Path | None = None,
) -> ChildRun:
    """Run a child to its end (killed at the deadline) and measure it alone.

    `os.wait4` reports the rusage of this one child, unlike RUSAGE_CHILDREN, whose peak RSS is the
    largest of every child reaped so far (the sandbox included).
    """
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=err)  # noqa: S603  # our own commands, no shell
        deadline = started + timeout_s
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                wall = time.perf_counter() - started
                break
            if time.perf_counter() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                process.returncode = -signal.SIGKILL
                raise PhaseFailed(f"{what}: no result after {timeout_s:.0f} s, killed (see {stderr})")
            time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    # ru_maxrss is in kilobytes on Linux.
    return ChildRun(
        returncode=process.returncode,
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_user_s=usage.ru_utime,
        cpu_system_s=usage.ru_stime,
    )


# --- the sandbox -----------------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s]+")


@dataclass
class SandboxProcess:
    base_url: str  # what SYNCD_API_URL takes: no /panel/api
    api_key: str
    admin_token: str
    process: subprocess.Popen[bytes]

    def _admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"X-SANDBOX-TOKEN": self.admin_token}, timeout=30.0
        )

    def calls(self) -> list[dict[str, Any]]:
        """The sandbox's log of `/panel/api` requests since the last `clear_calls()`."""
        with self._admin() as admin:
            answer = admin.get("/_sandbox/calls")
            answer.raise_for_status()
            calls: list[dict[str, Any]] = answer.json()
            return calls

    def clear_calls(self) -> None:
        with self._admin() as admin:
            admin.delete("/_sandbox/calls").raise_for_status()

    def cpu_s(self) -> float:
        """CPU the sandbox process has used so far (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


@contextmanager
def sandbox_process(
    *, events: int, seed: int, api_key: str, admin_token: str, log_file: Path, timeout_s: float
) -> Iterator[SandboxProcess]:
    """`syncd sandbox --port 0` in its own process (its CPU is not ours); stopped on exit, whatever happens."""
    argv = [
        str(Path(sys.executable).with_name("syncd")),
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--api-key",
        api_key,
        "--events",
        str(events),
        "--seed",
        str(seed),
        "--admin-token",
        admin_token,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
    env["SYNCD_LOG_FORMAT"] = "json"
    with log_file.open("wb") as log:
        process = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=log)  # noqa: S603  # our own command, no shell
        try:
            first_line = _first_line(process, timeout_s)
            found = _URL.search(first_line)
            if found is None:
                raise PhaseFailed(f"sandbox: no URL in its first line {first_line!r} (see {log_file})")
            base_url = found.group(0).removesuffix("/panel/api").rstrip("/")
            yield SandboxProcess(base_url, api_key, admin_token, process)
        finally:
            _stop(process)


def _first_line(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The first stdout line (the URL); the rest is drained in the background so the pipe never fills."""
    assert process.stdout is not None
    stream = process.stdout
    lines: list[bytes] = []
    got = threading.Event()

    def drain() -> None:
        for line in stream:
            if not lines:
                lines.append(line)
                got.set()
        got.set()

    threading.Thread(target=drain, name="sandbox-stdout", daemon=True).start()
    if not got.wait(timeout_s) or not lines:
        raise PhaseFailed(f"sandbox: did not print its URL within {timeout_s:.0f} s (exit {process.poll()})")
    return lines[0].decode(errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the sandbox drains and exits 0
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


# --- databases -------------------------------------------------------------------------------------


@dataclass
class ScratchServer:
    """A PostgreSQL server on which the benchmark creates (and drops) its own databases."""

    admin_url: URL
    embedded: EmbeddedServer | None
    created: list[str]
    _postmaster: int | None = None  # 0: looked for, not found

    def conninfo(self, database: str | None = None) -> str:
        url = self.admin_url if database is None else self.admin_url.set(database=database)
        return url.set(drivername="postgresql").render_as_string(hide_password=False)

    def create_database(self, name: str) -> URL:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return self.admin_url.set(database=name)

    def engine(self, url: URL) -> Engine:
        return make_engine(url, application_name="syncd-bench")

    def server_version(self) -> str:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            assert row is not None
            return str(row[0])

    def database_size(self, database: str) -> int:
        """`pg_database_size` in bytes (the files of its relations; no WAL)."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_database_size(%s)", (database,)).fetchone()
            assert row is not None
            return int(row[0])

    def postmaster_pid(self) -> int | None:
        """The server's postmaster, when it runs on this machine and /proc shows it; else None.

        Found as the parent of our own backend (`pg_backend_pid()`), and believed only if both
        processes are PostgreSQL's: a remote server's backend pid means nothing here.
        """
        if self._postmaster is None:
            with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None
                backend = int(row[0])
                try:
                    parent = int(_proc_stat(backend)[1])
                    names = {_proc_comm(backend), _proc_comm(parent)}
                except (OSError, ValueError, IndexError):
                    self._postmaster = 0
                else:
                    self._postmaster = parent if names <= {"postgres", "postmaster"} else 0
        return self._postmaster or None

    def cpu_s(self) -> float | None:
        """CPU the whole server has used so far (user + system): the postmaster with every child
        it has reaped (exited backends, autovacuum workers) and every child alive now. None when the
        server is not local (see `postmaster_pid`). Differences of two readings are the figure."""
        pid = self.postmaster_pid()
        return None if pid is None else process_tree_cpu_s(pid)

    def drop_created(self) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            for name in self.created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.created.clear()


@contextmanager
def scratch_server(database_url: str | None, work_dir: Path) -> Iterator[ScratchServer]:
    """The server given by `database_url` (databases created on it must be allowed), else an embedded
    one in a temporary data dir. Scratch databases are dropped and the embedded server left on exit."""
    if database_url:
        server = ScratchServer(parse_database_url(database_url), None, [])
        try:
            yield server
        finally:
            server.drop_created()
        return
    data_dir = Path(tempfile.mkdtemp(prefix="syncd-bench-pg-", dir=work_dir))
    embedded = start_embedded(data_dir)
    server = ScratchServer(embedded.url(database="postgres"), embedded, [])
    try:
        yield server
    finally:
        try:
            server.drop_created()
        finally:
            stop_embedded(embedded, delete=True)  # as root its data is under /var/lib/syncd
            shutil.rmtree(data_dir, ignore_errors=True)


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name: [state, ppid, ...]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _proc_comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def process_tree_cpu_s(pid: int) -> float:
    """utime + stime + cutime + cstime of `pid` and of each of its live children, in seconds.

    The children are read first: one that exits and is reaped in between is counted twice, never
    missed (a few milliseconds at worst, the CPU of a backend's last moment).
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or entry.name == str(pid):
            continue
        try:
            fields = _proc_stat(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if fields[1] == str(pid):
            total += sum(int(f) for f in fields[11:15])
    fields = _proc_stat(pid)
    total += sum(int(f) for f in fields[11:15])
    return total / ticks


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as left-aligned text columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the context managers: sandbox stopped, server left
