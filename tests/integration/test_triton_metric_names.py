"""The Triton series the Kubernetes autoscaler's adapter rules read are ones Triton exports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.deploy.manifests import adapter_rules, adapter_series
from tests.images import encode


def triton_metrics_url(service) -> str:
    """Triton's metrics endpoint of the running `healthcode serve` (port from its environment)."""
    environ = Path(f"/proc/{service.process.pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return f"http://127.0.0.1:{env['HEALTHCODE_TRITON_METRICS_PORT']}/metrics"


def test_triton_exports_every_series_the_adapter_rules_read(service, client):
    # Per-model counters are there once a model has served a request.
    answer = client.post(
        "/analysis/health-code", content=encode("JPEG"), headers={"content-type": "image/jpeg"}
    )
    assert answer.status_code == 200, answer.text
    text = httpx.get(triton_metrics_url(service), timeout=10).text
    exported = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M))
    wanted = {name for rule in adapter_rules() for name in adapter_series(rule)}
    triton = {name for name in wanted if name.startswith("nv_")}
    assert triton, "the adapter rules read no Triton series"
    assert triton <= exported, sorted(triton - exported)
    # Both are counted per model, as the rule's arithmetic assumes.
    for name in triton:
        assert re.search(rf'^{name}\{{[^}}]*model="health_code_classifier"', text, re.M), name
