"""The app factory: `uvicorn --factory gateway.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from gateway import errors, logs, openapi, operations
from gateway.admission import RateLimiter
from gateway.analysis import Analysis
from gateway.docs import install_docs
from gateway.metrics import Metrics
from gateway.middleware import GatewayMiddleware
from gateway.routing import make_usages
from gateway.settings import Settings, get_settings
from gateway.state import GatewayState
from gateway.tracing import Tracer
from gateway.triton_client import TritonClient, make_client

ClientFactory = Callable[[Settings], Any]


def create_app(
    settings: Settings | None = None, *, client_factory: ClientFactory = make_client
) -> FastAPI:
    """Build the gateway; `client_factory` makes its Triton client (tests pass a fake)."""
    settings = settings or get_settings()
    # Here rather than in a CLI: `uvicorn --factory` (Docker) and `healthcode serve` both get it.
    logs.configure(settings.log_level, settings.log_format)
    metrics = Metrics(settings.prometheus_multiproc_dir)
    # Made here, not in the lifespan: a repository without imaging.py fails start-up loudly.
    usages, routes = make_usages(settings)
    tracer = Tracer.from_settings(settings)
    triton = TritonClient(settings, metrics, tracer)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The gRPC client belongs to the serving event loop: made here, closed here.
        triton.open(client_factory(settings))
        tasks = [asyncio.create_task(triton.poll(settings.version_poll_s), name="version-poller")]
        if settings.triton_target.startswith("dns:"):
            fresh = functools.partial(client_factory, settings)
            reresolve = triton.reresolve(fresh, settings.triton_reresolve_s)
            tasks.append(asyncio.create_task(reresolve, name="triton-reresolver"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await triton.close()
            routes.close()
            tracer.shutdown()

    app = FastAPI(
        title="healthcode gateway",
        summary="Health-code screenshot classification in front of Triton Inference Server.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # install_docs serves them, without a CDN
        # Requests are traced and measured by the gateway's own middleware (tracing.py,
        # metrics.py). FastAPI's native telemetry would add a second server span and metrics
        # of its own wherever a global OpenTelemetry provider exists, and asks for three
        # providers on every request to find out.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.gateway = GatewayState(settings, usages, triton, metrics)
    _install_error_handlers(app)
    app.include_router(operations.router)
    labels = tuple(dict.fromkeys(label for r in routes.made() for label in r.labels))
    openapi.install(app, settings, labels)
    app.add_middleware(
        GatewayMiddleware,
        analysis=Analysis(usages, triton, settings, tracer, metrics),
        metrics=metrics,
        tracer=tracer,
        max_in_flight=settings.max_in_flight,
        max_body_bytes=settings.max_body_bytes,
        api_keys=settings.api_keys,
        limiter=(
            RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
            if settings.rate_limit_per_s
            else None
        ),
    )
    install_docs(app, settings)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Routing and validation errors of the FastAPI routes get the one error body too."""

    async def render(request: Request, error: errors.GatewayError) -> Response:
        request.state.error_code = error.code  # for the middleware's metrics and access line
        return Response(
            error.body(getattr(request.state, "request_id", "")),
            error.status_code,
            headers=error.response_headers(),
            media_type="application/json",
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        error: errors.GatewayError
        if exc.status_code == 404:
            error = errors.NotFound()
        elif exc.status_code == 405:
            error = errors.MethodNotAllowed(allow=(exc.headers or {}).get("Allow", ""))
        else:
            error = errors.GatewayError(str(exc.detail))
        return await render(request, error)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = ", ".join(".".join(map(str, err.get("loc", ()))) for err in exc.errors())
        return await render(request, errors.InvalidRequest(f"invalid request: {fields}"))

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
