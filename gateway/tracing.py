"""OpenTelemetry traces: one server span per request, child spans, and the context sent to Triton.

Off unless HEALTHCODE_OTLP_ENDPOINT is set. Off, every method is a constant no-op: no provider,
no span objects, no context changes, and the OpenTelemetry SDK is never imported. On, a private
tracer provider exports spans in batches over OTLP/HTTP to `<endpoint>/v1/traces`, in OTLP's JSON
encoding: the protobuf exporters need protobuf 5, which tritonclient 2.51 forbids; collectors
take both encodings on the same port (4318).

The global tracer provider is left alone on purpose: FastAPI's own telemetry instruments every
request once a global provider exists, and a request would then get two server spans.

How a request is traced (the gateway wires these calls):

    tracer = Tracer.from_settings(settings)          # once, in create_app
    with tracer.request_span(scope, usage) as span:  # outermost middleware
        ...                                          # the app runs inside
        span.finish(status_code, error_code)
    with tracer.span("decode"): ...                  # children of the current span
    with tracer.span("triton.infer", client=True, model=model):
        await client.infer(..., headers=tracer.grpc_headers())
    tracer.annotate(status="green", model_version="2")
    tracer.shutdown()                                # lifespan end: flushes what is queued

grpc_headers() carries W3C `traceparent` in the gRPC metadata; Triton started with
`--trace-config mode=opentelemetry` (triton_args()) makes its spans children of that call.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.settings import Settings

SERVICE_NAME = "healthcode-gateway"
TRITON_SERVICE_NAME = "triton"
TRACES_PATH = "/v1/traces"
EXPORT_TIMEOUT_S = 5.0
# What the server span is named for paths other than the analysis route: a bounded set.
ANALYSIS_ROUTE = "/analysis/{usage}"

_PROPAGATOR = TraceContextTextMapPropagator()
# The request span of the running request, for annotate() from anywhere below the middleware.
_REQUEST_SPAN: contextvars.ContextVar[trace.Span | None] = contextvars.ContextVar(
    "healthcode_request_span", default=None
)


class _NoSpan:
    """What a disabled tracer hands out: a context manager and span whose methods do nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def finish(self, status_code: int, error_code: str | None = None) -> None:
        return None


NO_SPAN = _NoSpan()


