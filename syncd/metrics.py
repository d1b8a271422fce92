"""What `/metrics` exposes, in the Prometheus text format (prometheus-client, one registry per daemon).

Counters are fed by hooks (API responses, sync outcomes, replay passes); the queue and freshness
gauges are read from the database at each scrape, so they are true even for work another replica did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from syncd.db import health
from syncd.db.intents import STATUSES
from syncd.replay import ReplaySummary
from syncd.sync import ResourceOutcome

log = structlog.get_logger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_ROW_KINDS = ("inserted", "updated", "unchanged", "deleted", "restored", "rejected")


class DaemonMetrics:
    def __init__(self, engine: Engine, resources: Sequence[str], is_leader: Callable[[], bool]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        self.intents_replayed = Counter(
            "syncd_intents_replayed",
            "Intents finished or put back by replay passes of this process.",
            ["outcome"],
            registry=r,
        )
        leader = Gauge(
            "syncd_leader", "1 while this process holds the lead and runs the sync jobs.", registry=r
        )
        leader.set_function(lambda: 1.0 if is_leader() else 0.0)
        r.register(_DatabaseCollector(engine, resources))

    def observe_api(self, endpoint: str, status: int | None, duration_s: float) -> None:
        """ApiClient's `on_response` hook (called from page threads too: prometheus-client is thread-safe)."""
        self.api_latency.labels(endpoint).observe(duration_s)
        self.api_responses.labels(endpoint, str(status) if status is not None else "error").inc()

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
