"""Coalescing: the decoded tensors of concurrent requests go to the classifier in one gRPC call.

One call with N images costs about what one call with one image costs: one protobuf message,
one trip through tritonserver's scheduler, one execution of the classifier's python stub. While a
call to a model is in flight, the tensors that arrive for it wait (up to `max_batch` of them) and
leave together in the next call; nobody waits for company when nothing is in flight, so an
unloaded request pays nothing. Only decoded tensors are coalesced: they cannot fail one by one
(raw image bytes can, and one corrupt image would fail the whole call), so a failed call is
every member's error, exactly as each would have had alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

# Runs one batched call: (model, pixels [N, 3, H, W]) -> (scores [N, n_labels], model version).
Call = Callable[[str, NDArray[np.uint8]], Awaitable[tuple[NDArray[np.float32], str]]]


@dataclass
class _Waiting:
    pixels: list[NDArray[np.uint8]] = field(default_factory=list)
    futures: list[asyncio.Future[tuple[NDArray[np.float32], str]]] = field(default_factory=list)


class Coalescer:
    """Per model: at most one call in flight; what arrives meanwhile goes in the next one."""

    def __init__(self, call: Call, max_batch: int) -> None:
        self._call = call
        self._max_batch = max_batch
        self._waiting: dict[str, _Waiting] = {}
        self._drains: dict[str, asyncio.Task[None]] = {}  # the model's sender, while it runs

    async def scores(
        self, model: str, pixels: NDArray[np.uint8]
    ) -> tuple[NDArray[np.float32], str]:
        """The SCORES row of one image's tensor, and the version that answered."""
        future: asyncio.Future[tuple[NDArray[np.float32], str]]
        future = asyncio.get_running_loop().create_future()
        waiting = self._waiting.setdefault(model, _Waiting())
        waiting.pixels.append(pixels)
        waiting.futures.append(future)
        if model not in self._drains:
            self._drains[model] = asyncio.create_task(self._drain(model))
        return await future

    async def _drain(self, model: str) -> None:
        """Send what waits for `model`, batch after batch, until nothing does."""
        try:
            while waiting := self._waiting.get(model):
                size = self._max_batch
                batch = _Waiting(waiting.pixels[:size], waiting.futures[:size])
                del waiting.pixels[:size], waiting.futures[:size]
                if not waiting.pixels:
                    del self._waiting[model]
                await self._send(model, batch)
        finally:
            del self._drains[model]

    async def _send(self, model: str, batch: _Waiting) -> None:
        try:
            scores, version = await self._call(model, np.stack(batch.pixels))
        except Exception as e:  # the call's error is every member's error
            for future in batch.futures:
                if not future.done():
                    future.set_exception(e)
            return
        for row, future in zip(scores, batch.futures, strict=True):
            if not future.done():  # its client may have gone (cancelled)
                future.set_result((row, version))
