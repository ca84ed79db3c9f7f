"""The gateway's errors: one class per machine-readable code, and the one way they become responses.

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
    ├── NotFound                      404 not_found           (no such route)
    ├── UnknownUsage                  404 unknown_usage
    ├── MethodNotAllowed              405 method_not_allowed
    ├── BodyTimeout                   408 body_timeout        (body not received in time)
    ├── PayloadTooLarge               413 payload_too_large   (body over max_body_bytes)
    ├── ImageTooLarge                 413 image_too_large     (too many pixels: decompression bomb)
    ├── UnsupportedMediaType          415 unsupported_media_type
    ├── UnsupportedImageFormat        415 unsupported_image_format (GIF, WebP, BMP, TIFF, ...)
    ├── InvalidJson                   422 invalid_json        (malformed, or not a JSON object)
    │   ├── MissingField                  missing_field       (no "base64")
    │   └── InvalidField                  invalid_field       ("base64" is not a string)
    ├── InvalidRequest                422 invalid_request     (a query parameter out of range)
    ├── RateLimited                   429 rate_limited        (+ Retry-After; limits on)
    ├── ClientDisconnected            499 client_disconnected (only ever seen in metrics and logs)
    ├── InferenceFailed               502 inference_failed    (details only in the log)
    ├── ServiceUnavailable            503 + Retry-After
    │   ├── TritonUnavailable             triton_unavailable  (connection refused, restarting)
    │   ├── ModelUnavailable              model_unavailable   (model not loaded)
    │   ├── Overloaded                    overloaded          (queue full, too many in flight)
    │   └── CostlyImageBusy               costly_image_busy   (the lane for costly decodes is full)
    └── DeadlineExceeded              504 deadline_exceeded

The Triton preprocess step and the gateway's own decoder report image problems with the same codes
(imaging.py's ImageError); `from_image_error` turns such a code into its class. The OpenAPI
description and the README's table are made from these classes (`documented()`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import orjson
from pydantic import BaseModel

RETRY_AFTER_S = 1
MESSAGE_MAX_CHARS = 200  # a message quoting client data stays bounded


class GatewayError(Exception):
    """Base class: an error with an HTTP status and a stable machine-readable code."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "internal server error"
    retry_after_s: ClassVar[int | None] = None
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str | None = None) -> None:
        self.message = (message or self.default_message)[:MESSAGE_MAX_CHARS]
        super().__init__(self.message)

    def response_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.retry_after_s is not None:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers

    def body(self, request_id: str) -> bytes:
        error = {"code": self.code, "message": self.message}
        return orjson.dumps({"error": error, "request_id": request_id})


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"
    default_message = "bad request"


class InvalidBase64(BadRequest):
    code = "invalid_base64"
    # Most often MIME-style base64 (line breaks every 76 characters: `base64` on the command
    # line, Java's MIME encoder) or the URL-safe alphabet: the message says what is accepted.
    default_message = (
        "the base64 field is not valid base64: the standard alphabet with '=' padding, "
        "no line breaks or spaces"
    )


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


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"
    default_message = "no such route"


class UnknownUsage(GatewayError):
    status_code = 404
    code = "unknown_usage"
    default_message = "unknown usage"


class MethodNotAllowed(GatewayError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "method not allowed"

    def __init__(self, message: str | None = None, *, allow: str = "") -> None:
        super().__init__(message)
        self.allow = allow

    def response_headers(self) -> dict[str, str]:
        return {"Allow": self.allow} if self.allow else {}


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


class InvalidRequest(GatewayError):
    status_code = 422
    code = "invalid_request"
    default_message = "invalid request parameters"


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


class CostlyImageBusy(ServiceUnavailable):
    code = "costly_image_busy"
    default_message = "too many images that are costly to decode are in progress, retry later"


class RateLimited(GatewayError):
    status_code = 429
    code = "rate_limited"
    default_message = "too many requests from this client, retry later"
    retry_after_s = RETRY_AFTER_S

    def __init__(self, message: str | None = None, *, retry_after_s: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.wait_s = retry_after_s

    def response_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.wait_s)}


class DeadlineExceeded(GatewayError):
    status_code = 504
    code = "deadline_exceeded"
    default_message = "inference did not finish in time"


# Codes imaging.py (Triton's preprocess step, the gateway's decoder) reports for an image.
_IMAGE_ERRORS: dict[str, type[GatewayError]] = {
    cls.code: cls
    for cls in (EmptyImage, NotAnImage, CorruptImage, ImageTooLarge, UnsupportedImageFormat)
}
# What is never sent (499: the client is gone) or is a family's abstract base.
_UNSENT = frozenset({"client_disconnected", "bad_request", "service_unavailable"})


def from_image_error(code: str, message: str | None = None) -> GatewayError:
    """The gateway error for an imaging.py error code (an unknown code is a corrupt image)."""
    return _IMAGE_ERRORS.get(code, CorruptImage)(message)


def image_error_codes() -> frozenset[str]:
    return frozenset(_IMAGE_ERRORS)


def all_errors() -> list[type[GatewayError]]:
    """Every error class a client can receive, the base class's internal_error included."""
    found: list[type[GatewayError]] = [GatewayError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return sorted((c for c in found if c.code not in _UNSENT), key=lambda c: c.status_code)


def documented(codes: frozenset[str] | None = None) -> dict[int, list[type[GatewayError]]]:
    """Error classes grouped by HTTP status, ascending; only `codes` when given."""
    table: dict[int, list[type[GatewayError]]] = defaultdict(list)
    for cls in all_errors():
        if codes is None or cls.code in codes:
            table[cls.status_code].append(cls)
    return dict(table)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
    request_id: str
