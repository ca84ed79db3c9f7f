"""The client: typed results, retries that honour Retry-After, batches, the sync wrapper."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from clients.client import (
    Analysis,
    HealthCodeClient,
    HealthCodeError,
    RetryPolicy,
    SyncHealthCodeClient,
    bounded_map,
    parse_retry_after,
)

JPEG = b"\xff\xd8\xff\xe0fake-jpeg"
OK_BODY = {
    "usage": "health-code",
    "status": "green",
    "confidence": 0.99,
    "scores": {"green": 0.99, "yellow": 0.0, "red": 0.0, "invalid": 0.01},
    "model_version": "1",
    "request_id": "abc",
}
OVERLOADED = {"error": {"code": "overloaded", "message": "busy"}, "request_id": "x"}


class Script:
    """A MockTransport handler that plays answers (or raises errors) in order."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script: Script, sleeps: list[float], **kwargs: object) -> HealthCodeClient:
    async def sleep(s: float) -> None:
        sleeps.append(s)

    return HealthCodeClient(
        "http://test", transport=httpx.MockTransport(script), sleep=sleep, **kwargs
    )


async def test_analyze_sends_raw_jpeg_and_returns_a_typed_result() -> None:
    script, sleeps = Script(httpx.Response(200, json=OK_BODY)), []
    async with make_client(script, sleeps) as client:
        result = await client.analyze(JPEG)
    assert result == Analysis("green", 0.99, OK_BODY["scores"], "1", "abc", "model")
    (request,) = script.requests
    assert request.url.path == "/analysis/health-code"
    assert request.headers["content-type"] == "image/jpeg"
    assert request.content == JPEG and sleeps == []


async def test_analyze_can_send_the_seed_base64_json_body() -> None:
    script = Script(httpx.Response(200, json=OK_BODY))
    async with make_client(script, []) as client:
        await client.analyze(JPEG, base64_json=True)
    assert script.requests[0].headers["content-type"] == "application/json"
    assert b'"base64"' in script.requests[0].content


async def test_a_503_with_retry_after_is_retried_after_at_least_that_long() -> None:
    busy = httpx.Response(503, json=OVERLOADED, headers={"Retry-After": "2"})
    script, sleeps = Script(busy, httpx.Response(200, json=OK_BODY)), []
    async with make_client(script, sleeps) as client:
        assert (await client.analyze(JPEG)).status == "green"
    assert len(script.requests) == 2
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] < 2.5


async def test_429_and_connection_errors_are_retried_with_growing_jittered_backoff() -> None:
    script = Script(
        httpx.ConnectError("refused"),
        httpx.Response(429, json=OVERLOADED),
        httpx.RemoteProtocolError("closed"),
        httpx.Response(200, json=OK_BODY),
    )
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, backoff_base_s=0.1, backoff_max_s=5)
    async with make_client(script, sleeps, retry=policy) as client:
        assert (await client.analyze(JPEG)).status == "green"
    assert len(sleeps) == 3
    assert all(0 <= s <= 0.1 * 2**i for i, s in enumerate(sleeps))


async def test_retries_stop_after_the_last_attempt_with_the_gateway_error() -> None:
    busy = httpx.Response(503, json=OVERLOADED, headers={"Retry-After": "1"})
    script = Script(busy, busy, busy)
    async with make_client(script, [], retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(HealthCodeError) as info:
            await client.analyze(JPEG)
    assert info.value.status_code == 503 and info.value.code == "overloaded"
    assert info.value.retry_after_s == 1.0
    assert len(script.requests) == 3


async def test_client_errors_are_not_retried() -> None:
    bad = {"error": {"code": "invalid_base64", "message": "no"}, "request_id": "x"}
    script = Script(httpx.Response(400, json=bad))
    async with make_client(script, []) as client:
        with pytest.raises(HealthCodeError, match="invalid_base64"):
            await client.analyze(JPEG)
    assert len(script.requests) == 1


async def test_a_connection_error_on_the_last_attempt_is_raised() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    async with make_client(script, [], retry=RetryPolicy(attempts=2)) as client:
        with pytest.raises(httpx.ConnectError):
            await client.analyze(JPEG)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = "Wed, 21 Oct 2015 07:28:05 GMT"
    assert parse_retry_after(date, now_s=1445412480.0) == pytest.approx(5.0)


async def test_a_retry_after_longer_than_the_policy_allows_is_capped() -> None:
    busy = httpx.Response(503, json=OVERLOADED, headers={"Retry-After": "3600"})
    script, sleeps = Script(busy, httpx.Response(200, json=OK_BODY)), []
    async with make_client(script, sleeps, retry=RetryPolicy(retry_after_max_s=10)) as client:
        await client.analyze(JPEG)
    assert 10.0 <= sleeps[0] < 10.6


async def test_bounded_map_keeps_order_caps_concurrency_and_reports_failures() -> None:
    running, peak = 0, 0

    async def work(item: object) -> object:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        if item == 3:
            raise ValueError("three")
        return item

    results = await bounded_map(work, iter(range(20)), concurrency=4)  # type: ignore[arg-type]
    assert results[:3] == [0, 1, 2] and isinstance(results[3], ValueError)
    assert results[4:] == list(range(4, 20))
    assert peak == 4


def test_the_sync_client_answers_and_retries_like_the_async_one() -> None:
    busy = httpx.Response(503, json=OVERLOADED, headers={"Retry-After": "1"})
    script, sleeps = Script(busy, *[httpx.Response(200, json=OK_BODY)] * 6), []
    transport = httpx.MockTransport(script)
    with SyncHealthCodeClient("http://test", transport=transport, sleep=sleeps.append) as client:
        assert client.analyze(JPEG).status == "green"
        results = client.analyze_many([JPEG] * 5, concurrency=2)
    assert [r.status for r in results] == ["green"] * 5  # type: ignore[union-attr]
    assert len(script.requests) == 7 and len(sleeps) == 1 and 1.0 <= sleeps[0] < 1.5


def test_the_sync_client_reports_each_failed_image_in_place() -> None:
    bad = {"error": {"code": "not_an_image", "message": "no"}, "request_id": "x"}

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.content == JPEG
        return httpx.Response(200, json=OK_BODY) if ok else httpx.Response(400, json=bad)

    with SyncHealthCodeClient("http://test", transport=httpx.MockTransport(handler)) as client:
        results = client.analyze_many([JPEG, b"text", JPEG], concurrency=3)
    assert isinstance(results[1], HealthCodeError) and results[1].code == "not_an_image"
    assert [r.status for r in (results[0], results[2])] == ["green", "green"]  # type: ignore[union-attr]
