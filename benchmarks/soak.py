"""`make soak`: `syncd run` for minutes against a faulty sandbox while intents arrive steadily.

    python -m benchmarks.soak [--minutes 5] [--intents-per-s 2] [--events 300] [--seed 7]
                              [--error-rate 0.05] [--latency 0.05] [--rate-limit 8]
                              [--client-rate-limit 20] [--database-url URL] [--output PATH]

Processes: the sandbox (`syncd sandbox` with `--error-rate`, `--latency` and a `--rate-limit` below
syncd's own client limit, so busy moments end in bursts of 429), `syncd run` (short schedules: events
every 5 s, a full pass every 60 s, the rest every 15-60 s), and this script, which

- inserts intents at `--intents-per-s` (notes 70 %, invite 25 %, cancel 5 %; each with a unique
  marker) on events the mirror holds as active,
- mutates the sandbox world through its side door (touch an event every second, add one every 5 s,
  cancel one every 10 s, remove one every 30 s), so each run of the mirror has work,
- samples the daemon's RSS every 5 s.

At the end: the feeder stops, the queue drains, SIGTERM stops the daemon (exit 0 expected), the
faults are switched off and one `syncd sync --full` runs. Checks (exit 1 when one fails):
- no intent lost: every inserted intent exists and is `succeeded` or `failed` with a reason;
- no invite sent twice: per event, the 2xx invite calls in the sandbox's log equal the invite
  intents that succeeded;
- the mirror converges: the mirror's live events equal the sandbox's events (ids and updatedAt);
- flat memory: max RSS of the last minute / max RSS of the first minute (after the first sync) < 1.25.
The table goes to stdout, the figures as JSON to benchmarks/results/soak.json.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from benchmarks.harness import REPO, PhaseFailed, sandbox_process, scratch_server
from syncd.db import migrate

SYNCD = str(Path(sys.executable).with_name("syncd"))
RESULTS = REPO / "benchmarks" / "results"
RSS_RATIO_LIMIT = 1.25
SCHEDULE = {
    "events": 5,
    "full_sync": 60,
    "users": 15,
    "event_types": 15,
    "polls": 15,
    "event_type_tags": 30,
    "user_event_type_tags": 30,
    "event_type_availability": 60,
    "cancellation_policies": 60,
    "acl_rules": 60,
    "integrations": 60,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--intents-per-s", type=float, default=2.0)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rate-limit", type=float, default=8.0, help="the sandbox's requests per second")
    parser.add_argument("--client-rate-limit", type=float, default=20.0, help="syncd's api_rate_limit_per_s")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--database-url", default=os.environ.get("SYNCD_BENCH_DATABASE_URL"))
    parser.add_argument("--output", type=Path, default=RESULTS / "soak.json")
    return parser.parse_args(argv)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Targets:
    """Events the feeder and the mutator pick from: the mirror's active ones, refreshed now and then."""

    ids: list[int]
    refreshed: float


