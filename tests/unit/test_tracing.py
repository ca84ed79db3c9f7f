"""gateway.tracing: span structure, attributes, traceparent in and out, and the disabled path."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway import tracing
from gateway.settings import Settings
from gateway.tracing import NO_SPAN, Tracer

CLIENT_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"


def scope(path: str = "/analysis/health-code", **headers: str) -> dict:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"method": "POST", "path": path, "headers": raw, "state": {"request_id": "r-1"}}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Tracer:
    return Tracer.with_exporter(exporter)


def by_name(exporter: InMemorySpanExporter) -> dict:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_a_request_has_one_server_span_with_decode_and_triton_children(tracer, exporter):
    with tracer.request_span(scope(), "health-code") as request:
        with tracer.span("decode"):
            pass
        with tracer.span("triton.infer", client=True, model="health_code_classifier"):
            pass
        tracer.annotate(status="green", model_version="2")
        request.finish(200)
    spans = by_name(exporter)
    server = spans["POST /analysis/{usage}"]
    assert set(spans) == {"POST /analysis/{usage}", "decode", "triton.infer"}
    assert server.kind is trace.SpanKind.SERVER
    assert server.parent is None
    for child in ("decode", "triton.infer"):
        assert spans[child].parent.span_id == server.context.span_id
        assert spans[child].context.trace_id == server.context.trace_id
    assert spans["triton.infer"].kind is trace.SpanKind.CLIENT
    assert spans["triton.infer"].attributes["healthcode.model"] == "health_code_classifier"
    assert dict(server.attributes) == {
        "http.request.method": "POST",
        "url.path": "/analysis/health-code",
        "http.route": "/analysis/{usage}",
        "healthcode.usage": "health-code",
        "healthcode.request_id": "r-1",
        "healthcode.status": "green",
        "healthcode.model_version": "2",
        "http.response.status_code": 200,
    }
    assert server.status.status_code is trace.StatusCode.UNSET


def test_a_refusal_records_its_error_code_and_only_a_5xx_fails_the_span(tracer, exporter):
    with tracer.request_span(scope(), "health-code") as request:
        request.finish(415, "unsupported_media_type")
    with tracer.request_span(scope(), "health-code") as request:
        request.finish(503, "overloaded")
    refused, shed = exporter.get_finished_spans()
    assert refused.attributes["healthcode.error_code"] == "unsupported_media_type"
    assert refused.attributes["http.response.status_code"] == 415
    assert refused.status.status_code is trace.StatusCode.UNSET
    assert shed.attributes["error.type"] == "overloaded"
    assert shed.status.status_code is trace.StatusCode.ERROR


def test_the_clients_traceparent_is_continued(tracer, exporter):
    parent = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
    with tracer.request_span(scope(traceparent=parent), "health-code"):
        pass
    (server,) = exporter.get_finished_spans()
    assert format(server.context.trace_id, "032x") == CLIENT_TRACE_ID
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN_ID
    assert server.parent.is_remote


def test_a_malformed_traceparent_starts_a_new_trace(tracer, exporter):
    with tracer.request_span(scope(traceparent="00-not-a-trace-01"), "health-code"):
        pass
    (server,) = exporter.get_finished_spans()
    assert server.parent is None
    assert format(server.context.trace_id, "032x") != CLIENT_TRACE_ID


def test_grpc_headers_name_the_current_span_as_tritons_parent(tracer, exporter):
    parent = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
    with (
        tracer.request_span(scope(traceparent=parent), "health-code"),
        tracer.span("triton.infer", client=True),
    ):
        headers = tracer.grpc_headers()
    call = by_name(exporter)["triton.infer"]
    assert headers == {"traceparent": f"00-{CLIENT_TRACE_ID}-{call.context.span_id:016x}-01"}


def test_other_paths_are_named_by_their_path_and_exceptions_fail_the_span(tracer, exporter):
    with pytest.raises(RuntimeError), tracer.request_span(scope("/readyz")):
        raise RuntimeError("boom")
    (span,) = exporter.get_finished_spans()
    assert span.name == "POST /readyz"
    assert "healthcode.usage" not in span.attributes
    assert span.status.status_code is trace.StatusCode.ERROR
    assert span.events[0].name == "exception"


def test_the_context_is_restored_after_a_request(tracer):
    with tracer.request_span(scope(), "health-code"):
        assert trace.get_current_span().is_recording()
    assert trace.get_current_span() is trace.INVALID_SPAN
    tracer.annotate(status="green")  # outside a request: nothing to annotate, no error


def test_disabled_tracing_hands_out_one_shared_no_op(monkeypatch):
    tracer = Tracer.from_settings(SimpleNamespace(otlp_endpoint=None))
    assert not tracer.enabled and tracer.provider is None
    assert tracer.request_span(scope(traceparent="00-x-y-01")) is NO_SPAN
    assert tracer.span("decode") is NO_SPAN
    with tracer.request_span(scope()) as request, tracer.span("triton.infer", client=True):
        assert trace.get_current_span() is trace.INVALID_SPAN
        assert tracer.grpc_headers() is None
        tracer.annotate(status="green")
        request.finish(500, "inference_failed")
    # Settings without the field at all (before it exists) mean "off" too.
    assert not Tracer.from_settings(Settings()).enabled
    tracer.shutdown()


def test_disabled_tracing_never_imports_the_sdk_nor_sets_a_global_provider():
    code = (
        "import sys; from types import SimpleNamespace\n"
        "from opentelemetry import trace\n"
        "from gateway.tracing import Tracer\n"
        "t = Tracer.from_settings(SimpleNamespace(otlp_endpoint=''))\n"
        "with t.request_span({'method': 'GET', 'path': '/', 'headers': []}): t.grpc_headers()\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')]\n"
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_endpoint_turns_on_otlp_export_without_a_global_provider(monkeypatch):
    tracer = Tracer.from_settings(SimpleNamespace(otlp_endpoint="http://127.0.0.1:4318"))
    try:
        assert tracer.enabled
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
    finally:
        tracer.shutdown()


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example:443/v1/traces", "https://otel.example:443/v1/traces"),
    ],
)
def test_traces_url_appends_the_otlp_path_once(endpoint, url):
    assert tracing.traces_url(endpoint) == url


@pytest.mark.parametrize("endpoint", ["collector:4318", "ftp://collector", "http://"])
def test_an_endpoint_that_is_no_http_url_is_refused(endpoint):
    with pytest.raises(ValueError, match="http"):
        tracing.traces_url(endpoint)


def test_triton_args_point_tritons_opentelemetry_mode_at_the_same_collector():
    assert tracing.triton_args(None) == []
    args = tracing.triton_args("http://collector:4318")
    assert "--trace-config=mode=opentelemetry" in args
    assert "--trace-config=opentelemetry,url=http://collector:4318/v1/traces" in args
    assert "--trace-config=level=TIMESTAMPS" in args
