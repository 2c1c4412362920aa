"""The Grafana dashboard and the Prometheus alerts speak only of metrics the controller
exports, use each by its type, and cover what an operator needs to see."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from chart_helpers import CHART, one, render
from prometheus_client.metrics import MetricWrapperBase

from autoscaler.commands.render import MONITORING_API
from autoscaler.observability.metrics import Metrics

# name -> (type, labels): the metric contract the assets are written against; the tests at the
# end compare it with what autoscaler/observability/metrics.py exports.
KNOWN_METRICS: dict[str, tuple[str, frozenset[str]]] = {
    "kvpool_pending_pods": ("gauge", frozenset({"tenant", "pool"})),
    "kvpool_nodes": ("gauge", frozenset({"tenant", "pool", "state"})),
    "kvpool_vm_launches_total": ("counter", frozenset({"tenant", "pool", "reason", "result"})),
    "kvpool_vm_deletions_total": ("counter", frozenset({"tenant", "pool", "reason", "result"})),
    "kvpool_decision_duration_seconds": ("histogram", frozenset({"tenant"})),
    "kvpool_scale_up_latency_seconds": ("histogram", frozenset({"tenant", "pool"})),
    "kvpool_boot_phase_duration_seconds": ("histogram", frozenset({"phase"})),
    "kvpool_tenant_connected": ("gauge", frozenset({"tenant"})),
    "kvpool_api_errors_total": ("counter", frozenset({"cluster", "verb", "code"})),
    "kvpool_leader": ("gauge", frozenset()),
    "kvpool_pool_at_max": ("gauge", frozenset({"tenant", "pool"})),
}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
METRIC = re.compile(r"\bkvpool_[a-z_]+")
GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)")
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*$")

RULES: dict[str, Any] = yaml.safe_load((CHART / "files/prometheus-rules.yaml").read_text())
ALERTS: list[dict[str, Any]] = [rule for group in RULES["groups"] for rule in group["rules"]]
DASHBOARD: dict[str, Any] = json.loads((CHART / "files/grafana-dashboard.json").read_text())
PANELS: list[dict[str, Any]] = [p for p in DASHBOARD["panels"] if p["type"] != "row"]


def _expressions() -> list[tuple[str, str]]:
    found = [(f"alert {alert['alert']}", alert["expr"]) for alert in ALERTS]
    found += [(f"panel {p['title']!r}", t["expr"]) for p in PANELS for t in p["targets"]]
    return found


def base_metric(series: str) -> str:
    if series in KNOWN_METRICS:
        return series
    for suffix in HISTOGRAM_SERIES:
        name = series.removesuffix(suffix)
        if name != series and KNOWN_METRICS.get(name, ("",))[0] == "histogram":
            return name
    raise AssertionError(f"unknown series {series}")


def misuses(expr: str) -> list[str]:
    """Series used against their type: counters not rated, histograms not by their buckets,
    and labels grouped on that none of the expression's metrics has."""
    problems = []
    labels: set[str] = {"le"}
    for match in METRIC.finditer(expr):
        series = match.group()
        try:
            name = base_metric(series)
        except AssertionError as error:
            problems.append(str(error))
            continue
        kind, metric_labels = KNOWN_METRICS[name]
        labels |= metric_labels
        rated = RATED.search(expr[: match.start()]) is not None
        if kind == "counter" and not rated:
            problems.append(f"counter {series} is used without rate() or increase()")
        if kind == "histogram" and series == name:
            problems.append(f"histogram {series} is used without a _bucket/_sum/_count suffix")
        if series.endswith("_bucket") and not rated:
            problems.append(f"{series} is used without rate()")
    for grouping in GROUPING.findall(expr):
        for label in filter(None, (part.strip() for part in grouping.split(","))):
            if label not in labels:
                problems.append(f"grouping on {label!r}, which no metric here has")
    return problems


def test_misuse_detection_catches_typical_mistakes() -> None:
    assert misuses("sum by (tenant) (kvpool_vm_launches_total)") != []
    assert misuses("kvpool_scale_up_latency_seconds > 1") != []
    assert misuses("sum by (zone) (kvpool_pending_pods)") != []
    assert misuses("kvpool_pending_podz") != []
    assert misuses("sum by (tenant) (rate(kvpool_vm_launches_total[5m]))") == []


