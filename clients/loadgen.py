"""The load generator behind `healthcode bench`: closed or open loop, constant memory.

Closed loop (`concurrency` workers, each sends its next request when the last one answered, like
ab -c) or open loop (`rate` requests/s on a fixed schedule; latency counts from each request's
intended send time, so a stalled server cannot hide behind a stalled client: no coordinated
omission). Either way at most `concurrency` connections exist, each reused, and requests are
handed out by a counter, never as a list of tasks; latencies go into a fixed-size histogram.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from clients.histogram import Histogram
from clients.rawhttp import Connection, Target, error_kind

CHECKPOINTS = tuple(10**k for k in range(3, 10))  # RSS noted at 1k, 10k, 100k, 1M, …


@dataclass(frozen=True)
class LoadConfig:
    url: str
    requests: int = 1000  # at most this many, …
    duration_s: float | None = None  # … and for at most this long
    concurrency: int = 8  # closed loop: workers; open loop: the cap on requests in flight
    rate: float | None = None  # open loop when set: requests per second
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.concurrency < 1:
            raise ValueError("requests and concurrency must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")


@dataclass
class LoadStats:
    latency: Histogram = field(default_factory=Histogram)
    complete: int = 0  # answered, whatever the status
    ok: int = 0  # 2xx
    statuses: collections.Counter = field(default_factory=collections.Counter)  # non-2xx
    retry_after_503: int = 0  # 503 answers that carried Retry-After
    errors: collections.Counter = field(default_factory=collections.Counter)  # no answer, by kind
    bytes_sent: int = 0
    bytes_received: int = 0
    late_starts: int = 0  # open loop: sent after its intended time because all slots were busy
    elapsed_s: float = 0.0
    rss_mb: dict[int, float] = field(default_factory=dict)  # requests done -> RSS then

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def done(self) -> int:
        return self.complete + self.failed


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux; peak RSS elsewhere)."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    return peak_rss_mb()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


def raise_open_file_limit(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards the hard limit when `needed` exceeds it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if want > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


class LoadGenerator:
    """Runs one load pattern against one URL with pre-built requests (used round-robin)."""

    def __init__(self, config: LoadConfig, requests: Sequence[bytes]) -> None:
        if not requests:
            raise ValueError("at least one payload is needed")
        self.config = config
        self.requests = requests
        self.target = Target.parse(config.url)
        self.stats = LoadStats()
        self._issued = 0
        self._start = 0.0
        self._deadline = math.inf
        self._stopping = False
        self._next_checkpoint = 0

    def stop(self) -> None:
        """Hand out no more requests; those in flight finish."""
        self._stopping = True

    def _ticket(self) -> int | None:
        # Open loop: a ticket is due at its intended time, so that time must fall before the end.
        rate = self.config.rate
        due = time.perf_counter() if rate is None else self._start + self._issued / rate
        if self._stopping or self._issued >= self.config.requests or due >= self._deadline:
            return None
        self._issued += 1
        return self._issued - 1

    async def run(self, on_progress: Callable[[LoadStats], None] | None = None) -> LoadStats:
        cfg = self.config
        raise_open_file_limit(cfg.concurrency + 256)
        self._start = time.perf_counter()
        if cfg.duration_s is not None:
            self._deadline = self._start + cfg.duration_s
        reporter = asyncio.create_task(self._report(on_progress)) if on_progress else None
        try:
            await asyncio.gather(*(self._worker() for _ in range(cfg.concurrency)))
        finally:
            self.stats.elapsed_s = time.perf_counter() - self._start
            if reporter is not None:
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        self.stats.rss_mb.setdefault(self.stats.done, round(rss_mb(), 1))
        if on_progress:
            on_progress(self.stats)
        return self.stats

    async def _report(self, on_progress: Callable[[LoadStats], None]) -> None:
        while True:
            on_progress(self.stats)
            await asyncio.sleep(0.25)

    async def _worker(self) -> None:
        cfg, stats, n = self.config, self.stats, len(self.requests)
        conn = Connection(self.target, cfg.timeout_s)
        now = time.perf_counter
        try:
            while (i := self._ticket()) is not None:
                if cfg.rate is not None:
                    begin = self._start + i / cfg.rate  # the intended send time
                    if begin - now() < -0.001:
                        stats.late_starts += 1
                    while (delay := begin - now()) > 0:  # timers may fire a little early
                        await asyncio.sleep(delay)
                else:
                    begin = now()
                data = self.requests[i % n]
                try:
                    response = await conn.request(data)
                except Exception as e:  # every failure is counted, by kind
                    stats.errors[error_kind(e)] += 1
                else:
                    stats.latency.record(now() - begin)
                    stats.complete += 1
                    stats.bytes_sent += len(data)
                    stats.bytes_received += response.size
                    if 200 <= response.status < 300:
                        stats.ok += 1
                    else:
                        stats.statuses[response.status] += 1
                        if response.status == 503 and response.retry_after:
                            stats.retry_after_503 += 1
                if stats.done >= self._next_checkpoint:
                    self._checkpoint()
        finally:
            conn.close()

    def _checkpoint(self) -> None:
        done = self.stats.done
        for mark in CHECKPOINTS:
            if mark > done:
                self._next_checkpoint = mark
                break
            self.stats.rss_mb.setdefault(mark, round(rss_mb(), 1))
