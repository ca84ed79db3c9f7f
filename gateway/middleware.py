"""Outermost ASGI middleware: request id, API keys, load shedding, metrics, access log, last 500.

Plain ASGI rather than BaseHTTPMiddleware, which costs a task and a stream per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import auth, errors, logs
from gateway.metrics import Metrics

logger = logging.getLogger(__name__)

ANALYSIS_PREFIX = "/analysis/"
# Probes and scrapes every few seconds: their access lines are DEBUG, not INFO.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_from(scope: Scope) -> str:
    """The client's X-Request-ID when sane (<= 64 of [A-Za-z0-9._-]), else a fresh uuid4 hex."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


def declared_body(scope: Scope) -> int | None:
    """The Content-Length of the request (0 without a body), or None for a chunked body."""
    length = 0
    for name, value in scope["headers"]:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value) if value.strip().isdigit() else None
    return length


class _CountedReceive:
    """A receive that counts body bytes and notes when the body has been read to its end."""

    __slots__ = ("bytes_in", "complete", "receive")

    def __init__(self, receive: Receive, complete: bool) -> None:
        self.receive = receive
        self.bytes_in = 0
        self.complete = complete

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.bytes_in += len(message.get("body", b""))
            self.complete = self.complete or not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.complete = True
        return message


class _TaggedSend:
    """A send that adds X-Request-ID to the response start and remembers the status.

    A response that starts before the request body was read to its end (a refusal) closes the
    connection when the rest of the body is unbounded (chunked, over the limit) or slow to come:
    otherwise the server would go on reading, and discarding, whatever the client still streams.
    A small declared body is left for the server to discard, keeping the connection: closing
    with unread data would reset it, and the client could lose the answer (a 503) to the reset.
    """

    __slots__ = ("discardable", "header", "receive", "send", "state", "status")

    def __init__(
        self, send: Send, request_id: str, receive: _CountedReceive, state: dict, discardable: bool
    ) -> None:
        self.send = send
        self.receive = receive
        self.state = state
        self.discardable = discardable
        self.header = (b"x-request-id", request_id.encode("ascii"))
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [*message.get("headers", ()), self.header]
            slow = self.state.get("error_code") == "body_timeout"
            if not self.receive.complete and (slow or not self.discardable):
                headers.append((b"connection", b"close"))
            message["headers"] = headers
        await self.send(message)


class RequestContextMiddleware:
    """Tag, authorise, count, time and log every request; cap analysis requests in flight."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        usages: frozenset[str],
        max_in_flight: int,
        max_body_bytes: int,
        api_keys: Collection[str] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.usages = usages
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        self.api_keys = tuple(key.encode() for key in api_keys)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = request_id_from(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = logs.request_id_var.set(request_id)
        body = declared_body(scope)
        counted = _CountedReceive(receive, complete=body == 0)
        discardable = body is not None and body <= self.max_body_bytes
        tagged = _TaggedSend(send, request_id, counted, state, discardable)
        path: str = scope["path"]
        usage = self.usage_label(path)
        try:
            if (
                self.api_keys
                and auth.protects(path)
                and not auth.authorized(scope["headers"], self.api_keys)
            ):
                # Before anything else: an unknown client learns nothing, not even the usages.
                await self._refuse(errors.Unauthorized(), scope, counted, tagged)
            elif usage is not None:
                await self._analysis(scope, counted, tagged)
            else:
                await self._run(scope, counted, tagged)
        finally:
            latency_s = time.perf_counter() - began
            status = tagged.status or 500
            if usage is not None:
                self.metrics.requests.labels(usage, str(status)).inc()
                self.metrics.request_seconds.labels(usage).observe(latency_s)
                self.metrics.body_bytes.labels(usage).observe(counted.bytes_in)
            error_code = state.get("error_code")
            if error_code:
                self.metrics.rejections.labels(error_code).inc()
            self._log_access(scope, usage, status, latency_s, counted.bytes_in, error_code)
            logs.request_id_var.reset(token)

    def usage_label(self, path: str) -> str | None:
        """The usage label of an analysis path (None for other paths)."""
        if not path.startswith(ANALYSIS_PREFIX):
            return None
        usage = path[len(ANALYSIS_PREFIX) :]
        # Only configured usages become label values: clients must not grow the label set.
        return usage if usage in self.usages else "unknown"

    async def _analysis(self, scope: Scope, receive: _CountedReceive, send: _TaggedSend) -> None:
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            if self.in_flight > self.max_in_flight:
                # Shed before reading the body: memory stays bounded by max_in_flight bodies.
                await self._refuse(errors.Overloaded(), scope, receive, send)
            else:
                await self._run(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    async def _run(self, scope: Scope, receive: _CountedReceive, send: _TaggedSend) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if send.status is not None:
                raise  # too late for an error body
            await self._refuse(errors.GatewayError(), scope, receive, send)

    @staticmethod
    async def _refuse(
        exc: errors.GatewayError, scope: Scope, receive: _CountedReceive, send: _TaggedSend
    ) -> None:
        scope["state"]["error_code"] = exc.code
        await errors.render(exc, scope["state"]["request_id"])(scope, receive, send)

    @staticmethod
    def _log_access(
        scope: Scope,
        usage: str | None,
        status: int,
        latency_s: float,
        bytes_in: int,
        error_code: str | None,
    ) -> None:
        path = scope["path"]
        level = logging.DEBUG if path in QUIET_PATHS and status < 400 else logging.INFO
        if not logs.access_logger.isEnabledFor(level):
            return
        path = path[:200]  # the client chose it: keep the line bounded
        latency_ms = round(latency_s * 1000, 1)
        logs.access_logger.log(
            level,
            "%s %s %d %.1f ms %d B%s",
            scope["method"],
            path,
            status,
            latency_ms,
            bytes_in,
            f" {error_code}" if error_code else "",
            extra={
                "method": scope["method"],
                "path": path,
                "usage": usage,
                "status": status,
                "latency_ms": latency_ms,
                "bytes_in": bytes_in,
                "error_code": error_code,
            },
        )
