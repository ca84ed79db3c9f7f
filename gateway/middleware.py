"""The gateway's one middleware: request id, API keys, load shedding, metrics, access log, last 500.

Plain ASGI, outermost but for Starlette's error guard. `POST /analysis/{usage}` is served here,
straight to gateway.analysis, never through FastAPI's routing, dependency solving and exception
layers: that path runs per request and should cost what it must. Every other path (probes,
metrics, docs) goes on to the FastAPI app.

A refusal sent before the request body was read to its end keeps the connection when the unread
rest is small and declared (the server discards it; closing with unread data would reset the
connection and the client could lose the answer). Otherwise it says `Connection: close`, and the
rest of the body is read and dropped for a bounded time and size after the answer was sent
(a lingering close, as nginx does), so that a client still sending sees its answer, not a reset.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import auth, errors, logs
from gateway.admission import RateLimiter
from gateway.analysis import Analysis
from gateway.metrics import Metrics
from gateway.tracing import Tracer

logger = logging.getLogger(__name__)

LINGER_BYTES = 64 * 1024 * 1024
LINGER_S = 5.0
REQUEST_ID_PATTERN = "[A-Za-z0-9._-]{1,64}"  # a client's X-Request-ID kept as is
_SANE_ID = re.compile(REQUEST_ID_PATTERN.encode())


class Head:
    """The request headers the middleware needs, read in one pass."""

    __slots__ = ("content_type", "declared", "request_id")

    def __init__(self, scope: Scope) -> None:
        self.declared: int | None = 0  # Content-Length; None for a chunked body
        self.content_type = ""
        given = b""
        for name, value in scope["headers"]:
            if name == b"content-length":
                self.declared = int(value) if value.strip().isdigit() else None
            elif name == b"transfer-encoding":
                self.declared = None
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"x-request-id":
                given = value
        # The client's id when sane (<= 64 of [A-Za-z0-9._-]), else a fresh one.
        self.request_id = given.decode() if _SANE_ID.fullmatch(given) else uuid.uuid4().hex


class Exchange:
    """One request's receive and send: counts the body, tags the answer, closes when it must."""

    __slots__ = (
        "bytes_in",
        "complete",
        "discardable",
        "receive_from",
        "request_id",
        "send_to",
        "status",
    )

    def __init__(self, receive: Receive, send: Send, head: Head, max_body_bytes: int) -> None:
        self.receive_from, self.send_to = receive, send
        self.request_id = head.request_id
        self.bytes_in = 0
        self.complete = head.declared == 0  # the body has been read to its end
        self.discardable = head.declared is not None and head.declared <= max_body_bytes
        self.status: int | None = None

    async def receive(self) -> Message:
        message = await self.receive_from()
        if message["type"] == "http.request":
            self.bytes_in += len(message.get("body", b""))
            self.complete = self.complete or not message.get("more_body", False)
        else:  # http.disconnect
            self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [
                *message.get("headers", ()),
                (b"x-request-id", self.request_id.encode()),
            ]
        await self.send_to(message)

    async def answer(self, status: int, body: bytes, headers: dict[str, str], slow: bool) -> None:
        """Send a complete JSON response; linger over an unread body that must not stay."""
        raw = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        close = not self.complete and (slow or not self.discardable)
        linger = close and not slow  # a client too slow to send its body is not waited for
        if close:
            raw.append((b"connection", b"close"))
        await self.send({"type": "http.response.start", "status": status, "headers": raw})
        await self.send({"type": "http.response.body", "body": body, "more_body": linger})
        if linger:
            await self._linger()
            await self.send({"type": "http.response.body", "body": b""})

    async def _linger(self) -> None:
        deadline = time.monotonic() + LINGER_S
        start = self.bytes_in
        while not self.complete and self.bytes_in - start < LINGER_BYTES:
            if time.monotonic() > deadline:
                return
            await self.receive()


