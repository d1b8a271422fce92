"""What a first sync costs PostgreSQL: database growth against the JSON the API served, and server CPU.

    python -m benchmarks.storage [--events 20000] [--seed 1] [--database-url URL] [--source DIR] [--json FILE]

Starts `syncd sandbox` with the given account, creates a scratch database on the server given
(default: an embedded server in a temporary data dir), migrates it (`syncd db upgrade` of the
checkout that syncs), records `pg_database_size`, runs
`syncd sync` (client rate limit off) and records the size again, the size of every table (with its
indexes and TOAST), the requests and the bytes of JSON the API served (the sandbox's call log: each answer's body size).

PostgreSQL's CPU: every backend of the scratch database is sampled from /proc while the sync runs
(user + system seconds, by backend type); the whole server's CPU over the sync (the postmaster, its
reaped and live children: `ScratchServer.cpu_s`, as `make bench` reads it) is exact as well. `--source DIR` runs the sync from another checkout of syncd
(`python -m syncd` with DIR first on sys.path; DIR/syncd/migrations must exist, a link to
DIR/migrations will do), to compare two versions on the same server.
Sizes, rows and bytes are deterministic; CPU seconds vary with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import REPO, ScratchServer, _proc_stat, run_timed, sandbox_process, scratch_server

TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = _proc_stat(pid)
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


class BackendSampler:
    """Samples the CPU of every backend connected to one database (by backend type) until stopped."""

    def __init__(self, conninfo: str, database: str) -> None:
        self.conninfo = conninfo
        self.database = database
        self.last: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="backend-sampler", daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            mine = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert mine is not None
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                    (self.database, mine[0]),
                ).fetchall()
                for pid, kind in rows:
                    cpu = _proc_cpu(int(pid))
                    if cpu is not None:
                        self.last[int(pid)] = (str(kind), cpu)
                time.sleep(0.05)

    def __enter__(self) -> BackendSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)

    def by_type(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for kind, cpu in self.last.values():
            totals[kind] = totals.get(kind, 0.0) + cpu
        return totals


def _wait_no_backends(server: ScratchServer, database: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                (database,),
            ).fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.05)
    time.sleep(0.3)  # the postmaster reaps the exited backend


SIZES = """
SELECT n.nspname || '.' || c.relname, c.relkind::text, pg_total_relation_size(c.oid),
       pg_relation_size(c.oid), coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname IN ('simplymeet', 'syncd') AND c.relkind IN ('r', 'm')
ORDER BY pg_total_relation_size(c.oid) DESC
"""


def measure(args: argparse.Namespace, server: ScratchServer, work: Path) -> dict[str, Any]:
    api_key, admin_token = secrets.token_hex(16), secrets.token_hex(16)
    name = f"syncd_storage_{args.events}"
    with sandbox_process(
        events=args.events,
        seed=args.seed,
        api_key=api_key,
        admin_token=admin_token,
        log_file=work / "sandbox.log",
        timeout_s=120,
    ) as sandbox:
        url = server.create_database(name)
        source = Path(args.source).resolve() if args.source else REPO
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.update(
            SYNCD_API_URL=sandbox.base_url,
            SYNCD_API_KEY=api_key,
            SYNCD_DATABASE_URL=url.render_as_string(hide_password=False),
            SYNCD_DATA_DIR=str(work / "data"),
            SYNCD_LOG_FORMAT="json",
            SYNCD_API_RATE_LIMIT_PER_S="0",
        )
        if args.source:
            env["PYTHONPATH"] = str(source)
        # Migrated by the same checkout that syncs (its own migrations, its own head). This tree's
        # editable install maps `syncd.migrations` here: another checkout must hold its own.
        where = subprocess.run(
            [sys.executable, "-c", "from syncd.db import migrate; print(migrate._script_location())"],
            env=env,
            cwd=source,
            capture_output=True,
            text=True,
        )
        if not Path(where.stdout.strip()).resolve().is_relative_to(source):
            raise SystemExit(
                f"{source}: its syncd.migrations resolves to {where.stdout.strip() or where.stderr}; "
                f"link it: ln -s ../migrations {source}/syncd/migrations"
            )
        migrated = subprocess.run(  # our own command, no shell
            [sys.executable, "-m", "syncd", "db", "upgrade"], env=env, cwd=source, capture_output=True
        )
        if migrated.returncode != 0:
            raise SystemExit(f"db upgrade failed: {migrated.stderr.decode(errors='replace')}")
        conninfo = server.conninfo(name)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            before = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert before is not None
        _wait_no_backends(server, name)
        server_before = server.cpu_s()
        sandbox.clear_calls()
        with BackendSampler(server.conninfo(), name) as sampler:
            child = run_timed(
                [sys.executable, "-m", "syncd", "sync"],
                env=env,
                timeout_s=args.timeout,
                stdout=work / "sync.out",
                stderr=work / "sync.log",
                what="first sync",
                cwd=source,
            )
            _wait_no_backends(server, name)
        if child.returncode != 0:
            raise SystemExit(f"the sync exited {child.returncode}: see {work / 'sync.log'}")
        server_after = server.cpu_s()
        calls = sandbox.calls()
        served = sum(
            call.get("bytes", 0) for call in calls
        )  # the body of every answer, as the call log has it
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
            after = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            assert after is not None
            tables = [
                {"table": r[0], "kind": r[1], "total": r[2], "heap": r[3], "toast": r[4]}
                for r in conn.execute(SIZES).fetchall()
            ]
            events = conn.execute("SELECT count(*) FROM simplymeet.events").fetchone()
            revision = conn.execute("SELECT version_num FROM syncd.alembic_version").fetchone()
        growth = int(after[0]) - int(before[0])
        return {
            "events": args.events,
            "mirrored_events": events[0] if events else None,
            "source": str(source),
            "schema_revision": revision[0] if revision else None,
            "server": server.server_version(),
            "embedded": server.embedded is not None,
            "requests": len(calls),
            "json_served_bytes": served,
            "db_size_before": int(before[0]),
            "db_size_after": int(after[0]),
            "growth_bytes": growth,
            "growth_over_json": round(growth / served, 4) if served else None,
            "tables": tables[:16],
            "sync_wall_s": round(child.wall_s, 2),
            "sync_cpu_s": round(child.cpu_user_s + child.cpu_system_s, 2),
            "pg_backend_cpu_s_sampled": {k: round(v, 2) for k, v in sampler.by_type().items()},
            "pg_server_cpu_s": (
                round(server_after - server_before, 2)
                if server_after is not None and server_before is not None
                else None
            ),
            "loadavg": os.getloadavg(),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="a server where databases may be created")
    parser.add_argument("--source", default=None, help="run the sync from this checkout of syncd")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", default=None, help="also write the result here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="syncd-storage-") as tmp:
        work = Path(tmp)
        with scratch_server(args.database_url, work) as server:
            result = measure(args, server, work)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
