"""The dashboard and the alert rules in deploy/ against a live `/metrics`: a daemon on a real
PostgreSQL and the in-process sandbox syncs (one answer a 503, retried), replays an intent and
delivers webhooks; then every series the dashboard and the rules name is in its scrape, with the
labels they match on, and every syncd_* series it exports is documented."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator

import httpx
import pytest
import stamina
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL

from syncd import __version__
from syncd.sandbox import Sandbox
from tests.integration.daemon.test_daemon import (
    API_KEY,
    Running,
    free_port,
    settings_for,
    succeeded,
    wait_for,
)
from tests.monitoring import (
    PROMETHEUS_SERIES,
    TARGET_LABELS,
    alert_rules,
    dashboard_exprs,
    documented_metrics,
    is_documented,
    named_metrics,
)
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3):
        yield


class OneUnavailable(httpx.BaseTransport):
    """The sandbox, but once `armed`, the next event list is answered 503 (the client retries it)."""

    def __init__(self, sb: Sandbox) -> None:
        self.inner = sb.transport()
        self.armed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.url.path.endswith("/event/list"):
            self.armed = False
            return httpx.Response(503, json={"message": "unavailable, from the metrics test"})
        return self.inner.handle_request(request)


def scrape(port: int) -> dict[str, list[dict[str, str]]]:
    """Sample name → the label sets of its samples, as Prometheus would store them."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    samples: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples


def intent_status(engine: Engine, intent_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT status FROM syncd.write_intents WHERE id = :id"), {"id": intent_id}
            ).scalar_one()
        )


def test_every_series_the_dashboard_and_rules_name_is_in_a_live_scrape(
    engine: Engine, database_url: URL, receiver: Receiver
) -> None:
    pytest.importorskip("yaml", reason="PyYAML is not installed (a dev dependency)")
    from syncd.db.webhooks import add_subscription
    from syncd.webhooks import generate_secret

    sb = Sandbox(api_key=API_KEY, events=30, seed=5)
    with engine.begin() as conn:
        add_subscription(conn, receiver.url, generate_secret(), kinds=["event.*"])
    port = free_port()
    settings = settings_for(database_url, health_port=port, webhook_allow_private=True)
    transport = OneUnavailable(sb)
    daemon = Running(settings, engine, sb, transport)
    try:
        wait_for(lambda: succeeded(engine, "events") >= 1, 20, "a run of events")
        wait_for(lambda: len(receiver.ids()) >= 30, 20, "the first sync's 30 events delivered")
        scrape(port)  # the change feed's counter counts from the first scrape on
        transport.armed = True
        active = [i for i in sb.world.event_ids() if sb.world.event_dto(i)["state"] == "active"]
        sb.world.cancel_event(active[0], "from the metrics test")
        with engine.begin() as conn:
            intent_id = conn.execute(
                text(
                    "INSERT INTO syncd.write_intents (kind, event_id, payload) "
                    "VALUES ('notes', :id, CAST(:payload AS jsonb)) RETURNING id"
                ),
                {"id": active[1], "payload": json.dumps({"notes": "metrics test"})},
            ).scalar_one()
        wait_for(lambda: intent_status(engine, intent_id) == "succeeded", 20, "the intent replayed")
        wait_for(
            lambda: any(r.json["type"] == "event.cancelled" for r in receiver.received),
            20,
            "the cancel's POST",
        )
        wait_for(lambda: "syncd_intents_replayed_total" in scrape(port), 10, "the replay counted")
        wait_for(lambda: "syncd_api_retries_total" in scrape(port), 10, "the retry after the 503 counted")
        samples = scrape(port)
    finally:
        assert daemon.stop() == 0

    named = named_metrics(dashboard_exprs() + [rule["expr"] for rule in alert_rules()])
    assert {"syncd_leader", "process_resident_memory_bytes"} <= set(named)  # the files were read
    missing = sorted(set(named) - PROMETHEUS_SERIES - set(samples))
    assert missing == [], f"named by deploy/ but not in the scrape: {missing}"
    for name, matched in named.items():
        if name in samples:
            exported = set().union(*(labels.keys() for labels in samples[name]))
            unknown = matched - exported - TARGET_LABELS
            assert unknown == set(), f"{name} has no label {sorted(unknown)}"

    (build,) = samples["syncd_build_info"]
    assert build == {"version": __version__, "python": platform.python_version()}
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"} <= set(samples)
    assert {"python_info", "python_gc_collections_total"} <= set(samples)
    assert {"resource": "events"} in samples["syncd_resource_stale_after_seconds"]

    documented = documented_metrics()
    undocumented = sorted(
        name
        for name in samples
        if name.startswith("syncd_") and not name.endswith("_created") and not is_documented(name, documented)
    )
    assert undocumented == [], f"exported but not in docs/operations.md's metric table: {undocumented}"
