"""The load generator behind `healthcode bench`: closed or open loop, constant memory.

Closed loop (`concurrency` workers, each sends its next request when the last one answered, like
ab -c) or open loop (`rate` requests/s on a fixed schedule; latency counts from each request's
intended send time, so a stalled server cannot hide behind a stalled client: no coordinated
omission). Either way at most `concurrency` connections exist, each reused, and requests are
handed out by a counter, never as a list of tasks; latencies go into an HDR histogram (fixed size,
three significant digits).
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

from hdrh.histogram import HdrHistogram

from clients.loadtest.rawhttp import Connection, Target, error_kind

CHECKPOINTS = tuple(10**k for k in range(3, 10))  # RSS noted at 1k, 10k, 100k, 1M, …
LATENCY_MAX_US = 3_600_000_000  # an hour: anything longer is recorded as an hour
PERCENTILES = (50, 90, 99, 99.9)


def latency_histogram() -> HdrHistogram:
    """Microseconds from 1 us to an hour, three significant digits."""
    return HdrHistogram(1, LATENCY_MAX_US, 3)


def record_s(histogram: HdrHistogram, seconds: float) -> None:
    histogram.record_value(min(max(1, round(seconds * 1e6)), LATENCY_MAX_US))


def summary_ms(histogram: HdrHistogram) -> dict[str, float]:
    """Percentiles, min, mean and max in milliseconds (zeros when nothing was recorded)."""
    if not histogram.get_total_count():
        return {**{f"p{p:g}": 0.0 for p in PERCENTILES}, "min": 0.0, "mean": 0.0, "max": 0.0}
    out = {f"p{p:g}": round(histogram.get_value_at_percentile(p) / 1e3, 3) for p in PERCENTILES}
    out["min"] = round(histogram.get_min_value() / 1e3, 3)
    out["mean"] = round(histogram.get_mean_value() / 1e3, 3)
    out["max"] = round(histogram.get_max_value() / 1e3, 3)
    return out


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
    latency: HdrHistogram = field(default_factory=latency_histogram)
    complete: int = 0  # answered, whatever the status
    ok: int = 0  # 2xx
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)  # non-2xx
    retry_after_503: int = 0  # 503 answers that carried Retry-After
    # failures with no answer, by kind
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
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
                    record_s(stats.latency, now() - begin)
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
