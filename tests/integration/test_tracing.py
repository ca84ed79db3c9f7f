"""Traces end to end: client traceparent -> gateway spans -> Triton's spans, in one trace."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.otlp_sink import OtlpSink, running_sink
from tests.support.service import SEED_JPEG, run_service, wait_for

IMAGE = SEED_JPEG.read_bytes()


@pytest.fixture
def collector() -> Iterator[OtlpSink]:
    with running_sink() as sink:
        yield sink


def test_a_clients_trace_continues_through_the_gateway_into_triton(
    tmp_path: Path, collector: OtlpSink
):
    trace_id, client_span = secrets.token_hex(16), secrets.token_hex(8)
    with run_service(tmp_path, otlp_endpoint=collector.url) as service:
        answer = httpx.post(
            f"{service.base_url}/analysis/health-code",
            content=IMAGE,
            headers={
                "content-type": "image/jpeg",
                "traceparent": f"00-{trace_id}-{client_span}-01",
            },
            timeout=30,
        )
        assert answer.status_code == 200

        def exported(service_name: str) -> bool:
            return any(
                s["traceId"] == trace_id and s["service"] == service_name for s in collector.spans
            )

        # Triton and each gateway worker export in batches every few seconds (later on a busy
        # machine); the message says who had exported what by the deadline.
        both = lambda: exported("triton") and exported("healthcode-gateway")  # noqa: E731
        assert wait_for(both, 60), (
            sorted({(s["service"], s["traceId"] == trace_id) for s in collector.spans}),
            service.log_tail(2000),
        )
    spans = [s for s in collector.spans if s["traceId"] == trace_id]
    gateway = {s["name"]: s for s in spans if s["service"] == "healthcode-gateway"}
    server = gateway["POST /analysis/{usage}"]
    assert server["parentSpanId"] == client_span
    attributes = {a["key"]: a["value"] for a in server["attributes"]}
    assert attributes["healthcode.status"] == {"stringValue": "green"}
    assert attributes["http.response.status_code"] == {"intValue": "200"}
    call = gateway["triton.infer"]
    assert call["parentSpanId"] == server["spanId"]
    assert gateway["decode"]["parentSpanId"] == server["spanId"]
    triton = [s for s in spans if s["service"] == "triton"]
    (request,) = [s for s in triton if s["name"] == "InferRequest"]
    assert request["parentSpanId"] == call["spanId"]
    assert any(s["name"] == "health_code_classifier" for s in triton)
