"""Async client for the healthcode REST API, on one pooled httpx.AsyncClient.

    HealthCodeError            the gateway answered with an error (status_code, code, retry_after_s)

`HealthCodeClient` retries 429/503 answers and connection errors with exponential backoff and full
jitter, waiting at least what Retry-After asks; `analyze_many` runs a batch with bounded
concurrency; `SyncHealthCodeClient` wraps it all for code without an event loop.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

CONTENT_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
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

    def delay_s(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        jitter = rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**retry))
        if retry_after_s is None:
            return jitter
        return min(self.retry_after_max_s, max(retry_after_s, 0.0)) + jitter * 0.1


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


def _content_type(data: bytes) -> str:
    return next(
        (ct for magic, ct in CONTENT_TYPES.items() if data.startswith(magic)),
        "application/octet-stream",
    )


def _result(response: httpx.Response) -> Analysis:
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
    )


class HealthCodeClient:
    """`async with HealthCodeClient(url) as c: await c.analyze("code.jpg")`."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 64,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(seed)

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
        data = image if isinstance(image, bytes) else Path(image).read_bytes()
        if base64_json:
            kwargs: dict = {"json": {"base64": base64.b64encode(data).decode("ascii")}}
        else:
            kwargs = {"content": data, "headers": {"content-type": _content_type(data)}}
        return await self._with_retries(lambda: self._http.post(f"/analysis/{usage}", **kwargs))

    async def _with_retries(self, send: Callable[[], Awaitable[httpx.Response]]) -> Analysis:
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = await send()
            except RETRY_ERRORS:
                if last:
                    raise
                await self._sleep(self.retry.delay_s(attempt, None, self._rng))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                retry_after_s = parse_retry_after(response.headers.get("retry-after"))
                await self._sleep(self.retry.delay_s(attempt, retry_after_s, self._rng))
                continue
            return _result(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

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
    """Blocking wrapper: `with SyncHealthCodeClient(url) as c: c.analyze("code.jpg")`.

    It runs its own private event loop, so it must not be called from inside a running one.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8080", **kwargs: object) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = self._run(_make_client(base_url, kwargs))

    def _run(self, coro: Awaitable[T]) -> T:
        return self._loop.run_until_complete(coro)

    def __enter__(self) -> SyncHealthCodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._client.aclose())
            self._loop.close()

    def analyze(self, image: Image, usage: str = "health-code", **kwargs: bool) -> Analysis:
        return self._run(self._client.analyze(image, usage, **kwargs))

    def analyze_many(
        self, images: Sequence[Image], usage: str = "health-code", *, concurrency: int = 8
    ) -> list[Analysis | Exception]:
        return self._run(self._client.analyze_many(images, usage, concurrency=concurrency))


async def _make_client(base_url: str, kwargs: dict) -> HealthCodeClient:
    return HealthCodeClient(base_url, **kwargs)  # created inside the loop that will use it
