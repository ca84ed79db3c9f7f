"""The load generator against an in-process echo server: counts, errors, open loop, histogram."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from clients.loadtest.bench import build_requests, format_summary, summary
from clients.loadtest.echo import EchoServer
from clients.loadtest.loadgen import (
    LoadConfig,
    LoadGenerator,
    latency_histogram,
    raise_open_file_limit,
    record_s,
    summary_ms,
)
from clients.loadtest.rawhttp import Target, _parse_head, build_request

JPEG = b"\xff\xd8\xff" + bytes(5000)


async def start_echo(**kwargs: object) -> tuple[EchoServer, asyncio.Server, str]:
    echo = EchoServer(**kwargs)  # type: ignore[arg-type]
    server = await echo.start()
    port = server.sockets[0].getsockname()[1]
    return echo, server, f"http://127.0.0.1:{port}/analysis/health-code"


async def test_closed_loop_sends_exactly_n_requests_over_c_reused_connections() -> None:
    echo, connections = EchoServer(), 0
    original = echo.handle

    async def counting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await original(reader, writer)

    echo.handle = counting  # type: ignore[method-assign]
    server = await echo.start()
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/analysis/health-code"
    async with server:
        config = LoadConfig(url=url, requests=300, concurrency=8)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "json")).run()
    assert (stats.complete, stats.ok, stats.failed) == (300, 300, 0)
    assert echo.served == 300 and connections == 8
    assert stats.latency.get_total_count() == 300 and stats.bytes_sent > 300 * len(JPEG)
    assert list(stats.rss_mb) == [300]  # the final count; checkpoints start at 1,000


async def test_503_with_retry_after_counts_as_a_clean_non_2xx_answer() -> None:
    _, server, url = await start_echo(status=503, retry_after_s=1)
    async with server:
        config = LoadConfig(url=url, requests=50, concurrency=4)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "raw")).run()
    assert stats.failed == 0 and stats.ok == 0
    assert stats.statuses[503] == 50 and stats.retry_after_503 == 50


async def test_a_closed_port_is_counted_as_refused_connections_not_raised() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/analysis/health-code"
    stats = await LoadGenerator(LoadConfig(url=url, requests=10, concurrency=2), [b"x"]).run()
    assert stats.errors == {"connect_refused": 10} and stats.complete == 0


async def test_open_loop_keeps_the_rate_and_counts_latency_from_the_intended_time() -> None:
    # One slot and a server that takes 20 ms: at 200/s the schedule falls behind, and latency
    # measured from each intended send time grows; a closed-loop view would show ~20 ms.
    _, server, url = await start_echo(delay_s=0.02)
    async with server:
        config = LoadConfig(url=url, requests=20, concurrency=1, rate=200)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "raw")).run()
    assert stats.ok == 20 and stats.late_starts >= 15
    assert (
        stats.latency.get_max_value() > 200_000
    )  # the 20th request was due at 95 ms, done at ~400 ms


async def test_open_loop_schedules_nothing_past_the_duration() -> None:
    _, server, url = await start_echo()
    async with server:
        config = LoadConfig(url=url, requests=10**6, concurrency=500, rate=100, duration_s=0.3)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "raw")).run()
    assert 29 <= stats.complete <= 31 and stats.elapsed_s < 0.5


async def test_duration_bounds_the_run_and_stop_ends_it() -> None:
    _, server, url = await start_echo(delay_s=0.01)
    async with server:
        config = LoadConfig(url=url, requests=10**9, concurrency=2, duration_s=0.2)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "raw")).run()
    assert 0 < stats.complete < 100 and stats.elapsed_s < 1.0


async def test_summary_has_the_ab_fields_and_formats() -> None:
    _, server, url = await start_echo()
    async with server:
        config = LoadConfig(url=url, requests=20, concurrency=2)
        stats = await LoadGenerator(config, build_requests(url, [("a", JPEG)], "raw")).run()
    s = summary(config, stats, 1)
    assert s["complete"] == 20 and s["failed"] == 0 and s["requests_per_s"] > 0
    assert set(s["latency_ms"]) >= {"p50", "p90", "p99", "p99.9", "max"}
    text = format_summary(s)
    assert "Complete requests:      20" in text and "Failed requests:        0" in text


def test_latency_summaries_are_milliseconds_within_a_tenth_of_a_percent() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(-4, 1) for _ in range(20_000))
    histogram = latency_histogram()
    for v in values:
        record_s(histogram, v)
    summary = summary_ms(histogram)
    for p in (50, 90, 99, 99.9):
        exact_ms = values[int(len(values) * p / 100) - 1] * 1e3
        assert summary[f"p{p:g}"] == pytest.approx(exact_ms, rel=0.002)
    assert summary["max"] == pytest.approx(values[-1] * 1e3, rel=0.002)
    record_s(histogram, 10_000.0)  # beyond the hour it tracks: counted as an hour, not lost
    assert summary_ms(histogram)["max"] == pytest.approx(3_600_000, rel=0.002)
    assert summary_ms(latency_histogram())["p50"] == 0.0


def test_response_heads_and_urls_parse() -> None:
    head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\ncontent-length: 12\r\n\r\n"
    assert _parse_head(head) == (503, 12, False, False, True)
    target = Target.parse("http://127.0.0.1:9/analysis/health-code")
    request = build_request(target, b"ab", "image/jpeg")
    assert b"Content-Length: 2\r\n" in request and request.endswith(b"\r\n\r\nab")
    with pytest.raises(ValueError):
        Target.parse("https://127.0.0.1/x")


def test_open_file_limit_is_raised_no_further_than_the_hard_limit() -> None:
    soft, hard = raise_open_file_limit(64)
    assert soft >= 64 or soft == hard
