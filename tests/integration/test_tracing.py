"""Traces end to end: client traceparent -> gateway spans -> Triton's spans, in one trace."""

from __future__ import annotations

import http.server
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.local_service import free_port
from tests.support.service import SEED_JPEG, run_service, wait_for

IMAGE = SEED_JPEG.read_bytes()


class Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP receiver on loopback that keeps every span it is sent (JSON encoding)."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        super().__init__(("127.0.0.1", free_port()), _Receive)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers["content-length"])))
        for resource in body["resourceSpans"]:
            service = {a["key"]: a["value"] for a in resource["resource"]["attributes"]}
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    span["service"] = service["service.name"]["stringValue"]
                    self.server.spans.append(span)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_clients_trace_continues_through_the_gateway_into_triton(
    tmp_path: Path, collector: Collector
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
