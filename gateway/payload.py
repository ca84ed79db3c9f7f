"""Request body -> image bytes, cheaply: the body, its JSON and base64. No pixel is decoded here.

Accepted bodies: `application/json` `{"base64": "<b64>"}` (a `data:image/...;base64,` prefix is
allowed) or a raw `image/jpeg` / `image/png` body. Checks, in order, each failing with the error
named (gateway.errors has the HTTP statuses):

1. media type: other than the three above -> `unsupported_media_type`;
2. size: Content-Length or the bytes read so far over max_body_bytes -> `payload_too_large`
   (the body is never read past the limit); body not received within request_timeout_s ->
   `body_timeout`;
3. JSON: malformed or not an object -> `invalid_json`, no "base64" -> `missing_field`, not a
   string -> `invalid_field`; strict base64 (junk characters, wrong padding) -> `invalid_base64`.

What the bytes must be as an image (format, header, pixels) is imaging.py's to say.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import pybase64
from starlette.types import Message

from gateway import errors

JSON = "application/json"
RAW_TYPES = frozenset({"image/jpeg", "image/png"})
MEDIA_TYPES = (JSON, *sorted(RAW_TYPES))
DATA_URL_PATTERN = r"^(data:image/[A-Za-z0-9.+-]+;base64,)?[A-Za-z0-9+/]+={0,2}$"

Receive = Callable[[], Awaitable[Message]]

# The body clients send, `{"base64": "..."}` with JSON whitespace between the tokens, read without
# a JSON parser: orjson.loads spends ~0.13 ms building a str of the seed's 364 KB body, a tenth of
# the gateway's own CPU when Triton decodes (benchmarks/NOTES.md, 2026-12-06, 18:00), where the
# field's bytes can go to pybase64's strict decoder as they lie in the body (~0.02 ms).
_WS = rb"[ \t\n\r]*"  # JSON's whitespace, no more (re's \s also takes \v and \f)
_ONE_FIELD_HEAD = re.compile(_WS + rb"\{" + _WS + rb'"base64"' + _WS + rb":" + _WS + rb'"')
_ONE_FIELD_TAIL = re.compile(rb'"' + _WS + rb"\}" + _WS)
# A data: URL's prefix: printable ASCII but the quote and the backslash.
_DATA_PREFIX = re.compile(rb"data:[\x20\x21\x23-\x5b\x5d-\x7e]*;base64")


def media_type(content_type: str) -> str:
    """A Content-Type without parameters, lower-case."""
    return content_type.partition(";")[0].strip().lower()


def check_media_type(content_type: str) -> str:
    kind = media_type(content_type)
    if kind != JSON and kind not in RAW_TYPES:
        raise errors.UnsupportedMediaType(
            f"unsupported content type {kind or '(none)'!r}; send one of {', '.join(MEDIA_TYPES)}"
        )
    return kind


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10

    @asynccontextmanager
    async def _deadline(delay_s: float) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        handle = asyncio.get_running_loop().call_later(delay_s, task.cancel)
        try:
            yield
        except asyncio.CancelledError as e:
            raise TimeoutError from e
        finally:
            handle.cancel()


async def read_body(receive: Receive, declared: int | None, limit: int, timeout_s: float) -> bytes:
    """The body, read while counting, never past `limit`, within `timeout_s`."""
    if declared is not None and declared > limit:
        raise errors.PayloadTooLarge(f"the body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        # A slow client must not hold the request (and its buffer) forever.
        async with _deadline(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise errors.ClientDisconnected()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise errors.PayloadTooLarge(f"the body exceeds {limit} bytes")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError as e:
        raise errors.BodyTimeout() from e
    # One chunk is the common case: hand it on without a copy. Always bytes, never bytearray:
    # tritonclient serialises anything else through str().
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def image_bytes(kind: str, body: bytes) -> bytes:
    """The image a body of media type `kind` carries: the body itself, or its base64 field."""
    return decode_json_image(body) if kind == JSON else body


def decode_json_image(body: bytes) -> bytes:
    """`{"base64": "..."}` -> the decoded bytes (strict base64, optional data: URL prefix)."""
    image = _one_field_image(body)
    return _parsed_image(body) if image is None else image


def _parsed_image(body: bytes) -> bytes:
    """decode_json_image through the JSON parser: any body, and the error of a wrong one."""
    try:
        # orjson on the raw body: a pydantic str model costs ~1.5 ms more on a 320 KB body.
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise errors.InvalidJson(f"malformed JSON: {e}") from e
    if not isinstance(doc, dict):
        raise errors.InvalidJson()
    if "base64" not in doc:
        raise errors.MissingField()
    text = doc["base64"]
    if not isinstance(text, str):
        raise errors.InvalidField()
    if text.startswith("data:"):
        header, comma, text = text.partition(",")
        if not comma or not header.endswith(";base64"):
            raise errors.InvalidBase64("a data: URL must look like data:image/png;base64,...")
    try:
        return pybase64.b64decode(text, validate=True)
    except ValueError as e:  # binascii.Error, and non-ASCII str
        raise errors.InvalidBase64() from e


def _one_field_image(body: bytes) -> bytes | None:
    """The image of a body that is exactly `{"base64": "<a string with no escapes>"}` and decodes;
    None for any other body, which the JSON parser then reads and, if need be, refuses. So both
    paths answer every body alike: what this one accepts, the parser reads as the same string."""
    head = _ONE_FIELD_HEAD.match(body)
    end = body.rfind(b'"')
    if head is None or end < head.end() or _ONE_FIELD_TAIL.fullmatch(body, end) is None:
        return None
    start = head.end()
    # Strict base64 refuses every byte JSON would read otherwise (a quote ending the string, a
    # backslash's escape, control characters, UTF-8); a data: prefix must hold none either.
    if body.startswith(b"data:", start):
        comma = body.find(b",", start, end)
        if comma == -1 or _DATA_PREFIX.fullmatch(body, start, comma) is None:
            return None
        start = comma + 1
    try:
        return pybase64.b64decode(memoryview(body)[start:end], validate=True)
    except ValueError:
        return None