class Background(threading.Thread):
    """A loop that runs `step` every `every_s` until stopped; errors are counted, never fatal."""

    def __init__(self, name: str, every_s: float, step: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.every_s, self.step = every_s, step
        self.halt = threading.Event()
        self.errors: collections.Counter[str] = collections.Counter()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.halt.is_set():
            try:
                self.step()
            except Exception as exc:  # a side-door conflict, a database hiccup: counted, the loop goes on
                self.errors[type(exc).__name__] += 1
            next_at += self.every_s
            self.halt.wait(max(next_at - time.monotonic(), 0.0))


def active_event_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM simplymeet.events WHERE state = 'active' AND deleted_at IS NULL")
        )
        return [int(r[0]) for r in rows]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="syncd-soak-"))
    api_key, token = f"soak-{secrets.token_hex(8)}", secrets.token_hex(8)
    started_wall = dt.datetime.now(dt.UTC)
    print(f"soak: {args.minutes:g} min, logs in {work}", flush=True)
    with (
        scratch_server(args.database_url, work) as server,
        sandbox_process(
            events=args.events,
            seed=args.seed,
            api_key=api_key,
            admin_token=token,
            log_file=work / "sandbox.log",
            timeout_s=30,
        ) as sandbox,
    ):
        url = server.create_database("syncd_soak")
        engine = server.engine(url)
        migrate.upgrade(engine)
        admin = httpx.Client(base_url=sandbox.base_url, headers={"X-SANDBOX-TOKEN": token}, timeout=30)
        faults = {
            "error_rate": args.error_rate,
            "latency_s": args.latency,
            "rate_limit_per_s": args.rate_limit,
        }
        admin.put("/_sandbox/faults", json=faults).raise_for_status()
        admin.delete("/_sandbox/calls").raise_for_status()
        config = work / "syncd.toml"
        config.write_text(
            "leader_poll_s = 1\nshutdown_timeout_s = 30\n[schedule]\n"
            + "".join(f"{k} = {v}\n" for k, v in SCHEDULE.items())
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCD_")}
        env.update(
            {
                "SYNCD_API_URL": sandbox.base_url,
                "SYNCD_API_KEY": api_key,
                "SYNCD_DATABASE_URL": url.render_as_string(hide_password=False),
                "SYNCD_CONFIG": str(config),
                "SYNCD_LOG_FORMAT": "json",
                "SYNCD_HEALTH_PORT": "0",
                "SYNCD_API_RATE_LIMIT_PER_S": str(args.client_rate_limit),
                "HOME": str(work),
            }
        )
        with (work / "run.log").open("wb") as run_log:
            daemon = subprocess.Popen([SYNCD, "run"], env=env, stdout=run_log, stderr=subprocess.STDOUT)  # noqa: S603  # our own command
        try:
            result = soak(args, engine, admin, daemon, work)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)
        # The faults off: the final pass and the comparison read a calm sandbox.
        admin.put("/_sandbox/faults", json={"error_rate": 0, "latency_s": 0, "rate_limit_per_s": None})
        final = subprocess.run(  # noqa: S603  # our own command
            [SYNCD, "sync", "--full"], env=env, capture_output=True, text=True, timeout=600, check=False
        )
        (work / "final-sync.log").write_text(final.stdout + final.stderr)
        result["final_sync_exit"] = final.returncode
        result["mirror"] = compare_mirror(engine, sandbox.base_url, api_key)
        admin.close()
        engine.dispose()
    result.update(
        {
            "date": started_wall.isoformat(timespec="seconds"),
            "command": "python -m benchmarks.soak " + " ".join(sys.argv[1:] if argv is None else argv),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "schedule_s": SCHEDULE,
            "logs": str(work),
        }
    )
    checks = {
        "no_lost_intent": result["intents"]["lost"] == 0
        and result["intents"]["unfinished"] == 0
        and result["intents"]["failed_without_reason"] == 0,
        "no_double_invite": result["invites"]["events_over_sent"] == 0,
        "mirror_converges": result["final_sync_exit"] == 0 and result["mirror"]["equal"],
        "flat_memory": result["rss"]["ratio_last_to_first_minute"] < RSS_RATIO_LIMIT,
        "daemon_exit_0": result["daemon_exit"] == 0,
    }
    result["checks"] = checks
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(result)
    print(f"figures: {args.output}")
    return 0 if all(checks.values()) else 1


