"""The Triton series the autoscaler, the dashboard and the alerts read are ones Triton exports."""

from __future__ import annotations

import re

import httpx

from gateway.local_service import LocalService
from tests.deploy.manifests import adapter_rules, adapter_series
from tests.support.images import encode
from tests.support.observability import TRITON_METRICS, used_metrics


def test_triton_exports_every_series_the_adapter_rules_dashboard_and_alerts_read(
    service: LocalService, client: httpx.Client
) -> None:
    # Per-model counters are there once a model has served a request.
    answer = client.post(
        "/analysis/health-code", content=encode("JPEG"), headers={"content-type": "image/jpeg"}
    )
    assert answer.status_code == 200, answer.text
    text = httpx.get(service.triton_metrics_url(), timeout=10).text
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    adapter = {name for rule in adapter_rules() for name in adapter_series(rule)}
    read = {n for n in adapter | used_metrics() if n.startswith("nv_")} | TRITON_METRICS
    assert {n for n in adapter if n.startswith("nv_")}, "the adapter rules read no Triton series"
    assert read <= exported, sorted(read - exported)
    # Counted per model, as the autoscaler's arithmetic and the dashboard's grouping assume.
    for name in read & {"nv_inference_count", "nv_inference_queue_duration_us"}:
        assert re.search(rf'^{name}\{{[^}}]*model="health_code_classifier"', text, re.M), name
