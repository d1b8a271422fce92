"""The dlt peer: what a user would pick instead of syncd, timed the way syncd is.

`benchmarks.dlt_child` (dlt's `rest_api` source, merge on `id`, the four lists) runs as a child
process against the benchmark's sandbox and a scratch database of its own on the same PostgreSQL
server: once for the first load, once more with nothing changed. Wall time from spawn to exit,
the child's CPU and peak RSS from `os.wait4`, the server's CPU around it, the sandbox's requests
and bytes served; after each run the events table must hold every event of the account.
dlt keeps its pipeline state and its files in a temporary dir (not ~/.dlt), telemetry off.
dlt is a bench-only extra (`pip install -e '.[bench]'`, which `make bench` does), never a
dependency of syncd.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import REPO, PhaseFailed, SandboxProcess, ScratchServer, phase_figures, run_timed

DATABASE = "syncd_bench_dlt"
DATASET = "simplymeet"


def dlt_version() -> str | None:
    """The installed dlt's version, or None when the bench extra is not installed."""
    try:
        return metadata.version("dlt")
    except metadata.PackageNotFoundError:
        return None


class DltPeer:
    def __init__(
        self,
        server: ScratchServer,
        sandbox: SandboxProcess,
        api_key: str,
        *,
        logs: Path,
        scratch: Path,
        events: int,
    ) -> None:
        """`logs`: where each run's stdout and stderr stay; `scratch`: dlt's files (a temporary dir)."""
        self.version = dlt_version()
        if self.version is None:
            raise PhaseFailed(
                "dlt is not installed: `make bench` installs the bench extra (.venv/bin/pip install -e"
                " '.[bench]'); or leave the peer out with --skip-dlt"
            )
        self.server = server
        self.sandbox = sandbox
        self.events = events
        self.logs = logs
        self.scratch = scratch
        logs.mkdir(parents=True, exist_ok=True)
        scratch.mkdir(parents=True, exist_ok=True)
        url = server.create_database(DATABASE)
        self.conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNCD_", "DLT_", "RUNTIME__"))}
        self.env.update(
            SYNCD_BENCH_API_KEY=api_key,
            RUNTIME__DLTHUB_TELEMETRY="false",
            RUNTIME__LOG_LEVEL="WARNING",
            DLT_DATA_DIR=str(scratch / "dlt-home"),  # dlt's global dir, instead of ~/.dlt
            DLT_PROJECT_DIR=str(scratch),  # no .dlt/ config of the checkout is read
        )

    def phase(self, name: str, timeout_s: float) -> dict[str, Any]:
        """One `pipeline.run` of the source; the events table checked after it."""
        self.sandbox.clear_calls()
        sandbox_before = self.sandbox.cpu_s()
        server_before = self.server.cpu_s()
        argv = [
            sys.executable,
            "-m",
            "benchmarks.dlt_child",
            "--base-url",
            self.sandbox.base_url,
            "--database-url",
            self.conninfo,
            "--pipelines-dir",
            str(self.scratch / "pipelines"),
            "--dataset",
            DATASET,
        ]
        child = run_timed(
            argv,
            env=self.env,
            timeout_s=timeout_s,
            stdout=self.logs / f"dlt-{name}.out",
            stderr=self.logs / f"dlt-{name}.log",
            what=f"dlt {name}",
            cwd=REPO,
        )
        server_after = self.server.cpu_s()
        sandbox_cpu = self.sandbox.cpu_s() - sandbox_before
        if child.returncode != 0:
            raise PhaseFailed(f"dlt {name} exited {child.returncode} (see {self.logs / f'dlt-{name}.log'})")
        rows = self.rows()
        if rows != self.events:
            raise PhaseFailed(f"dlt {name}: {rows} rows in {DATASET}.events, the sandbox has {self.events}")
        figures = phase_figures(
            child,
            self.sandbox.calls(),
            server_before=server_before,
            server_after=server_after,
            sandbox_cpu_s=sandbox_cpu,
        )
        return {**figures, "events_rows": rows}

    def rows(self) -> int:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            try:
                row = conn.execute(f"SELECT count(*) FROM {DATASET}.events").fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
        return int(row[0]) if row else 0

    def database_bytes(self) -> int:
        return self.server.database_size(DATABASE)
