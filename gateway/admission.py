"""Admission by cost: no client may starve the others.

Two mechanisms, both before any costly work:

- CostlyLane: an image whose header says its decode is costly (imaging.py's Header.decode_cost_ms:
  a big PNG, a progressive JPEG) is decoded in a process of its own, at a lower CPU priority
  (LANE_NICENESS), never in the shared decode threads or in Triton's preprocess batches, where it
  would hold up ordinary images. A process, not a thread: a low-priority thread that holds the
  GIL when the scheduler sets it aside stalls the event loop with it. At most `size` costly
  images are decoding or waiting; the next is refused at once with 503 costly_image_busy.
- RateLimiter: an optional token bucket per client (its API key, else its address): `rate_per_s`
  requests a second on average, bursts of `burst`; beyond that 429 rate_limited with the seconds
  until a token is back as Retry-After. Buckets are kept for the most recent `max_clients`.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from gateway import errors
from gateway.lifetime import end_with_parent
from gateway.repository import import_file

# The lane's process yields the CPU to the gateway and to ordinary decodes (nice 10: about a
# tenth of a core's share against a process at 0) and uses whatever they leave.
LANE_NICENESS = 10

_imaging: ModuleType | None = None  # in the lane's process: its imaging.py


def _start_lane(imaging_path: str) -> None:
    global _imaging
    end_with_parent(signal.SIGKILL)
    os.nice(LANE_NICENESS)
    _imaging = import_file(Path(imaging_path))


def _decode(image: bytes) -> NDArray[np.uint8] | tuple[str, str]:
    """In the lane's process: the tensor, or (code, message) of the image's error."""
    assert _imaging is not None
    try:
        pixels: NDArray[np.uint8] = _imaging.image_to_tensor(image)
        return pixels
    except _imaging.ImageError as e:
        return e.code, str(e).removeprefix(f"[{e.code}] ")
    except Exception as e:  # a decoder bug on odd client data is still the client's bad image
        return "corrupt_image", f"cannot decode image ({type(e).__name__})"


class CostlyLane:
    """Decodes costly images one at a time in a process of its own; at most `size` admitted."""

    def __init__(self, imaging: ModuleType, size: int) -> None:
        self.size = size
        self.admitted = 0
        # spawn: the gateway's threads and event loop must not be forked into the child.
        context = multiprocessing.get_context("spawn")
        path = str(imaging.__file__)
        self._pool = ProcessPoolExecutor(1, context, initializer=_start_lane, initargs=(path,))

    async def tensor(self, image: bytes) -> NDArray[np.uint8]:
        if self.admitted >= self.size:
            raise errors.CostlyImageBusy()
        self.admitted += 1
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, _decode, image)
        finally:
            self.admitted -= 1
        if isinstance(result, tuple):
            raise errors.from_image_error(*result)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class RateLimiter:
    """Token buckets per client, refilled at `rate_per_s`, holding at most `burst` tokens."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, client: bytes) -> None:
        """Spend one of `client`'s tokens; RateLimited (with its Retry-After) when it has none."""
        now = self.clock()
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            wait_s = math.ceil((1.0 - tokens) / self.rate_per_s)
            raise errors.RateLimited(retry_after_s=max(1, wait_s))
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)  # the client seen longest ago
