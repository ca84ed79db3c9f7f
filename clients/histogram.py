"""A fixed-size latency histogram: log buckets, ~1% relative error, constant memory."""

from __future__ import annotations

import math
from array import array

MIN_S = 1e-6  # 1 µs: the first bucket's bound; smaller values count there
MAX_S = 1e3  # 1000 s: larger values count in the last bucket (max stays exact)
GROWTH = 1.01  # bucket i holds values in [MIN_S * GROWTH**(i-1), MIN_S * GROWTH**i)


class Histogram:
    """Records seconds; answers count, mean, min, max and percentiles without storing values."""

    __slots__ = ("_counts", "_log_growth", "count", "max_s", "min_s", "total_s")

    def __init__(self) -> None:
        self._log_growth = math.log(GROWTH)
        n = math.ceil(math.log(MAX_S / MIN_S) / self._log_growth) + 2
        self._counts = array("Q", bytes(8 * n))
        self.count = 0
        self.total_s = 0.0
        self.min_s = math.inf
        self.max_s = 0.0

    def _index(self, value_s: float) -> int:
        if value_s <= MIN_S:
            return 0
        i = math.ceil(math.log(value_s / MIN_S) / self._log_growth)
        return min(i, len(self._counts) - 1)

    def record(self, value_s: float) -> None:
        self._counts[self._index(value_s)] += 1
        self.count += 1
        self.total_s += value_s
        self.min_s = min(self.min_s, value_s)
        self.max_s = max(self.max_s, value_s)

    def merge(self, other: Histogram) -> None:
        for i, c in enumerate(other._counts):
            if c:
                self._counts[i] += c
        self.count += other.count
        self.total_s += other.total_s
        self.min_s = min(self.min_s, other.min_s)
        self.max_s = max(self.max_s, other.max_s)

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        """The value at percentile p (0-100): a bucket's upper bound, clamped to [min, max]."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for i, c in enumerate(self._counts):
            seen += c
            if seen >= rank:
                return min(max(MIN_S * GROWTH**i, self.min_s), self.max_s)
        return self.max_s

    def summary_ms(self, percentiles: tuple[float, ...] = (50, 90, 99, 99.9)) -> dict[str, float]:
        out = {f"p{p:g}": round(self.percentile(p) * 1e3, 3) for p in percentiles}
        out["min"] = round((self.min_s if self.count else 0.0) * 1e3, 3)
        out["mean"] = round(self.mean_s * 1e3, 3)
        out["max"] = round(self.max_s * 1e3, 3)
        return out
