"""`make bench`: syncd against dlt and a COPY anchor on one account, judged by issue 12's targets.

    python -m benchmarks [--events 20000] [--small-events 5000] [--seed 1] [--rate-limit off|N|default]
                         [--database-url URL] [--skip-dlt] [--skip-anchor] [--rate-limit-rounds 2]
                         [--[no-]default-limit-first-sync] [--baseline] [--profile] [--output PATH]

The sandbox runs in its own process; syncd runs as `syncd sync` in a child process (wall time and
its own peak RSS and CPU), and so do the dlt peer (benchmarks/dlt_peer.py) and the COPY anchor
(benchmarks/copy_anchor.py), all against the same sandbox and the same PostgreSQL server, each in
a fresh database of its own: an embedded server in a temporary data dir unless
SYNCD_BENCH_DATABASE_URL (or --database-url) names a server where databases may be created.
Exit 0 when every phase ran (targets missed are reported, not failed), 1 when one failed.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import logging
import os
import platform
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import text

from benchmarks import verdicts as targets
from benchmarks.baseline import run_baseline
from benchmarks.copy_anchor import run_anchor
from benchmarks.dlt_peer import DltPeer, dlt_version
from benchmarks.harness import (
    REPO,
    VENV_BIN,
    PhaseFailed,
    SandboxProcess,
    ScratchServer,
    columns,
    phase_figures,
    run_timed,
    sandbox_process,
    scratch_server,
    stop_on_sigterm,
)
from benchmarks.startup import TARGET_STARTUP_S, measure_startup
from syncd.db import migrate

DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "latest.json"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events in the sandbox (default 20000)")
    parser.add_argument(
        "--small-events",
        type=int,
        default=5_000,
        help="a second, smaller account for the memory-flatness figure (0: skip; default 5000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the sandbox's seed (default 1)")
    parser.add_argument(
        "--rate-limit",
        default="off",
        help="syncd's client-side request limit: off (default), N requests/s, or 'default' (syncd's own, unchanged)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SYNCD_BENCH_DATABASE_URL"),
        help="a server where scratch databases may be created [SYNCD_BENCH_DATABASE_URL]; default: embedded",
    )
    parser.add_argument(
        "--scratch-sql",
        default=None,
        metavar="SQL",
        help="SQL run in each syncd scratch database after migrating, before the clock starts (to"
        " measure a schema-level setting before it becomes a migration); recorded in the results",
    )
    parser.add_argument("--skip-dlt", action="store_true", help="do not run the dlt peer")
    parser.add_argument("--skip-anchor", action="store_true", help="do not run the COPY anchor")
    parser.add_argument(
        "--rate-limit-rounds",
        type=int,
        default=2,
        help="no-change syncs with syncd's default client limit and with it off, taken in turns,"
        " for the default-limit ratio (default 2 of each; 0 skips)",
    )
    parser.add_argument(
        "--default-limit-first-sync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a first sync of the account under syncd's default settings (client limit on), in a"
        " fresh database, its wall time stated (default: on)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run the naive baseline (ORM merge per event; slow, off by default)",
    )
    parser.add_argument("--skip-baseline", action="store_true", help=argparse.SUPPRESS)  # the default now
    parser.add_argument(
        "--baseline-budget", type=float, default=180.0, help="seconds the baseline may run (default 180)"
    )
    parser.add_argument("--dlt-timeout", type=float, default=900.0, help="seconds for one dlt run (900)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile an in-process first sync (cProfile) into benchmarks/results/profile.*",
    )
    parser.add_argument("--sync-timeout", type=float, default=600.0, help="seconds for a first sync (600)")
    parser.add_argument("--no-change-timeout", type=float, default=120.0, help="seconds for a no-change sync")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results file")
    args = parser.parse_args(argv)
    if args.rate_limit not in ("off", "default"):
        try:
            if float(args.rate_limit) <= 0:
                raise ValueError
        except ValueError:
            parser.error("--rate-limit must be off, default or a number of requests/s above 0")
    if args.events < 1 or args.small_events < 0:
        parser.error("--events must be at least 1 and --small-events at least 0")
    if args.rate_limit_rounds < 0:
        parser.error("--rate-limit-rounds must be at least 0")
    return args


# --- one account size ------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, server: ScratchServer, work: Path, scratch: Path) -> None:
        """`work`: the logs kept after the run; `scratch`: a temporary dir (dlt's files, the anchor's)."""
        self.args = args
        self.server = server
        self.work = work
        self.scratch = scratch
        self.api_key = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(16)

    def sync_argv(self) -> list[str]:
        return [str(VENV_BIN / "syncd"), "sync"]

    def size(self, events: int, *, main: bool) -> dict[str, Any]:
        log_dir = self.work / f"events-{events}"
        log_dir.mkdir(parents=True)
        step(f"sandbox with {events:,} events")
        with sandbox_process(
            events=events,
            seed=self.args.seed,
            api_key=self.api_key,
            admin_token=self.admin_token,
            log_file=log_dir / "sandbox.log",
            timeout_s=120,
        ) as sandbox:
            name = f"syncd_bench_{events}"
            url = self.server.create_database(name)
            engine = self.server.engine(url)
            database_url = url.render_as_string(hide_password=False)
            try:
                migrate.upgrade(engine)
                self.apply_scratch_sql(engine)
                migrated_bytes = self.server.database_size(name)
                env = self.sync_env(sandbox, database_url, log_dir)
                step(f"first sync of {events:,} events")
                first = self.sync_phase(sandbox, env, log_dir, "first", self.args.sync_timeout)
                self.check_rows(engine, events, "first sync")
                storage = targets.storage_summary(
                    migrated_bytes, self.server.database_size(name), first["json_bytes"]
                )
                first["events_per_s"] = events / first["wall_s"]
                first["engine"] = self.runs(engine)
                step("second sync, nothing changed")
                second = self.sync_phase(sandbox, env, log_dir, "no-change", self.args.no_change_timeout)
                second["engine"] = self.runs(engine, after_id=max(r["id"] for r in first["engine"]))
                result: dict[str, Any] = {
                    "events": events,
                    "first_sync": first,
                    "no_change_sync": second,
                    "storage": storage,
                }
                if main and self.args.rate_limit_rounds:
                    result["rate_limit"] = self.rate_limit_rounds(sandbox, database_url, log_dir)
            finally:
                engine.dispose()
            if main and not self.args.skip_dlt:
                result["dlt"] = self.dlt(sandbox, events, log_dir)
            if main and not self.args.skip_anchor:
                step("COPY anchor: the account's objects as JSON lines (untimed), then COPY into jsonb")
                result["anchor"] = run_anchor(
                    self.server,
                    sandbox.base_url,
                    self.api_key,
                    logs=log_dir / "anchor",
                    scratch=self.scratch,
                    timeout_s=self.args.sync_timeout,
                )
            if main and self.args.default_limit_first_sync:
                result["default_limit_first_sync"] = self.default_limit_first_sync(sandbox, events, log_dir)
            if main and self.args.baseline:
                result["baseline"] = self.baseline(sandbox)
            if main and self.args.profile:
                result["profile"] = self.profile(sandbox)
        return result

    def rate_limit_rounds(self, sandbox: SandboxProcess, database_url: str, log_dir: Path) -> dict[str, Any]:
        """No-change syncs at syncd's default client limit and with it off, in turns (issue 12)."""
        rounds = self.args.rate_limit_rounds
        step(f"no-change syncs, client limit at syncd's default and off, {rounds} of each in turns")
        found: dict[str, list[dict[str, Any]]] = {"default": [], "off": []}
        for number in range(1, rounds + 1):
            for limit in ("default", "off"):
                env = self.sync_env(sandbox, database_url, log_dir, rate_limit=limit)
                found[limit].append(
                    self.sync_phase(
                        sandbox,
                        env,
                        log_dir,
                        f"no-change-{limit}-limit-{number}",
                        self.args.no_change_timeout,
                    )
                )
        return {**targets.rate_limit_summary(found["off"], found["default"]), "phases": found}

    def dlt(self, sandbox: SandboxProcess, events: int, log_dir: Path) -> dict[str, Any]:
        peer = DltPeer(
            self.server,
            sandbox,
            self.api_key,
            logs=log_dir / "dlt",
            scratch=self.scratch / f"dlt-{events}",
            events=events,
        )
        step(f"dlt {peer.version}: rest_api merge of the four lists, first load")
        first = peer.phase("first", self.args.dlt_timeout)
        step("dlt: again, nothing changed")
        second = peer.phase("no-change", self.args.dlt_timeout)
        return {
            "version": peer.version,
            "first": first,
            "no_change": second,
            "database_bytes": peer.database_bytes(),
        }

    def default_limit_first_sync(self, sandbox: SandboxProcess, events: int, log_dir: Path) -> dict[str, Any]:
        step(f"first sync of {events:,} events under syncd's default settings (client limit on)")
        name = "syncd_bench_default_limit"
        url = self.server.create_database(name)
        engine = self.server.engine(url)
        try:
            migrate.upgrade(engine)
            self.apply_scratch_sql(engine)
            env = self.sync_env(
                sandbox, url.render_as_string(hide_password=False), log_dir, rate_limit="default"
            )
            phase = self.sync_phase(sandbox, env, log_dir, "first-default-limit", self.args.sync_timeout)
            self.check_rows(engine, events, "first sync under the default limit")
        finally:
            engine.dispose()
        return phase

    def apply_scratch_sql(self, engine: Any) -> None:
        if self.args.scratch_sql:
            with engine.connect() as conn:
                # The driver's own execute: no parameters, so several statements may be given at once.
                driver = conn.connection.driver_connection
                driver.execute(self.args.scratch_sql)
                driver.commit()

    def sync_env(
        self, sandbox: SandboxProcess, database_url: str, log_dir: Path, *, rate_limit: str | None = None
    ) -> dict[str, str]:
        """The child's environment; `rate_limit` (default: --rate-limit) is off, default or N a second."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.update(
            SYNCD_API_URL=sandbox.base_url,
            SYNCD_API_KEY=self.api_key,
            SYNCD_DATABASE_URL=database_url,
            SYNCD_DATA_DIR=str(log_dir / "data"),
            SYNCD_LOG_FORMAT="json",
            SYNCD_LOG_LEVEL="info",
        )
        limit = self.args.rate_limit if rate_limit is None else rate_limit
        # The client-side request limit (api_rate_limit_per_s): 0 switches it off; unset is syncd's default.
        if limit != "default":
            env["SYNCD_API_RATE_LIMIT_PER_S"] = "0" if limit == "off" else limit
        return env

    def sync_phase(
        self, sandbox: SandboxProcess, env: dict[str, str], log_dir: Path, name: str, timeout_s: float
    ) -> dict[str, Any]:
        sandbox.clear_calls()
        cpu_before = sandbox.cpu_s()
        server_before = self.server.cpu_s()
        child = run_timed(
            self.sync_argv(),
            env=env,
            timeout_s=timeout_s,
            stdout=log_dir / f"sync-{name}.out",
            stderr=log_dir / f"sync-{name}.log",
            what=f"{name} sync",
            cwd=REPO,
        )
        server_after = self.server.cpu_s()
        sandbox_cpu = sandbox.cpu_s() - cpu_before
        if child.returncode != 0:
            raise PhaseFailed(f"{name} sync exited {child.returncode} (see {log_dir / f'sync-{name}.log'})")
        figures = phase_figures(
            child,
            sandbox.calls(),
            server_before=server_before,
            server_after=server_after,
            sandbox_cpu_s=sandbox_cpu,
        )
        figures["event_list_requests"] = figures["requests_by_path"].get("/event/list", 0)
        return figures

    def check_rows(self, engine: Any, events: int, what: str) -> None:
        rows = self.rows(engine)
        if rows != events:
            raise PhaseFailed(f"{what}: {rows} live events in the mirror, the sandbox has {events}")

    @staticmethod
    def rows(engine: Any) -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM simplymeet.events WHERE deleted_at IS NULL")
                ).scalar_one()
            )

    @staticmethod
    def runs(engine: Any, after_id: int = 0) -> list[dict[str, Any]]:
        """syncd's own record of the runs: per resource, mode, status, requests, seconds."""
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, resource, mode, status, requests, pages, inserted, updated, unchanged,"
                    " extract(epoch FROM finished_at - started_at) AS seconds"
                    " FROM syncd.sync_runs WHERE id > :after ORDER BY id"
                ),
                {"after": after_id},
            ).mappings()
            return [{**row, "seconds": float(row["seconds"] or 0)} for row in rows]

    def baseline(self, sandbox: SandboxProcess) -> dict[str, Any]:
        step("naive baseline: sequential pages, ORM merge per event")
        engine = self.server.engine(self.server.create_database("syncd_bench_baseline"))
        try:
            migrate.upgrade(engine)
            result = run_baseline(engine, sandbox.base_url, self.api_key, budget_s=self.args.baseline_budget)
        finally:
            engine.dispose()
        return {
            "events": result.events,
            "pages": result.pages,
            "wall_s": result.wall_s,
            "events_per_s": result.events_per_s,
            "partial": result.partial,
        }

    def profile(self, sandbox: SandboxProcess) -> dict[str, Any]:
        from benchmarks.profile_sync import profile_first_sync

        step("profile: an in-process first sync under cProfile")
        engine = self.server.engine(self.server.create_database("syncd_bench_profile"))
        try:
            migrate.upgrade(engine)
            self.apply_scratch_sql(engine)
            found = profile_first_sync(engine, sandbox.base_url, self.api_key, self.args.output.parent)
        finally:
            engine.dispose()
        return {"wall_s": found.wall_s, "costs": found.costs, "decode": found.decode}