class RequestSpan:
    """The server span of one request, as the middleware sees it."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def finish(self, status_code: int, error_code: str | None = None) -> None:
        """Record the answer: HTTP status, the error code if any; 5xx marks the span failed."""
        span = self.span
        span.set_attribute("http.response.status_code", status_code)
        if error_code:
            span.set_attribute("healthcode.error_code", error_code)
        if status_code >= 500:
            # A server span fails on 5xx only: 4xx answers are the client's mistake.
            span.set_attribute("error.type", error_code or str(status_code))
            span.set_status(trace.StatusCode.ERROR)


class _HeadersGetter(Getter[list[tuple[bytes, bytes]]]):
    """Reads W3C trace headers from raw ASGI headers (names are lower-case bytes)."""

    def get(self, carrier: list[tuple[bytes, bytes]], key: str) -> list[str] | None:
        name = key.encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == name]
        return values or None

    def keys(self, carrier: list[tuple[bytes, bytes]]) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_GETTER = _HeadersGetter()


class Tracer:
    """The gateway's tracer; `Tracer(None)` (tracing off) does nothing at every call."""

    def __init__(self, provider: Any | None) -> None:
        self.provider = provider
        self._tracer: Any = None if provider is None else provider.get_tracer("healthcode.gateway")

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracer:
        """OTLP export to settings.otlp_endpoint when it is set; otherwise a disabled tracer."""
        endpoint = settings.otlp_endpoint
        if not endpoint:
            return cls(None)
        return cls.with_exporter(otlp_exporter(str(endpoint)), batch=True)

    @classmethod
    def with_exporter(cls, exporter: Any, *, batch: bool = False) -> Tracer:
        """A tracer whose spans go to `exporter` (tests pass an in-memory one, unbatched)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
        # The sampler comes from OTEL_TRACES_SAMPLER (default: follow the client's decision,
        # sample every request that has no parent).
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(processor)
        return cls(provider)

    def request_span(
        self, scope: MutableMapping[str, Any], usage: str | None = None
    ) -> contextlib.AbstractContextManager[RequestSpan | _NoSpan]:
        """The server span of one HTTP request, continuing the client's `traceparent` if any."""
        if self._tracer is None:
            return NO_SPAN
        return self._request_span(scope, usage)

    @contextlib.contextmanager
    def _request_span(
        self, scope: MutableMapping[str, Any], usage: str | None
    ) -> Iterator[RequestSpan]:
        parent = _PROPAGATOR.extract(scope["headers"], getter=_GETTER)
        method = scope.get("method", "")
        route = ANALYSIS_ROUTE if usage is not None else scope["path"][:200]
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": scope["path"][:200],
            "http.route": route,
        }
        if usage is not None:
            attributes["healthcode.usage"] = usage
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            attributes["healthcode.request_id"] = request_id
        span = self._tracer.start_span(
            f"{method} {route}", context=parent, kind=trace.SpanKind.SERVER, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        request_token = _REQUEST_SPAN.set(span)
        try:
            yield RequestSpan(span)
        except BaseException as e:
            span.record_exception(e)
            span.set_status(trace.StatusCode.ERROR, type(e).__name__)
            raise
        finally:
            _REQUEST_SPAN.reset(request_token)
            otel_context.detach(token)
            span.end()

    def span(
        self, name: str, *, client: bool = False, **attributes: Any
    ) -> contextlib.AbstractContextManager[Any]:
        """A child span of the current one (`client=True` for a call to another service)."""
        if self._tracer is None:
            return NO_SPAN
        kind = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
        named = {f"healthcode.{k}": v for k, v in attributes.items()}
        started: contextlib.AbstractContextManager[Any] = self._tracer.start_as_current_span(
            name, kind=kind, attributes=named
        )
        return started

    def annotate(self, **attributes: Any) -> None:
        """Add `healthcode.<name>` attributes to the request span (status, model_version …)."""
        if self._tracer is None:
            return
        span = _REQUEST_SPAN.get()
        if span is not None:
            span.set_attributes({f"healthcode.{k}": v for k, v in attributes.items()})

    def grpc_headers(self) -> dict[str, str] | None:
        """`traceparent` (and `tracestate`) of the current span for tritonclient's `headers=`."""
        if self._tracer is None:
            return None
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier or None

    def shutdown(self) -> None:
        """Export what is queued and stop the exporter (at the end of the app's lifespan)."""
        if self.provider is not None:
            self.provider.shutdown()


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector address (`http://collector:4318`)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the OTLP endpoint must be an http(s) URL, got {endpoint!r}")
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def otlp_exporter(endpoint: str) -> Any:
    """An OTLP/HTTP JSON span exporter sending to `endpoint`."""
    from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=traces_url(endpoint), timeout=EXPORT_TIMEOUT_S)


def triton_args(endpoint: str | None, rate: int = 1) -> list[str]:
    """tritonserver flags that make Triton export its own spans to the same collector.

    Triton joins a trace when the request's gRPC metadata has `traceparent` (grpc_headers()).
    It samples by its own `rate` (1: every request), whatever the parent's sampled flag says
    (Triton 2.51 traced a `-00` parent too): with a sampling gateway, sample in the collector.
    """
    if not endpoint:
        return []
    return [
        "--trace-config=mode=opentelemetry",
        "--trace-config=level=TIMESTAMPS",
        f"--trace-config=rate={rate}",
        "--trace-config=count=-1",
        f"--trace-config=opentelemetry,url={traces_url(endpoint)}",
        f"--trace-config=opentelemetry,resource=service.name={TRITON_SERVICE_NAME}",
    ]