class GatewayMiddleware:
    """Tag, authorise, count, time and log every request; serve and cap analysis requests."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        analysis: Analysis,
        metrics: Metrics,
        max_in_flight: int,
        max_body_bytes: int,
        tracer: Tracer,
        api_keys: Collection[str] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.limiter = limiter
        self.analysis = analysis
        self.metrics = metrics
        self.max_in_flight = max_in_flight
        self.max_body_bytes = max_body_bytes
        self.api_keys = tuple(key.encode() for key in api_keys)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        head = Head(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = head.request_id
        token = logs.request_id_var.set(head.request_id)
        exchange = Exchange(receive, send, head, self.max_body_bytes)
        path: str = scope["path"]
        usage = self.analysis.usage_label(path)
        with self.tracer.request_span(scope, usage) as span:
            try:
                error = await self._serve(path, usage, scope, head, exchange)
                if error is not None and exchange.status is None:
                    state["error_code"] = error.code
                    slow = isinstance(error, errors.BodyTimeout)
                    body = error.body(head.request_id)
                    await exchange.answer(error.status_code, body, error.response_headers(), slow)
            finally:
                error_code = state.get("error_code")
                span.finish(exchange.status or 500, error_code)
                self._account(scope, usage, exchange, error_code, began)
                logs.request_id_var.reset(token)

    async def _serve(
        self, path: str, usage: str | None, scope: Scope, head: Head, exchange: Exchange
    ) -> errors.GatewayError | None:
        """Run the request; the error to answer with, if any."""
        try:
            protected = self.api_keys and auth.protects(path)
            if protected and not auth.authorized(scope["headers"], self.api_keys):
                # Before anything else: an unknown client learns nothing, not even the usages.
                raise errors.Unauthorized()
            if usage is None:
                await self._app(scope, exchange)
            elif scope["method"] != "POST":
                raise errors.MethodNotAllowed(allow="POST")
            else:
                if self.limiter is not None:
                    self.limiter.take(self._client(scope))
                await self._analyze(path, scope["query_string"], head, exchange)
        except errors.GatewayError as e:
            return e
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], path)
            if exchange.status is not None:
                raise  # too late for an error body
            return errors.GatewayError()
        return None

    def _client(self, scope: Scope) -> bytes:
        """Whom a rate limit counts: the API key when keys are on, else the client's address."""
        key = auth.presented_key(scope["headers"]) if self.api_keys else None
        if key:
            return b"key:" + key
        client = scope.get("client")
        return b"addr:" + (client[0] if client else "").encode()

    async def _app(self, scope: Scope, exchange: Exchange) -> None:
        await self.app(scope, exchange.receive, exchange.send)

    async def _analyze(self, path: str, query: bytes, head: Head, exchange: Exchange) -> None:
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            if self.in_flight > self.max_in_flight:
                # Shed before reading the body: memory stays bounded by max_in_flight bodies.
                raise errors.Overloaded()
            body = await self.analysis(
                path,
                query,
                head.content_type,
                head.declared,
                exchange.receive,
                head.request_id,
            )
            await exchange.answer(200, body, {}, slow=False)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    def _account(
        self,
        scope: Scope,
        usage: str | None,
        exchange: Exchange,
        error_code: str | None,
        began: float,
    ) -> None:
        latency_s = time.perf_counter() - began
        status = exchange.status or 500
        if usage is not None:
            self.metrics.requests.labels(usage, str(status)).inc()
            self.metrics.request_seconds.labels(usage).observe(latency_s)
            self.metrics.body_bytes.labels(usage).observe(exchange.bytes_in)
        if error_code:
            self.metrics.rejections.labels(error_code).inc()
        path = scope["path"][:200]  # the client chose it: keep the line bounded
        level = logs.access_level(path, status)
        if logs.access_logger.isEnabledFor(level):
            logs.access(
                level, scope["method"], path, usage, status, latency_s, exchange, error_code
            )
