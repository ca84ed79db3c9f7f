"""Clients of the healthcode REST API: `HealthCodeClient` (async) and `SyncHealthCodeClient`.

    HealthCodeError            the gateway answered with an error (status_code, code, retry_after_s)

Both retry 429/503 answers and connection errors (tenacity) with full-jitter exponential backoff,
waiting at least what Retry-After asks; `analyze_many` runs a batch with bounded concurrency.
They are written side by side on httpx.AsyncClient and httpx.Client, sharing only the pure parts
(building a request, reading an answer, the retry policy); neither runs the other's event loop.
This module needs httpx and tenacity only: it installs and imports without the server.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tenacity

from clients.media import content_type

RETRY_STATUSES = frozenset({429, 503})
# Transport failures worth a retry: the request never reached, or never left, a healthy server.
# A read timeout is not among them: its deadline is already spent.
RETRY_ERRORS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
DEFAULT_URL = "http://127.0.0.1:8080"

Image = bytes | str | Path
T = TypeVar("T")


@dataclass(frozen=True)
class Analysis:
    """A recognition result as the gateway reports it."""

    status: str
    confidence: float
    scores: dict[str, float]
    model_version: str
    request_id: str
    decided_by: str = "model"  # "threshold": a colour below the gateway's minimum probability


class HealthCodeError(Exception):
    """The gateway answered with an error body."""

    def __init__(
        self, status_code: int, code: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code, self.code, self.message = status_code, code, message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: full-jitter exponential backoff, floored by Retry-After."""

    attempts: int = 4  # in all, the first one included
    backoff_base_s: float = 0.1
    backoff_max_s: float = 5.0
    retry_after_max_s: float = 30.0  # never wait longer than this, whatever the server says

    def wait(self, state: tenacity.RetryCallState) -> float:
        """tenacity's wait: the jittered backoff, or Retry-After plus a tenth of it."""
        backoff = tenacity.wait_random_exponential(self.backoff_base_s, self.backoff_max_s)
        jitter: float = backoff(state)
        error = state.outcome.exception() if state.outcome else None
        retry_after_s = error.retry_after_s if isinstance(error, HealthCodeError) else None
        if retry_after_s is None:
            return jitter
        return min(self.retry_after_max_s, max(retry_after_s, 0.0)) + jitter * 0.1

    def tenacity_args(self) -> dict[str, Any]:
        return {
            "stop": tenacity.stop_after_attempt(self.attempts),
            "wait": self.wait,
            "retry": tenacity.retry_if_exception(_retryable),
            "reraise": True,  # the last attempt's own error, not tenacity's RetryError
        }


def _retryable(error: BaseException) -> bool:
    if isinstance(error, HealthCodeError):
        return error.status_code in RETRY_STATUSES
    return isinstance(error, RETRY_ERRORS)


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


def request_args(image: Image, base64_json: bool) -> dict[str, Any]:
    """httpx arguments posting one image: the raw body, or the seed's {"base64": ...}."""
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    if base64_json:
        return {"json": {"base64": base64.b64encode(data).decode("ascii")}}
    return {"content": data, "headers": {"content-type": content_type(data)}}


def read_answer(response: httpx.Response) -> Analysis:
    """The Analysis of a 200 answer; HealthCodeError for any other."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise HealthCodeError(
            response.status_code,
            error.get("code", "invalid_response"),
            error.get("message", response.text[:200]),
            parse_retry_after(response.headers.get("retry-after")),
        )
    return Analysis(
        status=body["status"],
        confidence=body["confidence"],
        scores=body["scores"],
        model_version=body["model_version"],
        request_id=body["request_id"],
        decided_by=body.get("decided_by", "model"),
    )


def _http_args(
    base_url: str, timeout_s: float, connect_timeout_s: float, max_connections: int
) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "timeout": httpx.Timeout(timeout_s, connect=connect_timeout_s),
        "limits": httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
    }


class HealthCodeClient:
    """`async with HealthCodeClient(url) as c: await c.analyze("code.jpg")`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 64,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        args = _http_args(base_url, timeout_s, connect_timeout_s, max_connections)
        self._http = httpx.AsyncClient(transport=transport, **args)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    async def __aenter__(self) -> HealthCodeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def analyze(
        self, image: Image, usage: str = "health-code", *, base64_json: bool = False
    ) -> Analysis:
        """Recognise one JPEG/PNG (bytes or a path): a raw body, or the seed's {"base64": ...}."""
        kwargs = request_args(image, base64_json)
        retrying = tenacity.AsyncRetrying(sleep=self._sleep, **self.retry.tenacity_args())
        async for attempt in retrying:
            with attempt:
                return read_answer(await self._http.post(f"/analysis/{usage}", **kwargs))
        raise AssertionError("unreachable: tenacity returns or raises")

    async def analyze_many(
        self, images: Iterable[Image], usage: str = "health-code", *, concurrency: int = 8
    ) -> list[Analysis | Exception]:
        """Recognise many images, at most `concurrency` at once; results in input order.

        A failed image gives its exception in place of a result; the others go on.
        """
        return await bounded_map(lambda img: self.analyze(img, usage), images, concurrency)


async def bounded_map(
    fn: Callable[[Image], Awaitable[T]], items: Iterable[Image], concurrency: int
) -> list[T | Exception]:
    """Apply fn to every item with `concurrency` workers (not one task per item)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    results: dict[int, T | Exception] = {}
    source = enumerate(items)

    async def worker() -> None:
        for index, item in source:  # a shared iterator: each item goes to one worker
            try:
                results[index] = await fn(item)
            except Exception as e:  # reported per item, by design
                results[index] = e

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [results[i] for i in range(len(results))]


class SyncHealthCodeClient:
    """`with SyncHealthCodeClient(url) as c: c.analyze("code.jpg")`: blocking, thread-safe."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 64,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        args = _http_args(base_url, timeout_s, connect_timeout_s, max_connections)
        self._http = httpx.Client(transport=transport, **args)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    def __enter__(self) -> SyncHealthCodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def analyze(
        self, image: Image, usage: str = "health-code", *, base64_json: bool = False
    ) -> Analysis:
        """Recognise one JPEG/PNG (bytes or a path): a raw body, or the seed's {"base64": ...}."""
        kwargs = request_args(image, base64_json)
        for attempt in tenacity.Retrying(sleep=self._sleep, **self.retry.tenacity_args()):
            with attempt:
                return read_answer(self._http.post(f"/analysis/{usage}", **kwargs))
        raise AssertionError("unreachable: tenacity returns or raises")

    def analyze_many(
        self, images: Sequence[Image], usage: str = "health-code", *, concurrency: int = 8
    ) -> list[Analysis | Exception]:
        """Recognise many images, at most `concurrency` at once (threads); results in order."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")

        def one(image: Image) -> Analysis | Exception:
            try:
                return self.analyze(image, usage)
            except Exception as e:  # reported per item, by design
                return e

        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(one, images))
