"""deploy/observability: every metric the dashboard and the alerts read is one that is exported.

Gateway metric names are read from `gateway.metrics.Metrics()`'s registry, never copied.
Triton's are the list below, which tests/integration/test_dashboard_metrics.py checks against
the running embedded Triton's metrics port.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.observability import (
    DASHBOARD,
    PROMETHEUS_METRICS,
    TRITON_METRICS,
    alert_rules,
    dashboard_panels,
    gateway_metrics,
    metric_names,
    used_metrics,
)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (code) (rate(healthcode_requests_total{code=~"5.."}[$__rate_interval]))',
            {"healthcode_requests_total"},
        ),
        (
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 1e3",
            {"x_bucket"},
        ),
        ("count(a > 0) or vector(0) unless on (model) b", {"a", "b"}),
        ('up{job=~".*triton.*"} == 0', {"up"}),
    ],
)
def test_metric_names_are_read_out_of_promql(expr, names):
    assert metric_names(expr) == names


def test_the_gateway_exports_its_histograms_and_counters_under_their_sample_names():
    names = gateway_metrics()
    assert {"healthcode_requests_total", "healthcode_request_duration_seconds_bucket"} <= names


def test_every_metric_the_dashboard_and_alerts_read_is_exported():
    exported = gateway_metrics() | TRITON_METRICS | PROMETHEUS_METRICS
    unknown = used_metrics() - exported
    assert not unknown, f"not exported by the gateway or Triton: {sorted(unknown)}"


def test_the_dashboard_shows_what_operators_look_at():
    used = used_metrics()
    for name in (
        "healthcode_requests_total",  # rate by status
        "healthcode_request_duration_seconds_bucket",  # latency percentiles
        "healthcode_requests_in_flight",
        "healthcode_rejections_total",  # by reason
        "nv_inference_queue_duration_us",
        "nv_inference_compute_infer_duration_us",
        "nv_inference_count",  # / exec_count: batch size
        "nv_inference_exec_count",
        "healthcode_model_serving_version",
    ):
        assert name in used


def test_the_dashboard_layout_is_sound():
    board = json.loads(DASHBOARD.read_text())
    panels = list(dashboard_panels(board["panels"]))
    assert len({p["id"] for p in panels}) == len(panels)
    taken: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        cells = {(g["x"] + dx, g["y"] + dy) for dx in range(g["w"]) for dy in range(g["h"])}
        assert g["x"] + g["w"] <= 24 and not cells & taken, f"panel {p['title']!r} overlaps"
        taken |= cells
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}"
            assert p["targets"] and all(t["expr"].strip() for t in p["targets"])


def test_every_alert_says_what_and_how_bad():
    rules = alert_rules()
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_the_failure_modes_operations_names_have_an_alert():
    exprs = {r["alert"]: r["expr"] for r in alert_rules()}
    assert "up" in metric_names(exprs["HealthcodeTritonDown"])
    assert 'code=~"5.."' in exprs["HealthcodeServerErrors"]
    assert 'reason="overloaded"' in exprs["HealthcodeShedding"]
    assert "healthcode_request_duration_seconds_bucket" in exprs["HealthcodeSlowAnswers"]
    assert "healthcode_model_version_failed" in exprs["HealthcodeModelVersionFailedToLoad"]
