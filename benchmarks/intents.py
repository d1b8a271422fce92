"""`make bench-intents`: write-back throughput (intents/s) and `--follow` INSERT-to-API latency.

    python -m benchmarks.intents [--intents 1000] [--per-event 5] [--follow-intents 50]
                                 [--follow-interval-ms 100] [--events N] [--seed 1]
                                 [--database-url URL] [--output PATH]

The sandbox (zero latency) runs in its own process; syncd runs as the real `syncd replay` and
`syncd replay --follow` commands in child processes; the database is a fresh scratch one, migrated
and filled by one `syncd sync` before the clock starts. Phases:

1. **distinct**: `--intents` notes intents, one per event, then one timed `syncd replay`.
2. **per-event**: as many notes intents over `--intents / --per-event` events, inserted round-robin
   (each event's intents interleaved with the others'), so each event's intents must go one after
   another: per-event ordering's cost.
3. **follow**: `syncd replay --follow` running, `--follow-intents` single INSERTs (each its own
   transaction) one every `--follow-interval-ms`; INSERT-to-API latency is the time from the
   INSERT's commit to the sandbox's call-log timestamp of that event's notes call (one clock: same
   machine). The follower is then stopped with SIGTERM and must exit 0.

Every phase checks its outcome: all intents succeeded, the sandbox and the mirror hold the last
notes of every event (read-your-writes), the requests the sandbox saw. Exit 0 when every phase ran
and checked out, 1 otherwise.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg.types.json import Jsonb

from benchmarks.harness import (
    REPO,
    VENV_BIN,
    PhaseFailed,
    SandboxProcess,
    ScratchServer,
    columns,
    run_timed,
    sandbox_process,
    scratch_server,
    stop_on_sigterm,
)
from benchmarks.run import machine
from syncd.db import migrate

DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "intents.json"
NOTES_PATH = "/panel/api/event/notes/"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.intents", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--intents", type=int, default=1_000, help="notes intents per replay phase (1000)")
    parser.add_argument(
        "--per-event", type=int, default=5, help="intents per event in the per-event phase (5; 0 skips it)"
    )
    parser.add_argument("--follow-intents", type=int, default=50, help="single INSERTs under --follow (50)")
    parser.add_argument(
        "--follow-interval-ms", type=float, default=100.0, help="milliseconds between them (100)"
    )
    parser.add_argument(
        "--events", type=int, default=0, help="events in the sandbox (default: --intents, at least 200)"
    )
    parser.add_argument("--seed", type=int, default=1, help="the sandbox's seed (1)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="SYNCD_REPLAY_CONCURRENCY for the replays (default: syncd's own setting)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("SYNCD_BENCH_DATABASE_URL"),
        help="a server where scratch databases may be created [SYNCD_BENCH_DATABASE_URL]; default: embedded",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile an in-process pass (one worker, cProfile) into benchmarks/results/profile-intents.*",
    )
    parser.add_argument("--replay-timeout", type=float, default=600.0, help="seconds for one replay (600)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the JSON results file")
    args = parser.parse_args(argv)
    if args.intents < 1 or args.per_event < 0 or args.follow_intents < 0:
        parser.error("--intents must be at least 1, --per-event and --follow-intents at least 0")
    args.events = args.events or max(args.intents, 200)
    if args.events < args.intents:
        parser.error("--events must be at least --intents (the distinct phase needs one event per intent)")
    return args


class IntentsBench:
    def __init__(self, args: argparse.Namespace, server: ScratchServer, work: Path) -> None:
        self.args = args
        self.server = server
        self.work = work
        self.api_key = secrets.token_hex(16)
        self.admin_token = secrets.token_hex(16)
        self.run_tag = secrets.token_hex(4)  # notes texts differ from any earlier run's

    def run(self) -> dict[str, Any]:
        self.work.mkdir(parents=True, exist_ok=True)
        step(f"sandbox with {self.args.events:,} events (zero latency)")
        with sandbox_process(
            events=self.args.events,
            seed=self.args.seed,
            api_key=self.api_key,
            admin_token=self.admin_token,
            log_file=self.work / "sandbox.log",
            timeout_s=120,
        ) as sandbox:
            url = self.server.create_database("syncd_bench_intents")
            engine = self.server.engine(url)
            try:
                migrate.upgrade(engine)
            finally:
                engine.dispose()
            self.conninfo = self.server.conninfo("syncd_bench_intents")
            self.env = self.syncd_env(sandbox, url.render_as_string(hide_password=False))
            step("one syncd sync, so the mirror knows the events")
            synced = run_timed(
                [str(VENV_BIN / "syncd"), "sync"],
                env=self.env,
                timeout_s=600,
                stdout=self.work / "sync.out",
                stderr=self.work / "sync.log",
                what="sync",
                cwd=REPO,
            )
            if synced.returncode != 0:
                raise PhaseFailed(f"sync exited {synced.returncode} (see {self.work / 'sync.log'})")
            events = self.event_ids()
            if len(events) < self.args.intents:
                raise PhaseFailed(f"the mirror has {len(events)} events, {self.args.intents} needed")
            results: dict[str, Any] = {"sync_wall_s": synced.wall_s, "phases": []}
            step(f"distinct: {self.args.intents:,} notes intents on as many events, one syncd replay")
            targets = events[: self.args.intents]
            results["phases"].append(self.replay_phase(sandbox, "distinct", targets))
            if self.args.per_event:
                spread = max(self.args.intents // self.args.per_event, 1)
                step(
                    f"per-event: {self.args.intents:,} notes intents on {spread:,} events "
                    f"({self.args.per_event} each, interleaved), one syncd replay"
                )
                round_robin = [events[i % spread] for i in range(self.args.intents)]
                results["phases"].append(self.replay_phase(sandbox, "per-event", round_robin))
            if self.args.profile:
                step(f"profile: {self.args.intents:,} notes intents, an in-process pass under cProfile")
                results["profile"] = self.profile_phase(sandbox, events[: self.args.intents])
            if self.args.follow_intents:
                step(
                    f"follow: {self.args.follow_intents} single INSERTs, one every "
                    f"{self.args.follow_interval_ms:.0f} ms, under syncd replay --follow"
                )
                results["follow"] = self.follow_phase(sandbox, events)
        return results

    def syncd_env(self, sandbox: SandboxProcess, database_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.update(
            SYNCD_API_URL=sandbox.base_url,
            SYNCD_API_KEY=self.api_key,
            SYNCD_DATABASE_URL=database_url,
            SYNCD_DATA_DIR=str(self.work / "data"),
            SYNCD_LOG_FORMAT="json",
            SYNCD_LOG_LEVEL="info",
            SYNCD_API_RATE_LIMIT_PER_S="0",  # the client-side request limit off
        )
        if self.args.concurrency:
            env["SYNCD_REPLAY_CONCURRENCY"] = str(self.args.concurrency)
        return env

    # -- the database, directly (psycopg, autocommit unless said) ------------------------------------

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, autocommit=True, application_name="syncd-bench-intents")

    def event_ids(self) -> list[int]:
        with self.connect() as conn:
            rows = conn.execute("SELECT id FROM simplymeet.events WHERE deleted_at IS NULL ORDER BY id")
            return [int(row[0]) for row in rows]

    def insert_intents(self, phase: str, event_ids: list[int]) -> list[tuple[int, int, str]]:
        """(intent id, event id, notes) in insertion order; one transaction (the clock is not running)."""
        rows = [(event_id, f"bench {self.run_tag} {phase} #{n}") for n, event_id in enumerate(event_ids)]
        inserted: list[tuple[int, int, str]] = []
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            for event_id, notes in rows:
                cur.execute(
                    "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                    "VALUES ('notes', %s, %s) RETURNING id",
                    (event_id, Jsonb({"notes": notes})),
                )
                found = cur.fetchone()
                assert found is not None
                inserted.append((int(found[0]), event_id, notes))
        return inserted

    def statuses(self, intent_ids: list[int]) -> Counter[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT status FROM syncd.write_intents WHERE id = ANY(%s)", (intent_ids,)
            ).fetchall()
        return Counter(str(row[0]) for row in rows)

    def mirror_notes(self, event_ids: list[int]) -> dict[int, str | None]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT id, notes FROM simplymeet.events WHERE id = ANY(%s)", (event_ids,)
            ).fetchall()
        return {int(row[0]): row[1] for row in rows}

    # -- phases ------------------------------------------------------------------------------------

    def replay_phase(self, sandbox: SandboxProcess, name: str, event_ids: list[int]) -> dict[str, Any]:
        inserted = self.insert_intents(name, event_ids)
        ids = [intent_id for intent_id, _, _ in inserted]
        sandbox.clear_calls()
        cpu_before = sandbox.cpu_s()
        child = run_timed(
            [str(VENV_BIN / "syncd"), "replay"],
            env=self.env,
            timeout_s=self.args.replay_timeout,
            stdout=self.work / f"replay-{name}.out",
            stderr=self.work / f"replay-{name}.log",
            what=f"{name} replay",
            cwd=REPO,
        )
        sandbox_cpu = sandbox.cpu_s() - cpu_before
        if child.returncode != 0:
            raise PhaseFailed(
                f"{name} replay exited {child.returncode} (see {self.work / f'replay-{name}.log'})"
            )
        statuses = self.statuses(ids)
        if statuses != Counter({"succeeded": len(ids)}):
            raise PhaseFailed(f"{name}: statuses after the replay {dict(statuses)}, expected all succeeded")
        calls = sandbox.calls()
        by_path = Counter(_path_kind(call["path"]) for call in calls)
        not_2xx = sum(1 for call in calls if not 200 <= call["status"] < 300)
        # Per-event order: the last intent of each event is what the API and the mirror hold now.
        last = {event_id: notes for _, event_id, notes in inserted}
        mirrored = self.mirror_notes(list(last))
        stale = sum(1 for event_id, notes in last.items() if mirrored.get(event_id) != notes)
        if stale:
            raise PhaseFailed(f"{name}: {stale} events' mirror rows do not hold their last intent's notes")
        notes_calls = [call for call in calls if call["path"].startswith(NOTES_PATH)]
        order_ok = self.calls_in_order(inserted, notes_calls)
        if not order_ok:
            raise PhaseFailed(f"{name}: an event's notes calls were not in insertion order")
        return {
            "phase": name,
            "intents": len(ids),
            "events": len(last),
            "wall_s": child.wall_s,
            "intents_per_s": len(ids) / child.wall_s,
            "engine": self.engine_span(ids),
            "peak_rss_mb": child.peak_rss_mb,
            "cpu_user_s": child.cpu_user_s,
            "cpu_system_s": child.cpu_system_s,
            "sandbox_cpu_s": sandbox_cpu,
            "requests": len(calls),
            "requests_not_2xx": not_2xx,
            "requests_by_kind": dict(by_path.most_common()),
            "succeeded": statuses["succeeded"],
            "mirror_current": True,
            "per_event_order_kept": order_ok,
        }

    def calls_in_order(self, inserted: list[tuple[int, int, str]], notes_calls: list[dict[str, Any]]) -> bool:
        """One notes call per intent, and per event no intent's call started before an older one finished."""
        expected = Counter(event_id for _, event_id, _ in inserted)
        seen = Counter(int(call["path"].rsplit("/", 1)[1]) for call in notes_calls)
        if seen != expected:
            return False
        with self.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM syncd.write_intents AS older"
                " JOIN syncd.write_intents AS newer ON newer.event_id = older.event_id AND newer.id > older.id"
                " JOIN syncd.intent_attempts AS a ON a.intent_id = newer.id"
                " WHERE older.id = ANY(%(ids)s) AND newer.id = ANY(%(ids)s) AND a.started_at < older.finished_at",
                {"ids": [intent_id for intent_id, _, _ in inserted]},
            ).fetchone()
        assert row is not None
        return int(row[0]) == 0

    def engine_span(self, intent_ids: list[int]) -> dict[str, float]:
        """The database's view: first claim to last finish (excludes start-up, imports, connecting)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM max(w.finished_at) - min(a.started_at))::float8,"
                " max(a.attempt)"
                " FROM syncd.write_intents AS w JOIN syncd.intent_attempts AS a ON a.intent_id = w.id"
                " WHERE w.id = ANY(%s)",
                (intent_ids,),
            ).fetchone()
        assert row is not None
        span = float(row[0] or 0.0)
        return {"claim_to_finish_s": span, "intents_per_s": len(intent_ids) / span if span else 0.0}

    def follow_phase(self, sandbox: SandboxProcess, events: list[int]) -> dict[str, Any]:
        log_file = self.work / "replay-follow.log"
        with log_file.open("wb") as err, (self.work / "replay-follow.out").open("wb") as out:
            process = subprocess.Popen(  # noqa: S603  # our own command, no shell
                [str(VENV_BIN / "syncd"), "replay", "--follow"],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=err,
            )
            try:
                self.wait_for_log(process, log_file, "replay.listening", 60)
                time.sleep(0.5)  # the first (empty) pass is over
                sandbox.clear_calls()
                targets = events[: self.args.follow_intents]
                committed: dict[int, dt.datetime] = {}
                ids: list[int] = []
                with self.connect() as conn:
                    for n, event_id in enumerate(targets):
                        found = conn.execute(
                            "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                            "VALUES ('notes', %s, %s) RETURNING id",
                            (event_id, Jsonb({"notes": f"bench {self.run_tag} follow #{n}"})),
                        ).fetchone()  # autocommit: committed when execute returns
                        committed[event_id] = dt.datetime.now(dt.UTC)
                        assert found is not None
                        ids.append(int(found[0]))
                        time.sleep(self.args.follow_interval_ms / 1000)
                deadline = time.monotonic() + 60
                while self.statuses(ids)["succeeded"] < len(ids):
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise PhaseFailed(
                            f"follow: not all succeeded within 60 s: {dict(self.statuses(ids))}"
                        )
                    time.sleep(0.05)
                calls = sandbox.calls()
            finally:
                stopped_at = time.perf_counter()
                process.send_signal(signal.SIGTERM)
                try:
                    code = process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
                    raise PhaseFailed(
                        "follow: syncd replay --follow did not stop within 30 s of SIGTERM"
                    ) from None
                stop_s = time.perf_counter() - stopped_at
        if code != 0:
            raise PhaseFailed(f"follow: syncd replay --follow exited {code} after SIGTERM (see {log_file})")
        to_api: list[float] = []
        for call in calls:
            if call["method"] == "PUT" and call["path"].startswith(NOTES_PATH):
                event_id = int(call["path"].rsplit("/", 1)[1])
                if event_id in committed:
                    at = dt.datetime.fromisoformat(call["at"])
                    to_api.append((at - committed.pop(event_id)).total_seconds() * 1000)
        if committed:
            raise PhaseFailed(f"follow: no notes call in the sandbox's log for {len(committed)} intents")
        to_done = self.insert_to_finish_ms(ids)
        return {
            "intents": len(ids),
            "interval_ms": self.args.follow_interval_ms,
            "insert_to_api_ms": _percentiles(to_api),
            "insert_to_succeeded_ms": _percentiles(to_done),
            "requests": len(calls),
            "sigterm_exit": code,
            "sigterm_to_exit_s": stop_s,
        }

    def profile_phase(self, sandbox: SandboxProcess, event_ids: list[int]) -> dict[str, Any]:
        """`replay_once` in this process with one worker (cProfile sees only its own thread)."""
        import cProfile
        import io
        import pstats

        from syncd.api import ApiClient
        from syncd.api.dispatcher import ApiDispatcher
        from syncd.db.intent_queue import PostgresIntentQueue
        from syncd.replay import ReplayOptions, replay_once

        inserted = self.insert_intents("profile", event_ids)
        engine = self.server.engine(self.server.admin_url.set(database="syncd_bench_intents"))
        profiler = cProfile.Profile()
        try:
            with ApiClient(sandbox.base_url, self.api_key, rate_limit_per_s=None) as client:
                started = time.perf_counter()
                profiler.enable()
                summary = replay_once(
                    PostgresIntentQueue(engine), ApiDispatcher(client), ReplayOptions(concurrency=1)
                )
                profiler.disable()
                wall = time.perf_counter() - started
        finally:
            engine.dispose()
        if len(summary.succeeded) != len(inserted):
            raise PhaseFailed(f"profile: {len(summary.succeeded)} of {len(inserted)} succeeded")
        out = self.args.output.parent
        profiler.dump_stats(out / "profile-intents.pstats")
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)
        (out / "profile-intents.txt").write_text(buffer.getvalue())
        return {"intents": len(inserted), "wall_s": wall, "intents_per_s": len(inserted) / wall}

    def insert_to_finish_ms(self, intent_ids: list[int]) -> list[float]:
        """created_at (the INSERT's transaction start) to finished_at, both the database's clock."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT extract(epoch FROM finished_at - created_at)::float8 * 1000"
                " FROM syncd.write_intents WHERE id = ANY(%s)",
                (intent_ids,),
            ).fetchall()
        return [float(row[0]) for row in rows]

    @staticmethod
    def wait_for_log(process: subprocess.Popen[bytes], log_file: Path, event: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if event in log_file.read_text(errors="replace"):
                return
            if process.poll() is not None:
                raise PhaseFailed(
                    f"follow: syncd replay --follow exited {process.returncode} (see {log_file})"
                )
            time.sleep(0.05)
        raise PhaseFailed(f"follow: no {event} in {log_file} within {timeout_s:.0f} s")


def _path_kind(path: str) -> str:
    """`PUT /event/notes/{id}` → `/event/notes/{id}`: requests counted by route, not by event."""
    path = path.removeprefix("/panel/api")
    head, _, last = path.rpartition("/")
    return f"{head}/{{id}}" if last.isdigit() else path


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "min": ordered[0],
        "p50": statistics.median(ordered),
        "p95": pick(0.95),
        "max": ordered[-1],
    }


