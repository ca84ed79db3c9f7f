"""Decoding in the gateway (HEALTHCODE_DECODE=gateway): image bytes -> the classifier's tensor.

The function is the model repository's own (`<model>_preprocess/<newest version>/imaging.py`,
the code Triton's preprocess step runs), loaded from the repository at start-up, so both decode
paths give identical tensors. It runs in a thread pool of one thread per core: simplejpeg and
Pillow release the GIL while they decode and resize, so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np

from gateway import errors

logger = logging.getLogger(__name__)

PREPROCESS_SUFFIX = "_preprocess"


def load_imaging(repository: Path, model: str) -> ModuleType:
    """Import imaging.py of the newest version folder of `<model>_preprocess`."""
    folder = repository / (model + PREPROCESS_SUFFIX)
    versions = [int(p.name) for p in folder.glob("[0-9]*") if p.name.isdigit()]
    path = folder / str(max(versions, default=1)) / "imaging.py"
    if not path.is_file():
        raise FileNotFoundError(
            f"HEALTHCODE_DECODE=gateway needs {path}: point HEALTHCODE_MODEL_REPOSITORY at the "
            "model repository, or set HEALTHCODE_DECODE=triton"
        )
    spec = importlib.util.spec_from_file_location(f"healthcode_imaging_{model}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Decoder:
    """Turns image bytes into a UINT8 [3, H, W] tensor per model, off the event loop."""

    def __init__(self, repository: Path, models: set[str], threads: int | None = None) -> None:
        self._imaging = {model: load_imaging(repository, model) for model in models}
        self._pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, "decode")

    async def tensor(self, model: str, image: bytes) -> np.ndarray:
        imaging = self._imaging[model]
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, imaging.image_to_tensor, image)
        except imaging.ImageError as e:
            # Same codes as the Triton preprocess step reports: the client sees no difference.
            error = errors.IMAGE_ERRORS.get(e.code, errors.CorruptImage)
            raise error(str(e).removeprefix(f"[{e.code}] ")[:200]) from e
        except Exception as e:  # a decoder bug on odd client data is still the client's bad image
            logger.warning("decode failed: %s: %s", type(e).__name__, e)
            raise errors.CorruptImage(f"cannot decode image ({type(e).__name__})") from e

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
