"""What the Grafana dashboard and the Prometheus rules in deploy/ ask of `/metrics`.

A small PromQL reader: the metric names an expression selects, with the label names its matchers
use. Shared by the unit test (the files and the docs agree) and the integration test (a live scrape
has every series they name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "syncd-dashboard.json"
RULES = ROOT / "deploy" / "prometheus" / "syncd-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "syncd-alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"

# Series Prometheus makes itself for every target; the labels it adds to every scraped series.
PROMETHEUS_SERIES = frozenset({"up"})
TARGET_LABELS = frozenset({"job", "instance"})

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NOISE = re.compile(r"\[[^\]]*\]|\$\{[^}]*\}|\$[a-zA-Z_]\w*|\b\d[\w.]*")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_selectors(expr: str) -> dict[str, set[str]]:
    """Each metric name `expr` selects → the label names its matchers use (functions, keywords,
    grouping labels, ranges, numbers and Grafana variables are not metric names)."""
    found: dict[str, set[str]] = {}
    text = _STRING.sub('""', expr)  # a string may hold anything: braces, names, ...
    for match in _SELECTOR.finditer(text):
        if match.group(1) and match.group(1) not in _KEYWORDS:
            found.setdefault(match.group(1), set()).update(_MATCHER.findall(match.group(2)))
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = _NOISE.sub(" ", _GROUPING.sub(" ", text))
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        called = text[match.end() :].lstrip().startswith("(")
        if not called and name not in _KEYWORDS:
            found.setdefault(name, set())
    return found


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def load_dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def dashboard_panels() -> list[dict[str, Any]]:
    return list(_panels(load_dashboard()["panels"]))


def dashboard_exprs() -> list[str]:
    """Every panel query, and the metric selector of every `label_values(...)` variable."""
    dashboard = load_dashboard()
    exprs = [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", []) if t.get("expr")]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
            assert match, f"variable {variable['name']}: not label_values(selector, label): {query!r}"
            exprs.append(match.group(1))
    return exprs


def load_rules() -> dict[str, Any]:
    import yaml  # PyYAML: a dev dependency; callers importorskip it first

    loaded: dict[str, Any] = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"] if "alert" in rule]


def named_metrics(exprs: list[str]) -> dict[str, set[str]]:
    """Metric name → label names matched, over all of `exprs`."""
    named: dict[str, set[str]] = {}
    for expr in exprs:
        for name, labels in metric_selectors(expr).items():
            named.setdefault(name, set()).update(labels)
    return named


def documented_metrics() -> set[str]:
    """The names in the first column of the metric table of docs/operations.md (`process_*`: a prefix)."""
    return set(re.findall(r"^\| `([a-z_*]+)` \|", OPERATIONS.read_text(encoding="utf-8"), flags=re.MULTILINE))


def is_documented(name: str, documented: set[str]) -> bool:
    """A sample name is documented as itself, under a documented prefix, or as a histogram's series."""
    if name in documented or name in PROMETHEUS_SERIES:
        return True
    if any(name.startswith(pattern[:-1]) for pattern in documented if pattern.endswith("*")):
        return True
    return any(name.endswith(s) and name.removesuffix(s) in documented for s in _HISTOGRAM_SUFFIXES)