# --- report ----------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"syncd write-back benchmark, {results['date']}",
        f"{m['cores']} cores, Python {m['python']}, PostgreSQL {m['postgresql']} ({m['database']}); "
        f"load {m['load_average_at_start'][0]:.2f} at start, {m['load_average_at_end'][0]:.2f} at end",
        f"sandbox: {results['settings']['events']:,} events, zero latency; client rate limit off",
        "",
    ]
    table: list[tuple[str, ...]] = [
        (
            "phase",
            "intents",
            "events",
            "wall s",
            "intents/s",
            "engine s",
            "engine /s",
            "requests",
            "syncd CPU s",
            "sandbox CPU s",
        ),
    ]
    for p in results["phases"]:
        table.append(
            (
                p["phase"],
                f"{p['intents']:,}",
                f"{p['events']:,}",
                f"{p['wall_s']:.2f}",
                f"{p['intents_per_s']:,.0f}",
                f"{p['engine']['claim_to_finish_s']:.2f}",
                f"{p['engine']['intents_per_s']:,.0f}",
                f"{p['requests']:,} ({p['requests_not_2xx']} not 2xx)",
                f"{p['cpu_user_s'] + p['cpu_system_s']:.1f}",
                f"{p['sandbox_cpu_s']:.1f}",
            )
        )
    lines += columns(table)
    for p in results["phases"]:
        kinds = ", ".join(f"{n} {k}" for k, n in p["requests_by_kind"].items())
        lines.append(f"{p['phase']}: all {p['succeeded']:,} succeeded; mirror current; requests: {kinds}")
    pr = results.get("profile")
    if pr:
        lines.append(
            f"profile: {pr['intents']:,} intents in process, one worker, under cProfile: {pr['wall_s']:.2f} s "
            f"({pr['intents_per_s']:,.0f}/s); see benchmarks/results/profile-intents.txt"
        )
    f = results.get("follow")
    if f:
        lines += ["", f"follow: {f['intents']} single INSERTs, one every {f['interval_ms']:.0f} ms"]
        rows: list[tuple[str, ...]] = [("latency ms", "p50", "p95", "max", "min")]
        for label, key in (
            ("INSERT commit → API call", "insert_to_api_ms"),
            ("INSERT → succeeded", "insert_to_succeeded_ms"),
        ):
            d = f[key]
            rows.append((label, f"{d['p50']:.0f}", f"{d['p95']:.0f}", f"{d['max']:.0f}", f"{d['min']:.0f}"))
        lines += columns(rows)
        lines.append(f"SIGTERM: exit {f['sigterm_exit']} after {f['sigterm_to_exit_s']:.2f} s")
    return "\n".join(lines)


def step(message: str) -> None:
    print(f"bench-intents: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    command = "python -m benchmarks.intents " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="syncd-bench-intents-") as tmp,
            scratch_server(args.database_url, Path(tmp)) as server,
        ):
            results: dict[str, Any] = {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": command.strip(),
                "machine": machine(server),
                "settings": {
                    "events": args.events,
                    "intents": args.intents,
                    "per_event": args.per_event,
                    "follow_intents": args.follow_intents,
                    "follow_interval_ms": args.follow_interval_ms,
                    "concurrency": args.concurrency or "syncd default",
                    "seed": args.seed,
                    "rate_limit": "off",
                },
            }
            logs = args.output.parent / "logs-intents"  # kept after the run: what a failure points to
            shutil.rmtree(logs, ignore_errors=True)
            results.update(IntentsBench(args, server, logs).run())
            results["machine"]["load_average_at_end"] = os.getloadavg()
    except PhaseFailed as exc:
        print(f"bench-intents: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench-intents: interrupted", file=sys.stderr)
        return 1
    results["bench_wall_s"] = time.perf_counter() - started
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(render(results))
    print(f"\nfigures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
