"""The app factory: `uvicorn --factory gateway.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI

from gateway import errors, logs
from gateway.docs import install_docs
from gateway.inference import Triton, make_client
from gateway.metrics import Metrics
from gateway.middleware import RequestContextMiddleware
from gateway.preprocess import Decoder
from gateway.routes import analysis, health
from gateway.settings import Settings, get_settings

ClientFactory = Callable[[Settings], Any]


def create_app(
    settings: Settings | None = None, *, client_factory: ClientFactory = make_client
) -> FastAPI:
    """Build the gateway; `client_factory` makes its Triton client (tests pass a fake)."""
    settings = settings or get_settings()
    # Here rather than in a CLI: `uvicorn --factory` (Docker) and `healthcode serve` both get it.
    logs.configure(settings.log_level, settings.log_format)
    metrics = Metrics()
    # Loaded here, not in the lifespan: a missing imaging.py fails start-up loudly.
    decoder = (
        Decoder(settings.model_repository, set(settings.usages.values()))
        if settings.decode == "gateway"
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The gRPC client belongs to the serving event loop: made here, closed here.
        client = client_factory(settings)
        app.state.triton = triton = Triton(client, settings, metrics)
        poller = asyncio.create_task(triton.poll_versions(), name="triton-version-poller")
        try:
            yield
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await client.close()
            if decoder is not None:
                decoder.close()

    app = FastAPI(
        title="healthcode gateway",
        summary="Health-code screenshot classification in front of Triton Inference Server.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # install_docs serves them, without a CDN
    )
    app.state.settings = settings
    app.state.decoder = decoder
    app.state.metrics = metrics
    errors.install_error_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        usages=frozenset(settings.usages),
        max_in_flight=settings.max_in_flight,
        max_body_bytes=settings.max_body_bytes,
        api_keys=settings.api_keys,
    )
    app.include_router(analysis.router)
    app.include_router(health.router)
    install_docs(app, settings)
    return app