@pytest.mark.parametrize(("where", "expr"), _expressions(), ids=lambda value: str(value)[:60])
def test_expressions_use_known_metrics_by_their_type(where: str, expr: str) -> None:
    assert METRIC.search(expr), f"{where} queries no kvpool_ metric"
    assert expr.count("(") == expr.count(")"), f"{where}: unbalanced parentheses"
    assert misuses(expr) == [], where


def test_alerts_cover_the_failures_an_operator_must_hear_about() -> None:
    names = {alert["alert"] for alert in ALERTS}
    assert {
        "KvpoolScaleUpFailing",
        "KvpoolTenantDisconnected",
        "KvpoolVMLaunchesTimingOut",
        "KvpoolPoolAtMaximum",
    } <= names
    metrics_by_alert = {a["alert"]: set(METRIC.findall(a["expr"])) for a in ALERTS}
    assert "kvpool_tenant_connected" in metrics_by_alert["KvpoolTenantDisconnected"]
    assert "kvpool_pool_at_max" in metrics_by_alert["KvpoolPoolAtMaximum"]
    assert 'result="timeout"' in next(
        a["expr"] for a in ALERTS if a["alert"] == "KvpoolVMLaunchesTimingOut"
    )


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert["alert"])
def test_every_alert_says_what_happened_and_how_bad_it_is(alert: dict[str, Any]) -> None:
    assert alert["labels"]["severity"] in {"__CRITICAL_SEVERITY__", "__WARNING_SEVERITY__"}
    assert alert["annotations"]["summary"].strip()
    assert len(alert["annotations"]["description"].split()) >= 10
    assert re.fullmatch(r"[0-9]+[smh]", alert.get("for", "0m"))


def test_rendered_rules_carry_the_configured_severities() -> None:
    values = {
        "prometheusRule": {"enabled": True, "criticalSeverity": "page", "warningSeverity": "ticket"}
    }
    rule = one(render(values, api_versions=(MONITORING_API,)), "PrometheusRule")
    rendered = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert [r["expr"] for r in rendered] == [a["expr"] for a in ALERTS]
    severities = {r["alert"]: r["labels"]["severity"] for r in rendered}
    expected = {
        a["alert"]: {"__CRITICAL_SEVERITY__": "page", "__WARNING_SEVERITY__": "ticket"}[
            a["labels"]["severity"]
        ]
        for a in ALERTS
    }
    assert severities == expected
    assert "{{ $labels.tenant }}" in rendered[0]["annotations"]["summary"]


def test_dashboard_shows_what_the_autoscaler_does() -> None:
    queried = {
        base_metric(series)
        for panel in PANELS
        for target in panel["targets"]
        for series in METRIC.findall(target["expr"])
    }
    assert set(KNOWN_METRICS) <= queried
    titles = {panel["title"] for panel in PANELS}
    for topic in (
        "Pending pods",
        "Nodes by state",
        "Scale-up latency",
        "VM launches by result",
        "Launch failures",
        "Decision duration",
        "Tenants connected",
    ):
        assert topic in titles


def test_dashboard_panels_are_unique_and_do_not_overlap() -> None:
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in DASHBOARD["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_dashboard_queries_use_its_data_source_variable() -> None:
    variables = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert {"datasource", "tenant", "pool"} <= variables
    for panel in PANELS:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_dashboard_config_map_is_found_by_grafana() -> None:
    docs = render({"grafanaDashboard": {"enabled": True, "namespace": "monitoring"}})
    config_map = one(docs, "ConfigMap")
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (content,) = config_map["data"].values()
    assert json.loads(content) == DASHBOARD


def exported_metrics() -> dict[str, tuple[str, frozenset[str]]]:
    """What the controller exports: series name (counters with _total) -> (type, labels)."""
    exported = {}
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase) and metric._type != "info":
            name = metric._name + ("_total" if metric._type == "counter" else "")
            exported[name] = (metric._type, frozenset(metric._labelnames))
    return exported


@pytest.mark.parametrize("name", sorted(KNOWN_METRICS))
def test_the_controller_exports_each_metric_the_assets_query(name: str) -> None:
    assert exported_metrics().get(name) == KNOWN_METRICS[name]
