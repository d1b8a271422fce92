"""What `/metrics` exposes, in the Prometheus text format (prometheus-client, one registry per daemon).

Counters are fed by hooks (API responses, sync outcomes, replay passes); the queue and freshness
gauges are read from the database at each scrape, so they are true even for work another replica did.
The registry also carries prometheus-client's `process_*` and `python_*` collectors and
`syncd_build_info`. deploy/grafana and deploy/prometheus name these metrics (docs/operations.md).
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

import structlog
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from syncd import __version__
from syncd.db import feed, health
from syncd.db import webhooks as webhook_store
from syncd.db.intents import STATUSES
from syncd.replay import ReplaySummary
from syncd.sync import ResourceOutcome
from syncd.webhooks import Attempt

log = structlog.get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ROW_KINDS = ("inserted", "updated", "unchanged", "deleted", "restored", "rejected")


class DaemonMetrics:
    def __init__(self, engine: Engine, resources: Sequence[str], is_leader: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # The default registry's process_*, python_gc_* and python_info, on ours (one per daemon).
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(standard)
        Info("syncd_build", "The running syncd: its version and Python's.", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )
        self.sync_runs = Counter(
            "syncd_sync_runs",
            "Sync runs of one resource, by mode and outcome.",
            ["resource", "mode", "outcome"],
            registry=r,
        )
        self.sync_pages = Counter("syncd_sync_pages", "Pages stored, by resource.", ["resource"], registry=r)
        self.sync_rows = Counter(
            "syncd_sync_rows", "Mirror rows by what a run did to them.", ["resource", "kind"], registry=r
        )
        self.api_latency = Histogram(
            "syncd_api_request_duration_seconds",
            "API request duration (each attempt).",
            ["endpoint"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.api_responses = Counter(
            "syncd_api_responses",
            "API answers by status code ('error': no answer, a transport error).",
            ["endpoint", "status"],
            registry=r,
        )
        self.api_retries = Counter(
            "syncd_api_retries",
            "API requests sent again after a 429, a 5xx or a network error (each retry once).",
            ["endpoint"],
            registry=r,
        )
        self.intents_replayed = Counter(
            "syncd_intents_replayed",
            "Intents finished or put back by replay passes of this process.",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "syncd_webhook_deliveries",
            "Webhook delivery attempts by this process, by outcome (delivered, failed, gone).",
            ["outcome"],
            registry=r,
        )
        self.webhook_latency = Histogram(
            "syncd_webhook_delivery_duration_seconds",
            "Webhook delivery attempt duration.",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        leader = Gauge(
            "syncd_leader", "1 while this process holds the lead and runs the sync jobs.", registry=r
        )
        leader.set_function(lambda: 1.0 if is_leader() else 0.0)
        self.stale_after = Gauge(
            "syncd_resource_stale_after_seconds",
            "Age of the last success past which /readyz calls the resource stale (3 of its periods).",
            ["resource"],
            registry=r,
        )
        r.register(_DatabaseCollector(engine, resources))
        r.register(_FeedCollector(engine))

    def set_stale_after(self, thresholds_s: Mapping[str, float]) -> None:
        """The daemon's staleness thresholds, per resource, from its schedule."""
        for resource, threshold in thresholds_s.items():
            self.stale_after.labels(resource).set(threshold)

    def observe_api(self, endpoint: str, status: int | None, duration_s: float, attempt: int) -> None:
        """ApiClient's `on_response` hook (called from page threads too: prometheus-client is thread-safe)."""
        self.api_latency.labels(endpoint).observe(duration_s)
        self.api_responses.labels(endpoint, str(status) if status is not None else "error").inc()
        if attempt > 1:
            self.api_retries.labels(endpoint).inc()

    def observe_page(self, resource: str) -> None:
        self.sync_pages.labels(resource).inc()

    def observe_outcome(self, outcome: ResourceOutcome) -> None:
        self.sync_runs.labels(outcome.resource, outcome.mode, outcome.status).inc()
        counts = outcome.counts.as_dict()
        for kind in _ROW_KINDS:
            if counts.get(kind):
                self.sync_rows.labels(outcome.resource, kind).inc(counts[kind])

    def observe_replay(self, summary: ReplaySummary) -> None:
        for outcome in ("succeeded", "failed", "retrying", "settled"):
            done = len(getattr(summary, outcome))
            if done:
                self.intents_replayed.labels(outcome).inc(done)

    def observe_delivery(self, attempt: Attempt) -> None:
        """`follow_deliveries`' `on_attempt` hook."""
        self.webhook_deliveries.labels(attempt.outcome).inc()
        self.webhook_latency.observe(attempt.duration_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    """Queue depth, oldest pending intent and freshness, queried at scrape time."""

    def __init__(self, engine: Engine, resources: Sequence[str]) -> None:
        self.engine = engine
        self.resources = resources

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("syncd_database_up", "1 when the scrape could query the database.")
        try:
            with self.engine.connect() as conn:
                depth = health.intents_by_status(conn)
                oldest = health.oldest_pending_age_s(conn)
                ages = health.last_success_ages_s(conn)
        except DBAPIError as exc:
            log.warning("metrics.database_unavailable", error=type(exc.orig or exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        queue = GaugeMetricFamily("syncd_intents", "Write intents by status.", labels=["status"])
        for status in STATUSES:
            queue.add_metric([status], float(depth.get(status, 0)))
        yield queue
        yield GaugeMetricFamily(
            "syncd_intent_oldest_pending_age_seconds",
            "Age of the oldest pending intent (0: none).",
            value=oldest,
        )
        fresh = GaugeMetricFamily(
            "syncd_resource_last_success_age_seconds",
            "Seconds since the resource's last successful sync (absent: never).",
            labels=["resource"],
        )
        for name in self.resources:
            if name in ages:
                fresh.add_metric([name], ages[name])
        yield fresh


class _FeedCollector(Collector):
    """The change feed: changes per kind (counted from the table, so a change written by any replica
    counts once, from this process's start), and per enabled webhook subscription the age of its
    oldest undelivered change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen_through: int | None = None  # the feed's newest id at the previous scrape
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        with self.lock:
            try:
                with self.engine.connect() as conn:
                    if self.seen_through is None:
                        self.seen_through = feed.last_change_id(conn)
                    self.seen_through, new = feed.count_by_kind(conn, self.seen_through)
                    ages = webhook_store.undelivered_ages_s(conn)
            except DBAPIError as exc:
                log.warning("metrics.database_unavailable", error=type(exc.orig or exc).__name__)
                return
            for kind, count in new.items():
                self.counts[kind] = self.counts.get(kind, 0) + count
            counts = dict(self.counts)
        changes = CounterMetricFamily(
            "syncd_changes",
            "Changes recorded in the feed since this process started, by kind.",
            labels=["kind"],
        )
        for kind, count in sorted(counts.items()):
            changes.add_metric([kind], float(count))
        yield changes
        backlog = GaugeMetricFamily(
            "syncd_webhook_oldest_undelivered_age_seconds",
            "Per enabled webhook subscription: age of its oldest undelivered change (0: none).",
            labels=["subscription"],
        )
        for subscription_id, age in sorted(ages.items()):
            backlog.add_metric([str(subscription_id)], age)
        yield backlog
