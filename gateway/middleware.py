"""Outermost ASGI middleware: request id, load shedding, metrics, last-resort 500.

Plain ASGI rather than BaseHTTPMiddleware, which costs a task and a stream per request.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import errors
from gateway.metrics import Metrics

logger = logging.getLogger(__name__)

ANALYSIS_PREFIX = "/analysis/"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id_from(scope: Scope) -> str:
    """The client's X-Request-ID when sane (<= 64 of [A-Za-z0-9._-]), else a fresh uuid4 hex."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return uuid.uuid4().hex


class _TaggedSend:
    """A send that adds X-Request-ID to the response start and remembers the status."""

    __slots__ = ("header", "send", "status")

    def __init__(self, send: Send, request_id: str) -> None:
        self.send = send
        self.header = (b"x-request-id", request_id.encode("ascii"))
        self.status: int | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.header]
        await self.send(message)


class RequestContextMiddleware:
    """Tag every response with X-Request-ID; count, time and cap analysis requests."""

    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, usages: frozenset[str], max_in_flight: int
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.usages = usages
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        tagged = _TaggedSend(send, request_id)
        path: str = scope["path"]
        if not path.startswith(ANALYSIS_PREFIX):
            await self._run(scope, receive, tagged, request_id)
            return
        usage = path[len(ANALYSIS_PREFIX) :]
        # Only configured usages become label values: clients must not grow the label set.
        label = usage if usage in self.usages else "unknown"
        began = time.perf_counter()
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            if self.in_flight > self.max_in_flight:
                # Shed before reading the body: memory stays bounded by max_in_flight bodies.
                await errors.render(errors.Overloaded(), request_id)(scope, receive, tagged)
            else:
                await self._run(scope, receive, tagged, request_id)
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(label, str(tagged.status or 500)).inc()
            self.metrics.request_seconds.labels(label).observe(time.perf_counter() - began)

    async def _run(
        self, scope: Scope, receive: Receive, send: _TaggedSend, request_id: str
    ) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception:
            logger.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if send.status is not None:
                raise  # too late for an error body
            await errors.render(errors.GatewayError(), request_id)(scope, receive, send)
