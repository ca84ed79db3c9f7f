"""The OpenAPI description of POST /analysis/{usage}, made from what the gateway enforces.

The route is served by gateway.middleware, not by a FastAPI route, so its operation is written
here and added to FastAPI's schema: the usages from settings, the bodies and their limits from
gateway.payload and settings, the labels from the classifier's labels.txt, and every status with
its codes from gateway.errors. Nothing is written twice.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway import errors, payload
from gateway.analysis import ANALYSIS_PREFIX
from gateway.classification import INVALID
from gateway.middleware import REQUEST_ID_PATTERN
from gateway.settings import Settings

# The codes POST /analysis/{usage} can answer with (the others belong to other routes).
ANALYSIS_ERRORS = frozenset(
    cls.code for cls in errors.all_errors() if cls.code not in {"not_found", "method_not_allowed"}
)
_REF = "#/components/schemas/"


def _base64_max_chars(max_body_bytes: int) -> int:
    return max_body_bytes - len(b'{"base64":""}')


def _request_body(settings: Settings) -> dict[str, Any]:
    raw_max = settings.max_body_bytes
    binary = {"schema": {"type": "string", "format": "binary", "maxLength": raw_max}}
    return {
        "required": True,
        "description": (
            "A JPEG or PNG screenshot or photo, as base64 in JSON or as the raw body, at most "
            f"{raw_max} bytes of body. A schema cannot say what a decodable image is: a body "
            "that matches it but is not one is refused with 400 (`not_an_image`, "
            "`corrupt_image`) or 415 (`unsupported_image_format`)."
        ),
        "content": {
            payload.JSON: {
                "schema": {
                    "type": "object",
                    "required": ["base64"],
                    "properties": {
                        "base64": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": _base64_max_chars(raw_max),
                            "pattern": payload.DATA_URL_PATTERN,
                            "contentEncoding": "base64",
                            "description": "Strict base64 of the image; a "
                            "`data:image/...;base64,` prefix is accepted.",
                        }
                    },
                }
            },
            **{kind: binary for kind in sorted(payload.RAW_TYPES)},
        },
    }


def _result_schema(labels: tuple[str, ...]) -> dict[str, Any]:
    probability = {"type": "number", "minimum": 0, "maximum": 1}
    return {
        "title": "AnalysisResult",
        "type": "object",
        "required": [
            "usage",
            "status",
            "confidence",
            "scores",
            "model_version",
            "decided_by",
            "request_id",
        ],
        "properties": {
            "usage": {"type": "string", "examples": ["health-code"]},
            "status": {"type": "string", "enum": list(labels)},
            "confidence": {**probability, "description": "The probability of `status`."},
            "scores": {
                "type": "object",
                "description": "The model's calibrated probability of each class.",
                "required": list(labels),
                "properties": {label: probability for label in labels},
            },
            "model_version": {"type": "string", "description": "The serving classifier's."},
            "decided_by": {
                "type": "string",
                "enum": [
                    "model",
                    "threshold",
                    "closer_look",
                    "code_colour",
                    "no_code",
                    "no_finder",
                ],
                "description": "`model`: the most probable class. `threshold`: a colour was "
                f"below the minimum colour probability, so the answer is `{INVALID}`. "
                "`closer_look`: the page, refused at first, was classified again around its "
                "code, and the colour cleared the closer look's own bar there (`scores` "
                "and `confidence` are that look's). `code_colour`: the page, refused at first, "
                "shows a QR code the reader decoded, inked in the colour the model saw most, "
                "and that colour is the answer (`scores` and `confidence` are the model's). "
                "`no_code`: the model's colour was not "
                "near-certain and the closer look found no code in the page, so the answer is "
                f"`{INVALID}` (a health code page shows its code). `no_finder`: the model's "
                "colour is on a square of modules that, seen sharp, shows no QR finder squares "
                f"(a Data Matrix, an Aztec code, a grid), so the answer is `{INVALID}`.",
            },
            "code_box": {
                "type": "array",
                "items": {"type": "number", "minimum": 0, "maximum": 1},
                "minItems": 4,
                "maxItems": 4,
                "description": "Where a closer look found the code: x0, y0, x1, y1 as fractions "
                "of the upright image's width and height. Only when a closer look was taken "
                "and found a code-like square.",
            },
            "request_id": {"type": "string"},
            "time": {
                "description": "With `read=time` only: the date and time the page shows, or "
                "null when none can be read (and for an invalid image).",
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["text", "shown", "age_s", "fresh"],
                        "properties": {
                            "text": {"type": "string", "description": "As read."},
                            "shown": {
                                "type": "string",
                                "description": "ISO 8601, in HEALTHCODE_TIMEZONE's offset.",
                            },
                            "age_s": {"type": "number", "description": "Arrival - shown."},
                            "fresh": {"type": "boolean"},
                        },
                    },
                    {"type": "null"},
                ],
            },
        },
    }


def _responses(labels: tuple[str, ...]) -> dict[str, Any]:
    request_id = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    retry_after = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    out: dict[str, Any] = {
        "200": {
            "description": "The image, classified.",
            "headers": request_id,
            "content": {payload.JSON: {"schema": _result_schema(labels)}},
        }
    }
    for status, classes in errors.documented(ANALYSIS_ERRORS).items():
        headers: dict[str, Any] = dict(request_id)
        for cls in classes:
            if cls.retry_after_s is not None:
                headers.update(retry_after)
            headers.update({name: {"schema": {"type": "string"}} for name in cls.headers})
        out[str(status)] = {
            "description": "; ".join(f"`{cls.code}`: {cls.default_message}" for cls in classes),
            "headers": headers,
            "content": {payload.JSON: {"schema": {"$ref": _REF + "ErrorResponse"}}},
        }
    return out


def analysis_operation(settings: Settings, labels: tuple[str, ...]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": ["analysis"],
        "summary": "Classify a health-code screenshot",
        "description": "Answers whether the code is green, yellow or red, or that the image is "
        "not a health code we can read (invalid).",
        "operationId": "analyze",
        "parameters": [
            {
                "name": "usage",
                "in": "path",
                "required": True,
                "description": "The model family to use.",
                "schema": {"type": "string", "enum": sorted(settings.usages)},
            },
            {
                "name": "read",
                "in": "query",
                "required": False,
                "description": "`time`: also read the date and time the page shows, and say "
                "whether it is current (the answer's `time`).",
                "schema": {"type": "string", "enum": ["time"]},
            },
            {
                "name": "X-Request-ID",
                "in": "header",
                "required": False,
                "description": "Your id for the request, echoed in the answer and the logs when "
                f"it matches `^{REQUEST_ID_PATTERN}$`; any other value is replaced by a fresh id.",
                "schema": {"type": "string"},
            },
        ],
        "requestBody": _request_body(settings),
        "responses": _responses(labels),
    }
    if settings.api_keys:
        operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
    return operation


def install(app: FastAPI, settings: Settings, labels: tuple[str, ...]) -> None:
    """Describe the analysis route in the app's OpenAPI schema (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            path = ANALYSIS_PREFIX + "{usage}"
            schema["paths"] = {path: {"post": analysis_operation(settings, labels)}} | schema.get(
                "paths", {}
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["ErrorResponse"] = (
                errors.ErrorResponse.model_json_schema(ref_template=_REF + "{model}")
            )
            components["schemas"].update(components["schemas"]["ErrorResponse"].pop("$defs", {}))
            components["headers"] = {
                "X-Request-ID": {
                    "description": "The request's id, as in the body and the logs.",
                    "schema": {"type": "string"},
                },
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 0},
                },
            }
            if settings.api_keys:
                components["securitySchemes"] = {
                    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "Bearer": {"type": "http", "scheme": "bearer"},
                }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
