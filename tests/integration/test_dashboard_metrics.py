"""The Triton metrics the dashboard and alerts read are the ones the running Triton exports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.integration.service import Service, pids_using
from tests.unit.test_dashboard import TRITON_METRICS, used_metrics

_TYPE_LINE = re.compile(r"^# TYPE (\S+) ", re.MULTILINE)


def triton_metrics_url(service: Service) -> str:
    """Read the metrics port off the command line of this service's tritonserver."""
    (pid,) = pids_using(service.model_repository, "tritonserver")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    (port,) = [a.split("=", 1)[1] for a in argv if a.startswith("--metrics-port=")]
    return f"http://127.0.0.1:{port}/metrics"


def test_triton_exports_every_metric_the_dashboard_and_alerts_read(
    service: Service, client: httpx.Client
):
    image = (
        Path(__file__).resolve().parents[2] / "benchmarks/data/seed-1440x3200.jpg"
    ).read_bytes()
    answer = client.post(
        "/analysis/health-code", content=image, headers={"content-type": "image/jpeg"}
    )
    assert answer.status_code == 200
    exposition = httpx.get(triton_metrics_url(service), timeout=10).text
    exported = set(_TYPE_LINE.findall(exposition))
    assert exported >= TRITON_METRICS, sorted(TRITON_METRICS - exported)
    used_from_triton = {name for name in used_metrics() if name.startswith("nv_")}
    assert used_from_triton <= exported
    # Per model: the dashboard groups by the `model` label.
    assert re.search(r'^nv_inference_count\{[^}]*model="health_code', exposition, re.MULTILINE)
