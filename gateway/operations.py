"""Operational endpoints: liveness, readiness and Prometheus metrics (FastAPI routes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from gateway.state import GatewayState

router = APIRouter(tags=["operations"])


async def _state(request: Request) -> GatewayState:
    # async def: FastAPI runs a plain `def` dependency in its thread pool (a hand-off per call).
    state: GatewayState = request.app.state.gateway
    return state


StateDep = Annotated[GatewayState, Depends(_state)]


def _json(body: Mapping[str, object], status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code, media_type="application/json")


@router.get("/healthz", responses={200: {"description": '{"status": "ok"}'}})
async def healthz() -> Response:
    """Liveness: the process answers (Triton is not asked)."""
    return _json({"status": "ok"})


@router.get(
    "/readyz",
    responses={
        200: {"description": "Triton and every model the usages call are ready."},
        503: {"description": "Something is not ready; `not_ready` names it."},
    },
)
async def readyz(state: StateDep) -> Response:
    """Readiness: Triton is ready and so is every model the usages call now."""
    routes = [usage.route(state.triton.ready_models) for usage in state.usages.values()]
    models = sorted({m for route in routes for m in route.ready_models})
    server_ready, model_ready = await state.triton.readiness(models)
    not_ready = ([] if server_ready else ["triton"]) + [
        m for m, ok in model_ready.items() if not ok
    ]
    body = {
        "status": "not_ready" if not_ready else "ready",
        "triton": server_ready,
        "models": model_ready,
        "not_ready": not_ready,
    }
    return _json(body, 503 if not_ready else 200)


@router.get("/metrics", responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, state: StateDep) -> Response:
    """Prometheus exposition of the gateway's metrics."""
    content, content_type = state.metrics.render(request.headers.get("accept", ""))
    return Response(content, media_type=content_type)