def soak(
    args: argparse.Namespace, engine: Engine, admin: httpx.Client, daemon: subprocess.Popen[bytes], work: Path
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    # Wait for the first events sync, so the feeder has ids to work on.
    deadline = time.monotonic() + 120
    targets: list[int] = []
    while not targets:
        if daemon.poll() is not None:
            raise PhaseFailed(f"syncd run exited {daemon.returncode} before its first sync (see {work})")
        if time.monotonic() > deadline:
            raise PhaseFailed(f"no events in the mirror after 120 s (see {work / 'run.log'})")
        time.sleep(0.5)
        try:
            targets = active_event_ids(engine)
        except Exception:
            targets = []
    t0 = time.monotonic()
    inserted: list[tuple[int, str, int]] = []  # (intent id, kind, event id)
    state = Targets(targets, t0)

    def feed() -> None:
        if time.monotonic() - state.refreshed > 10:
            state.ids, state.refreshed = active_event_ids(engine), time.monotonic()
        event_id = rng.choice(state.ids)
        n = len(inserted)
        roll = rng.random()
        payload: dict[str, Any]
        if roll < 0.70:
            kind, payload = "notes", {"notes": f"soak marker {n} {secrets.token_hex(4)}"}
        elif roll < 0.95:
            kind, payload = "invite", {"emails": [f"soak-{n}-{secrets.token_hex(3)}@example.com"]}
        else:
            kind, payload = "cancel", {"reason": f"soak marker {n}"}
        with engine.begin() as conn:
            intent_id = conn.execute(
                text(
                    "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                    "VALUES (:kind, :id, CAST(:payload AS jsonb)) RETURNING id"
                ),
                {"kind": kind, "id": event_id, "payload": json.dumps(payload)},
            ).scalar_one()
        inserted.append((int(intent_id), kind, event_id))

    ticks = {"n": 0}
    mutations: collections.Counter[str] = collections.Counter()

    def mutate() -> None:
        ticks["n"] += 1
        n = ticks["n"]
        ids = state.ids
        admin.post("/_sandbox/world/touch_event", json={"id": rng.choice(ids)}).raise_for_status()
        mutations["touch"] += 1
        if n % 5 == 0:
            admin.post("/_sandbox/world/add_event", json={}).raise_for_status()
            mutations["add"] += 1
        if n % 10 == 0:
            answer = admin.post(
                "/_sandbox/world/cancel_event", json={"id": rng.choice(ids), "reason": "soak"}
            )
            mutations["cancel" if answer.is_success else "cancel_refused"] += 1
        if n % 30 == 0:
            answer = admin.post("/_sandbox/world/remove_event", json={"id": rng.choice(ids)})
            mutations["remove" if answer.is_success else "remove_refused"] += 1

    samples: list[tuple[float, float]] = []

    def sample() -> None:
        samples.append((time.monotonic() - t0, rss_mb(daemon.pid)))

    loops = [
        Background("feeder", 1 / args.intents_per_s, feed),
        Background("mutator", 1.0, mutate),
        Background("rss", 5.0, sample),
    ]
    for loop in loops:
        loop.start()
    end = t0 + args.minutes * 60
    while time.monotonic() < end:
        if daemon.poll() is not None:
            break
        time.sleep(1)
        left = end - time.monotonic()
        if left > 1 and int(left) % 30 == 0:
            print(
                f"  {left / 60:4.1f} min left, {len(inserted)} intents, rss {samples[-1][1] if samples else 0:.0f} MB",
                flush=True,
            )
    loops[0].halt.set()
    loops[1].halt.set()
    loops[0].join(10)
    loops[1].join(10)
    feed_s = time.monotonic() - t0

    # Drain: nothing pending or in flight (retries after 5xx/429 come due within the backoff).
    drain_started = time.monotonic()
    drained = False
    while time.monotonic() - drain_started < args.drain_timeout and daemon.poll() is None:
        with engine.connect() as conn:
            open_count = conn.execute(
                text("SELECT count(*) FROM syncd.write_intents WHERE status IN ('pending', 'in_flight')")
            ).scalar_one()
        if open_count == 0:
            drained = True
            break
        time.sleep(0.5)
    drain_s = time.monotonic() - drain_started
    loops[2].halt.set()
    loops[2].join(10)
    sample_final = rss_mb(daemon.pid) if daemon.poll() is None else 0.0

    alive_at_end = daemon.poll() is None
    daemon.send_signal(signal.SIGTERM)
    try:
        daemon_exit: int | None = daemon.wait(60)
    except subprocess.TimeoutExpired:
        daemon_exit = None
    calls = admin.get("/_sandbox/calls").json()
    return {
        "feed_s": round(feed_s, 1),
        "drain_s": round(drain_s, 1),
        "drained": drained,
        "daemon_alive_at_end": alive_at_end,
        "daemon_exit": daemon_exit,
        "intents": intent_figures(engine, inserted),
        "invites": invite_figures(engine, calls),
        "calls": call_figures(calls),
        "sync_runs": run_figures(engine),
        "mutations": dict(mutations),
        "loop_errors": {loop.name: dict(loop.errors) for loop in loops},
        "rss": rss_figures(samples, sample_final),
    }


def intent_figures(engine: Engine, inserted: list[tuple[int, str, int]]) -> dict[str, Any]:
    ids = [i for i, _, _ in inserted]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, kind, status, failure_reason, attempts, "
                "extract(epoch FROM finished_at - created_at) AS latency_s "
                "FROM syncd.write_intents WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    by_status = collections.Counter(r.status for r in rows)
    reasons = collections.Counter(r.failure_reason for r in rows if r.status == "failed")
    latencies = sorted(
        float(r.latency_s) for r in rows if r.status == "succeeded" and r.latency_s is not None
    )

    def pct(q: float) -> float | None:
        return round(latencies[min(int(q * len(latencies)), len(latencies) - 1)], 3) if latencies else None

    return {
        "inserted": len(ids),
        "found": len(rows),
        "lost": len(ids) - len(rows),
        "by_status": dict(by_status),
        "by_kind": dict(collections.Counter(r.kind for r in rows)),
        "unfinished": sum(1 for r in rows if r.status in ("pending", "in_flight")),
        "failed_without_reason": sum(1 for r in rows if r.status == "failed" and not r.failure_reason),
        "failure_reasons": {str(k): v for k, v in reasons.items()},
        "retried": sum(1 for r in rows if r.attempts > 1),
        "latency_s": {"p50": pct(0.5), "p95": pct(0.95), "max": latencies[-1] if latencies else None},
    }


def invite_figures(engine: Engine, calls: list[dict[str, Any]]) -> dict[str, Any]:
    sent: collections.Counter[int] = collections.Counter()
    for call in calls:
        path = call["path"]
        if call["method"] == "POST" and "/event/invite-participants/" in path and 200 <= call["status"] < 300:
            sent[int(path.rsplit("/", 1)[1])] += 1
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, count(*) FROM syncd.write_intents "
                "WHERE kind = 'invite' AND status = 'succeeded' GROUP BY event_id"
            )
        ).all()
    succeeded = {int(r[0]): int(r[1]) for r in rows}
    over = {e: n for e, n in sent.items() if n > succeeded.get(e, 0)}
    under = {e: n for e, n in succeeded.items() if sent.get(e, 0) < n}
    return {
        "calls_2xx": sum(sent.values()),
        "intents_succeeded": sum(succeeded.values()),
        "events_over_sent": len(over),
        "events_under_sent": len(under),
    }


