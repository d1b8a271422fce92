"""The Grafana dashboard and the Prometheus alert rules in deploy/: well formed, naming only
documented metrics, every alert with a runbook in docs/operations.md; promtool (when installed)
accepts the rules and its rule tests pass. tests/integration/daemon/test_metrics_scrape.py checks
the same names against a live `/metrics`."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata

import pytest

from tests.monitoring import (
    OPERATIONS,
    RULE_TESTS,
    RULES,
    alert_rules,
    dashboard_exprs,
    dashboard_panels,
    documented_metrics,
    is_documented,
    load_dashboard,
    metric_selectors,
    named_metrics,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("syncd_leader", {"syncd_leader": set()}),
        ("max by (job) (syncd_leader) < 1 or absent(syncd_leader)", {"syncd_leader": set()}),
        (
            'sum by (resource) (rate(syncd_sync_runs_total{job=~"$job", outcome="failed"}[$__rate_interval]))',
            {"syncd_sync_runs_total": {"job", "outcome"}},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(syncd_api_request_duration_seconds_bucket[5m])))",
            {"syncd_api_request_duration_seconds_bucket": set()},
        ),
        (
            "up == 0 and on (job, instance) max_over_time(syncd_build_info[1h])",
            {"up": set(), "syncd_build_info": set()},
        ),
        (
            "a_total offset 5m / ignoring (kind) group_left b_seconds > bool 2e3",
            {"a_total": set(), "b_seconds": set()},
        ),
        ('sum(x{path="/a{b}", le!~"by(x)"}) without (path)', {"x": {"path", "le"}}),
    ],
)
def test_the_promql_reader_finds_metric_names_and_matched_labels(
    expr: str, expected: dict[str, set[str]]
) -> None:
    assert metric_selectors(expr) == expected


def test_the_dashboard_is_grafana_json_on_a_chosen_prometheus() -> None:
    dashboard = load_dashboard()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == "syncd-overview"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert {"job", "instance"} <= set(variables)
    chosen = {"type": "prometheus", "uid": "${datasource}"}
    panels = dashboard_panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    taken: dict[tuple[int, int], str] = {}
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for y in range(grid["y"], grid["y"] + grid["h"]):
            for x in range(grid["x"], grid["x"] + grid["w"]):
                assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                taken[(x, y)] = panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == chosen, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == chosen, panel["title"]
            assert "$job" in target["expr"], f"{panel['title']}: not filtered by $job"


def test_the_dashboard_shows_what_an_operator_watches() -> None:
    shown = set(named_metrics(dashboard_exprs()))
    watched = {
        "syncd_leader",
        "syncd_database_up",
        "syncd_build_info",
        "syncd_resource_last_success_age_seconds",
        "syncd_resource_stale_after_seconds",
        "syncd_sync_runs_total",
        "syncd_sync_rows_total",
        "syncd_changes_total",
        "syncd_api_responses_total",
        "syncd_api_retries_total",
        "syncd_api_request_duration_seconds_bucket",
        "syncd_intents",
        "syncd_intent_oldest_pending_age_seconds",
        "syncd_intents_replayed_total",
        "syncd_webhook_deliveries_total",
        "syncd_webhook_oldest_undelivered_age_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    }
    assert watched - shown == set()


def test_every_metric_the_dashboard_and_rules_name_is_documented() -> None:
    pytest.importorskip("yaml", reason="PyYAML is not installed (a dev dependency)")
    documented = documented_metrics()
    assert "syncd_leader" in documented  # the table was found
    named = named_metrics(dashboard_exprs() + [rule["expr"] for rule in alert_rules()])
    assert {name for name in named if not is_documented(name, documented)} == set()


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def test_every_alert_has_a_summary_a_severity_and_a_runbook() -> None:
    pytest.importorskip("yaml", reason="PyYAML is not installed (a dev dependency)")
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    # The list: a resource not synced, intents failing or waiting, a webhook backlog, the
    # leader missing; and the process itself down.
    assert {
        "SyncdResourceStale",
        "SyncdIntentsFailing",
        "SyncdIntentsWaiting",
        "SyncdWebhookBacklog",
        "SyncdLeaderMissing",
        "SyncdDown",
    } <= set(names)
    anchors = {
        github_anchor(line.lstrip("#"))
        for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["description"], rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert url.partition("#")[2] in anchors, f"{rule['alert']}: no heading for {url} in operations.md"


def test_promtool_accepts_the_rules_and_their_tests_pass() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: the prometheus package)")
    checked = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", str(RULE_TESTS)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