# --- report ----------------------------------------------------------------------------------------


def machine(server: ScratchServer) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": server.server_version(),
        "database": "embedded (temporary data dir)"
        if server.embedded is not None
        else "SYNCD_BENCH_DATABASE_URL",
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "",
        f"syncd benchmark  {results['date']}  {m['cores']} cores, Python {m['python']}, "
        f"PostgreSQL {m['postgresql']} ({m['database']}), load {m['load_average_at_start'][0]:.2f}",
        f"client rate limit: {results['settings']['rate_limit']}; sandbox, syncd and PostgreSQL share the cores",
        *(
            [f"scratch SQL: {results['settings']['scratch_sql']}"]
            if results["settings"]["scratch_sql"]
            else []
        ),
        "",
    ]
    header = (
        "size",
        "syncd phase",
        "wall s",
        "events/s",
        "requests",
        "peak RSS MB",
        "syncd CPU s",
        "PostgreSQL CPU s",
        "sandbox CPU s",
    )
    table: list[tuple[str, ...]] = [header]

    def phase_row(events: int, name: str, p: dict[str, Any]) -> tuple[str, ...]:
        return (
            f"{events:,}",
            name,
            f"{p['wall_s']:.2f}",
            f"{p['events_per_s']:,.0f}" if "events_per_s" in p else "-",
            str(p["requests"]),
            f"{p['peak_rss_mb']:.0f}",
            f"{p['cpu_user_s'] + p['cpu_system_s']:.1f}",
            "-" if p.get("server_cpu_s") is None else f"{p['server_cpu_s']:.1f}",
            f"{p['sandbox_cpu_s']:.1f}",
        )

    for size in results["sizes"]:
        n = size["events"]
        table.append(phase_row(n, "first sync", size["first_sync"]))
        table.append(phase_row(n, "no-change sync", size["no_change_sync"]))
        for limit in ("default", "off"):
            for number, p in enumerate(size.get("rate_limit", {}).get("phases", {}).get(limit, []), 1):
                table.append(phase_row(n, f"no-change, limit {limit} ({number})", p))
        if "default_limit_first_sync" in size:
            p = size["default_limit_first_sync"]
            table.append(phase_row(n, "first sync, default limit", {**p, "events_per_s": n / p["wall_s"]}))
        if "baseline" in size:
            b = size["baseline"]
            table.append(
                (
                    f"{b['events']:,}",
                    "naive baseline" + (" (partial)" if b["partial"] else ""),
                    f"{b['wall_s']:.2f}",
                    f"{b['events_per_s']:,.0f}",
                    str(b["pages"]),
                    "-",
                    "-",
                    "-",
                    "-",
                )
            )
    lines += columns(table)
    main = results["sizes"][-1]
    lines += ["", f"side by side, {main['events']:,} events, same sandbox and PostgreSQL server:"]
    lines += columns(targets.side_by_side(main))
    storage = main.get("storage")
    if storage and storage["growth_per_json_byte"] is not None:
        lines.append(
            f"storage: {storage['migrated_bytes'] / 1e6:,.1f} MB migrated, "
            f"{storage['after_first_sync_bytes'] / 1e6:,.1f} MB after the first sync (pg_database_size); "
            f"the API served {storage['json_served_bytes'] / 1e6:,.1f} MB of JSON in it"
        )
        others = [
            f"{what} {main[key]['database_bytes'] / 1e6:,.1f} MB"
            for what, key in (("dlt's", "dlt"), ("the COPY anchor's", "anchor"))
            if key in main
        ]
        if others:
            lines.append(
                f"whole databases for comparison (each includes an empty one's size): {', '.join(others)}"
            )
    profile = main.get("profile")
    if profile:
        lines += ["", f"profile of an in-process first sync ({profile['wall_s']:.1f} s under cProfile):"]
        lines += columns(
            [
                ("cost", "seconds", "calls"),
                *[(c["what"], f"{c['seconds']:.2f}", str(c["calls"])) for c in profile["costs"]],
            ]
        )
        d = profile["decode"]
        lines.append(
            f"JSON decode alone: {d['page_bytes'] / 1e6:.2f} MB a page of 100 events, "
            f"{d['decode_s_per_page'] * 1000:.1f} ms a page ({d['decode_mb_per_s']:.0f} MB/s)"
        )
    lines += [
        "",
        "issue 12's targets:",
        *columns(
            [
                ("figure", "measured", "target", ""),
                *[(v["figure"], v["value"], v["target"], targets.outcome(v)) for v in results["verdicts"]],
            ]
        ),
    ]
    return "\n".join(lines)