def call_figures(calls: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = collections.Counter(int(c["status"]) for c in calls)
    return {
        "total": len(calls),
        "status_429": statuses.get(429, 0),
        "status_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
    }


def run_figures(engine: Engine) -> dict[str, dict[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT resource, status, count(*) FROM syncd.sync_runs GROUP BY resource, status")
        ).all()
    out: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for resource, status, n in rows:
        out[resource][status] = int(n)
    return dict(out)


def rss_figures(samples: list[tuple[float, float]], final: float) -> dict[str, Any]:
    if not samples:
        return {"samples": 0, "ratio_last_to_first_minute": float("inf")}
    last_t = samples[-1][0]
    first = [mb for t, mb in samples if t <= 60] or [samples[0][1]]
    last = [mb for t, mb in samples if t >= last_t - 60] or [samples[-1][1]]
    minutes: dict[int, list[float]] = collections.defaultdict(list)
    for t, mb in samples:
        minutes[int(t // 60)].append(mb)
    return {
        "samples": len(samples),
        "start_mb": round(samples[0][1], 1),
        "first_minute_max_mb": round(max(first), 1),
        "last_minute_max_mb": round(max(last), 1),
        "overall_max_mb": round(max(mb for _, mb in samples), 1),
        "median_mb": round(statistics.median(mb for _, mb in samples), 1),
        "after_drain_mb": round(final, 1),
        "ratio_last_to_first_minute": round(max(last) / max(first), 3),
        # A creep shows here even when a peak in the first minute hides it from the ratio.
        "minute_medians_mb": [round(statistics.median(v), 1) for _, v in sorted(minutes.items())],
        "series": [(round(t), round(mb, 1)) for t, mb in samples],
    }


def compare_mirror(engine: Engine, base_url: str, api_key: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, headers={"X-API-KEY": api_key}, timeout=60) as api:
        answer = api.get("/panel/api/event/list", params={"skipPagination": 1})
        answer.raise_for_status()
        body = answer.json()
    items = body["items"] if isinstance(body, dict) else body
    upstream = {int(e["id"]): dt.datetime.fromisoformat(e["updatedAt"]) for e in items}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, updated_at FROM simplymeet.events WHERE deleted_at IS NULL")
        ).all()
    mirror = {int(r[0]): r[1] for r in rows}
    missing = sorted(set(upstream) - set(mirror))
    extra = sorted(set(mirror) - set(upstream))
    stale = sorted(i for i in set(upstream) & set(mirror) if upstream[i] != mirror[i])
    return {
        "sandbox_events": len(upstream),
        "mirror_live_events": len(mirror),
        "missing": missing[:20],
        "extra": extra[:20],
        "stale_updated_at": stale[:20],
        "equal": not missing and not extra and not stale,
    }


def print_table(r: dict[str, Any]) -> None:
    i, inv, c, rss, m = r["intents"], r["invites"], r["calls"], r["rss"], r["mirror"]
    runs = r["sync_runs"]
    ok_runs = sum(v.get("succeeded", 0) for v in runs.values())
    bad_runs = sum(n for v in runs.values() for s, n in v.items() if s != "succeeded")
    rows = [
        ("soak", f"{r['feed_s'] / 60:.1f} min of feed, drained in {r['drain_s']:.1f} s"),
        (
            "intents",
            f"{i['inserted']} inserted, {i['found']} found, lost {i['lost']}, unfinished {i['unfinished']}",
        ),
        ("  by status", ", ".join(f"{k} {v}" for k, v in sorted(i["by_status"].items()))),
        ("  failed for", ", ".join(f"{k} {v}" for k, v in i["failure_reasons"].items()) or "-"),
        ("  retried", str(i["retried"])),
        (
            "  latency",
            f"p50 {i['latency_s']['p50']} s, p95 {i['latency_s']['p95']} s, max {i['latency_s']['max']}",
        ),
        (
            "invites",
            f"{inv['calls_2xx']} sent (2xx) for {inv['intents_succeeded']} succeeded; events over-sent {inv['events_over_sent']}",
        ),
        ("API calls", f"{c['total']}, 429: {c['status_429']}, 5xx: {c['status_5xx']}"),
        ("sync runs", f"{ok_runs} succeeded, {bad_runs} not"),
        ("side door", ", ".join(f"{k} {v}" for k, v in sorted(r["mutations"].items()))),
        (
            "RSS",
            f"start {rss.get('start_mb')} MB, first min max {rss.get('first_minute_max_mb')} MB, last min max {rss.get('last_minute_max_mb')} MB, ratio {rss['ratio_last_to_first_minute']}",
        ),
        (
            "RSS by minute",
            "medians " + " ".join(f"{mb:.0f}" for mb in rss.get("minute_medians_mb", [])) + " MB",
        ),
        (
            "mirror",
            f"{m['mirror_live_events']} live vs {m['sandbox_events']} upstream; missing {len(m['missing'])}, extra {len(m['extra'])}, stale {len(m['stale_updated_at'])}",
        ),
        ("daemon", f"SIGTERM exit {r['daemon_exit']}, final sync --full exit {r['final_sync_exit']}"),
    ]
    rows += [(f"check {k}", "ok" if v else "FAILED") for k, v in r["checks"].items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
