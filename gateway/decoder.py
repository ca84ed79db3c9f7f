"""Decoding in the gateway (HEALTHCODE_DECODE=gateway): image bytes -> the classifier's tensor.

The function is the model repository's own imaging.py (gateway.repository loads it), the code
Triton's preprocess step runs, so both decode placements give identical tensors. It runs in a
thread pool of one thread per core: simplejpeg and Pillow release the GIL while they decode and
resize, so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import numpy as np
from numpy.typing import NDArray

from gateway import errors

logger = logging.getLogger(__name__)


class Decoder:
    """Turns image bytes into a UINT8 [3, H, W] tensor with `imaging`, off the event loop."""

    def __init__(self, imaging: ModuleType, threads: int | None = None) -> None:
        self._imaging = imaging
        self._pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, "decode")

    async def tensor(self, image: bytes) -> NDArray[np.uint8]:
        imaging = self._imaging
        loop = asyncio.get_running_loop()
        try:
            pixels: NDArray[np.uint8] = await loop.run_in_executor(
                self._pool, imaging.image_to_tensor, image
            )
        except imaging.ImageError as e:
            # The codes the Triton preprocess step reports: the client sees no difference.
            raise errors.from_image_error(e.code, str(e).removeprefix(f"[{e.code}] ")) from e
        except Exception as e:  # a decoder bug on odd client data is still the client's bad image
            logger.warning("decode failed: %s: %s", type(e).__name__, e)
            raise errors.CorruptImage(f"cannot decode image ({type(e).__name__})") from e
        return pixels

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
