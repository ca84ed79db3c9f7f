"""What deploy/observability reads: the metric names in its dashboard and alert rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from gateway.metrics import Metrics

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
ALERTS = OBSERVABILITY / "alerts.yaml"

# What Triton 2.51 exports on its metrics port (per model and version) that the files use.
TRITON_METRICS = frozenset(
    {
        "nv_inference_count",
        "nv_inference_exec_count",
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_pending_request_count",
    }
)
# Made by Prometheus itself for every scrape target.
PROMETHEUS_METRICS = frozenset({"up"})
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_NAMES = re.compile(
    r"\{[^}]*\}"  # label matchers
    r"|\[[^\]]*\]"  # ranges and subqueries
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"  # label lists
    r"|\$\{?\w+\}?"  # Grafana variables
)
_NAME = re.compile(r"(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, labels and keywords left out)."""
    text = _NOT_NAMES.sub(" ", _STRINGS.sub('""', expr))
    return {n for n in _NAME.findall(text) if n.lower() not in _KEYWORDS}


def gateway_metrics() -> set[str]:
    """Every sample name the gateway's registry can expose, observed or not."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def dashboard_panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard_panels(board["panels"]) for t in p.get("targets", [])]


def alert_rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]
    ]


def used_metrics() -> set[str]:
    return set().union(*map(metric_names, dashboard_exprs() + [r["expr"] for r in alert_rules()]))
