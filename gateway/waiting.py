"""Wait until a service answers: the one "poll until 200" of the project."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import httpx


class NotReady(RuntimeError):
    """The service exited, or did not answer 200 in time."""


async def wait_until_ok(
    urls: Sequence[str],
    timeout_s: float,
    alive: Callable[[], bool] = lambda: True,
    interval_s: float = 0.25,
) -> None:
    """Return once every url answers 200; NotReady when `alive()` turns false or time runs out."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=min(5.0, timeout_s)) as http:
        while True:
            if not alive():
                raise NotReady(f"the process serving {urls[0]} exited while starting")
            with contextlib.suppress(httpx.HTTPError):
                codes = [(await http.get(url)).status_code for url in urls]
                if all(code == 200 for code in codes):
                    return
            if time.monotonic() > deadline:
                raise NotReady(f"{', '.join(urls)} did not answer 200 within {timeout_s:.0f} s")
            await asyncio.sleep(interval_s)
