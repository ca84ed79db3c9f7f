"""A stand-in OpenTelemetry collector on loopback: takes OTLP/HTTP (JSON) exports, keeps the spans.

For the tracing test and for benchmarks with tracing on; it answers every export with 200.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator

import orjson


class OtlpSink(http.server.ThreadingHTTPServer):
    """Every span it was sent, each with its resource's `service.name` as "service"."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.exports = 0
        super().__init__(("127.0.0.1", 0), _Receive)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(http.server.BaseHTTPRequestHandler):
    server: OtlpSink

    def do_POST(self) -> None:
        body = orjson.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        for resource in body.get("resourceSpans", []):
            attributes = resource.get("resource", {}).get("attributes", [])
            service = {a["key"]: a["value"] for a in attributes}.get("service.name", {})
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    span["service"] = service.get("stringValue")
                    self.server.spans.append(span)
        self.server.exports += 1
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def running_sink() -> Iterator[OtlpSink]:
    sink = OtlpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()
