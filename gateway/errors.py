"""The gateway's exceptions and their one mapping to HTTP error responses.

Every error a client sees has the same body, never a stack trace or a server path::

    {"error": {"code": "invalid_base64", "message": "..."}, "request_id": "..."}

Hierarchy (HTTP status, `code`)::

    GatewayError                      500 internal_error
    ├── BadRequest                    400
    │   ├── InvalidBase64                 invalid_base64
    │   ├── EmptyImage                    empty_image
    │   ├── NotAnImage                    not_an_image
    │   └── CorruptImage                  corrupt_image
    ├── Unauthorized                  401 unauthorized        (+ WWW-Authenticate; API keys on)
    ├── UnknownUsage                  404 unknown_usage
    ├── BodyTimeout                   408 body_timeout        (body not received in time)
    ├── PayloadTooLarge               413 payload_too_large   (body over max_body_bytes)
    ├── ImageTooLarge                 413 image_too_large     (over MAX_PIXELS: decompression bomb)
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── UnsupportedImageFormat        415 unsupported_image_format (GIF, WebP, BMP, TIFF, ...)
    ├── InvalidJson                   422 invalid_json        (malformed, or not a JSON object)
    │   ├── MissingField                  missing_field       (no "base64")
    │   └── InvalidField                  invalid_field       ("base64" is not a string)
    ├── ClientDisconnected            499 client_disconnected (only ever seen in metrics)
    ├── InferenceFailed               502 inference_failed    (details only in the log)
    ├── ServiceUnavailable            503 + Retry-After
    │   ├── TritonUnavailable             triton_unavailable  (connection refused, restarting)
    │   ├── ModelUnavailable              model_unavailable   (model not loaded)
    │   └── Overloaded                    overloaded          (queue full, too many in flight)
    └── DeadlineExceeded              504 deadline_exceeded

Framework errors use the same body: an unknown route is 404 `not_found`, a wrong method 405
`method_not_allowed`, FastAPI's RequestValidationError 422 `invalid_request`.

Every error response notes its code in the request's scope state (`error_code`), where the
middleware reads it for the access log and `healthcode_rejections_total{reason}`.
"""

from __future__ import annotations

from typing import ClassVar

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.responses import Response

RETRY_AFTER_S = 1


class GatewayError(Exception):
    """Base class: an error with an HTTP status and a stable machine-readable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal server error"
    retry_after_s: ClassVar[int | None] = None
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"
    default_message = "bad request"


class InvalidBase64(BadRequest):
    code = "invalid_base64"
    default_message = "the base64 field is not valid base64"


class EmptyImage(BadRequest):
    code = "empty_image"
    default_message = "the image is empty"


class NotAnImage(BadRequest):
    code = "not_an_image"
    default_message = "the data is not an image"


class CorruptImage(BadRequest):
    code = "corrupt_image"
    default_message = "the image cannot be read"


class Unauthorized(GatewayError):
    status_code = 401
    code = "unauthorized"
    default_message = "a valid API key is required: send X-API-Key or Authorization: Bearer"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="healthcode"'}


class UnknownUsage(GatewayError):
    status_code = 404
    code = "unknown_usage"
    default_message = "unknown usage"


class BodyTimeout(GatewayError):
    status_code = 408
    code = "body_timeout"
    default_message = "the request body was not received in time"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"
    default_message = "the request body is too large"


class ImageTooLarge(GatewayError):
    status_code = 413
    code = "image_too_large"
    default_message = "the image has too many pixels"


class UnsupportedMediaType(GatewayError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "send application/json, image/jpeg or image/png"


class UnsupportedImageFormat(GatewayError):
    status_code = 415
    code = "unsupported_image_format"
    default_message = "only JPEG and PNG images are supported"


class InvalidJson(GatewayError):
    status_code = 422
    code = "invalid_json"
    default_message = 'the body must be a JSON object {"base64": "..."}'


class MissingField(InvalidJson):
    code = "missing_field"
    default_message = 'the JSON object has no "base64" field'


class InvalidField(InvalidJson):
    code = "invalid_field"
    default_message = 'the "base64" field must be a string'


class ClientDisconnected(GatewayError):
    status_code = 499
    code = "client_disconnected"
    default_message = "the client closed the connection"


class InferenceFailed(GatewayError):
    status_code = 502
    code = "inference_failed"
    default_message = "inference failed"


class ServiceUnavailable(GatewayError):
    status_code = 503
    code = "service_unavailable"
    default_message = "the service is unavailable, retry later"
    retry_after_s = RETRY_AFTER_S


class TritonUnavailable(ServiceUnavailable):
    code = "triton_unavailable"
    default_message = "the inference server is unavailable, retry later"


class ModelUnavailable(ServiceUnavailable):
    code = "model_unavailable"
    default_message = "the model is not loaded, retry later"


class Overloaded(ServiceUnavailable):
    code = "overloaded"
    default_message = "the service is overloaded, retry later"


class DeadlineExceeded(GatewayError):
    status_code = 504
    code = "deadline_exceeded"
    default_message = "inference did not finish in time"


# Codes the Triton preprocess model reports per request as "[code] message".
IMAGE_ERRORS: dict[str, type[GatewayError]] = {
    cls.code: cls
    for cls in (EmptyImage, NotAnImage, CorruptImage, ImageTooLarge, UnsupportedImageFormat)
}

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response (documented in OpenAPI)."""

    error: ErrorDetail
    request_id: str


def error_response(
    status_code: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render the one error body."""
    body = {"error": {"code": code, "message": message}, "request_id": request_id}
    return Response(orjson.dumps(body), status_code, headers=headers, media_type="application/json")


def render(exc: GatewayError, request_id: str) -> Response:
    """Map a GatewayError to its HTTP response."""
    headers = dict(exc.headers)
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    return error_response(exc.status_code, exc.code, exc.message, request_id, headers or None)


def request_id_of(request: Request) -> str:
    # Set by RequestContextMiddleware; "" only when the app runs without it.
    return getattr(request.state, "request_id", "")


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    request.state.error_code = exc.code
    return render(exc, request_id_of(request))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    request.state.error_code = code
    return error_response(
        exc.status_code, code, str(exc.detail), request_id_of(request), exc.headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = ", ".join(".".join(map(str, err.get("loc", ()))) for err in exc.errors())
    message = f"invalid request: {fields}" if fields else "invalid request"
    request.state.error_code = "invalid_request"
    return error_response(422, "invalid_request", message, request_id_of(request))


def install_error_handlers(app: FastAPI) -> None:
    """Route gateway, routing and validation errors to the one error body."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
