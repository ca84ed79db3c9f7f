"""POST /analysis/{usage}: classify one health-code image."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from gateway import errors
from gateway.deps import DecoderDep, SettingsDep, TritonDep
from gateway.payload import read_image

router = APIRouter(tags=["analysis"])


class Scores(BaseModel):
    green: float
    yellow: float
    red: float
    invalid: float


class AnalysisResult(BaseModel):
    """A classified image (documentation only: the route writes the JSON with orjson)."""

    usage: str = Field(examples=["health-code"])
    status: Literal["green", "yellow", "red", "invalid"]
    confidence: float = Field(ge=0, le=1, description="The probability of `status`.")
    scores: Scores
    model_version: str = Field(examples=["1"], description="Version of the serving classifier.")
    request_id: str


_BINARY = {"schema": {"type": "string", "format": "binary"}}
REQUEST_BODY = {
    "required": True,
    "description": "A JPEG or PNG screenshot, as base64 in JSON or as the raw body.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["base64"],
                "properties": {
                    "base64": {
                        "type": "string",
                        "description": "Strict base64 of the image; a "
                        "`data:image/...;base64,` prefix is accepted.",
                    }
                },
            }
        },
        "image/jpeg": _BINARY,
        "image/png": _BINARY,
    },
}


def _error(description: str) -> dict:
    return {"model": errors.ErrorResponse, "description": description}


RESPONSES: dict[int | str, dict] = {
    400: _error("invalid_base64, empty_image, not_an_image, corrupt_image"),
    404: _error("unknown_usage"),
    408: _error("body_timeout"),
    413: _error("payload_too_large, image_too_large"),
    415: _error("unsupported_media_type, unsupported_image_format"),
    422: _error("invalid_json, missing_field, invalid_field"),
    502: _error("inference_failed"),
    503: _error("triton_unavailable, model_unavailable, overloaded (with Retry-After)"),
    504: _error("deadline_exceeded"),
}


@router.post(
    "/analysis/{usage}",
    response_model=AnalysisResult,
    responses=RESPONSES,
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def analyse(
    usage: str, request: Request, settings: SettingsDep, triton: TritonDep, decoder: DecoderDep
) -> Response:
    """Classify a health-code screenshot as green, yellow, red or invalid."""
    model = settings.usages.get(usage)
    if model is None:
        raise errors.UnknownUsage(f"unknown usage {usage[:64]!r}; known: {sorted(settings.usages)}")
    image = await read_image(request, settings.max_body_bytes, settings.request_timeout_s)
    request_id = errors.request_id_of(request)
    if decoder is None:
        result = await triton.classify(model, image, request_id)
    else:
        pixels = await decoder.tensor(model, image)
        result = await triton.classify_pixels(model, pixels, request_id)
    body = {
        "usage": usage,
        "status": result.status,
        "confidence": result.confidence,
        "scores": result.scores,
        "model_version": result.model_version,
        "request_id": request_id,
    }
    return Response(orjson.dumps(body), media_type="application/json")