def step(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    # The profiled sync logs through structlog; only its warnings belong on the bench's output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    sizes = [args.events]
    if 0 < args.small_events < args.events:
        sizes.insert(0, args.small_events)
    # An installed syncd has its bytecode compiled (pip does it); an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would compile every module at each start, inside the timings.
    compileall.compile_dir(REPO / "syncd", quiet=1)
    started = time.perf_counter()
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        # First, while nothing of the benchmark's own (sandbox, PostgreSQL) is running yet.
        step("start-up: syncd --help and syncd version, 5 runs each")
        startup = measure_startup()
        with (
            tempfile.TemporaryDirectory(prefix="syncd-bench-") as tmp,
            scratch_server(args.database_url, Path(tmp)) as server,
        ):
            results: dict[str, Any] = {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": command.strip(),
                "machine": machine(server),
                "settings": {
                    "seed": args.seed,
                    "rate_limit": args.rate_limit,
                    "on_page": 100,
                    "scratch_sql": args.scratch_sql,
                    "dlt": None if args.skip_dlt else dlt_version(),
                    "copy_anchor": not args.skip_anchor,
                    "rate_limit_rounds": args.rate_limit_rounds,
                    "default_limit_first_sync": args.default_limit_first_sync,
                    "baseline": args.baseline,
                },
                "targets": {**targets.TARGETS, "startup_s": TARGET_STARTUP_S},
                "startup": startup,
            }
            logs = args.output.parent / "logs"  # kept after the run: the sync logs a failure points to
            shutil.rmtree(logs, ignore_errors=True)
            bench = Bench(args, server, logs, Path(tmp))
            results["sizes"] = [bench.size(n, main=n == args.events) for n in sizes]
            results["machine"]["load_average_at_end"] = os.getloadavg()
    except PhaseFailed as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 1
    results["verdicts"] = targets.verdicts(results)
    results["bench_wall_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(render(results))
    print(f"\nfigures written to {args.output}")
    return 0
