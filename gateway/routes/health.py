"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.deps import MetricsDep, SettingsDep, TritonDep

router = APIRouter(tags=["operations"])


def _json(body: dict, status_code: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code, media_type="application/json")


@router.get("/healthz", responses={200: {"description": '{"status": "ok"}'}})
async def healthz() -> Response:
    """Liveness: the process answers (Triton is not asked)."""
    return _json({"status": "ok"})


@router.get(
    "/readyz",
    responses={
        200: {"description": "Triton and every model of settings.usages are ready."},
        503: {"description": "Something is not ready; `not_ready` names it."},
    },
)
async def readyz(settings: SettingsDep, triton: TritonDep) -> Response:
    """Readiness: Triton is ready and so is the model of every usage."""
    models = sorted(set(settings.usages.values()))
    server_ready, model_ready = await triton.readiness(models)
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
async def metrics(request: Request, metrics: MetricsDep) -> Response:
    """Prometheus exposition of the gateway's metrics."""
    content, content_type = metrics.render(request.headers.get("accept", ""))
    return Response(content, media_type=content_type)
