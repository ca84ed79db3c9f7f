"""Triton python backend: a batch of encoded JPEG/PNG images -> UINT8 letterboxed tensors.

Images are decoded one by one on the CPU (imaging.py), or, with the parameter decode_device "gpu"
(configs/gpu.pbtxt), a batch's JPEGs together on the GPU (gpu_decode.py) while a small thread
pool (cpu_decode_threads) decodes the images the GPU leaves to the CPU. Either way a corrupt
image fails only its own request: the error goes into that request's response and the rest of
the batch is served.
"""

from __future__ import annotations

import json
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import triton_python_backend_utils as pb_utils
from code_locator import first_look_shows_finder
from imaging import ImageError, image_to_tensor

# A GPU that failed this many batches in a row (each time failing a known-good JPEG too) is given
# up for the instance's life: the CPU path serves, and a model reload tries the GPU again.
MAX_GPU_FAULTS = 3
ROUTES_METRIC = "healthcode_preprocess_images_total"


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.logger = pb_utils.Logger
        params = json.loads(args["model_config"]).get("parameters", {})
        wanted = params.get("decode_device", {}).get("string_value", "cpu")
        self.gpu = _gpu_decoder(args, self.logger) if wanted == "gpu" else None
        threads = int(params.get("cpu_decode_threads", {}).get("string_value", "1"))
        self._pool = ThreadPoolExecutor(threads, "cpu-decode") if threads > 1 else None
        self._faults = 0
        self._routes = _RouteMetric(args.get("model_name", ""), self.logger) if self.gpu else None

    def finalize(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def execute(self, requests: list) -> list:
        batches = [
            pb_utils.get_input_tensor_by_name(r, "IMAGE").as_numpy().reshape(-1) for r in requests
        ]
        decoded = self._decode([_as_bytes(image) for batch in batches for image in batch])
        results = iter(zip(decoded, self._finders(decoded), strict=True))
        return [self._response([next(results) for _ in batch]) for batch in batches]

    def _finders(self, decoded: list) -> list[bool]:
        """The finder check of each tensor (False for an image that failed), on the pool when
        there is one: zxing-cpp's reads cost ~0.3-1.5 ms an image."""

        def check(result) -> bool:
            return isinstance(result, np.ndarray) and first_look_shows_finder(result)

        if self._pool is not None:
            return list(self._pool.map(check, decoded))
        return [check(result) for result in decoded]

    def _decode(self, images: list[bytes]) -> list:
        gpu = self.gpu
        if gpu is None:
            return [f.result() for f in self._on_cpu(images)]
        plans = gpu.plan(images)
        on_cpu = [i for i, p in enumerate(plans) if isinstance(p, str)]
        on_gpu = [i for i, p in enumerate(plans) if not isinstance(p, str)]
        # The CPU's share starts first and runs beside the GPU's (both release the GIL).
        results = dict(zip(on_cpu, self._on_cpu([images[i] for i in on_cpu]), strict=True))
        decoded = self._on_gpu([images[i] for i in on_gpu], [plans[i] for i in on_gpu])
        refused = [i for i, pixels in zip(on_gpu, decoded, strict=True) if pixels is None]
        results.update(zip(refused, self._on_cpu([images[i] for i in refused]), strict=True))
        results.update((i, _done(p)) for i, p in zip(on_gpu, decoded, strict=True) if p is not None)
        if self._routes is not None:
            self._routes.publish(gpu.routes)
        return [results[i].result() for i in range(len(images))]

    def _on_gpu(self, images: list[bytes], jobs: list) -> list:
        """The GPU's tensors; all None (the CPU decides) when the GPU fails the batch."""
        if not images or self.gpu is None:
            return [None] * len(images)
        try:
            decoded = self.gpu.decode(images, jobs)
        except Exception as e:  # a GPU fault (out of memory, a lost device) fails no request
            self._faults += 1
            self.gpu.routes["gpu_fault"] += len(images)
            self.logger.log_error(f"GPU decode failed, batch decoded on the CPU: {e!r}")
            if self._faults >= MAX_GPU_FAULTS:
                self.logger.log_warn(
                    f"the GPU failed {self._faults} batches in a row: decoding on the CPU "
                    "until the model is reloaded"
                )
                self.gpu = None
            return [None] * len(images)
        self._faults = 0
        return decoded

    def _on_cpu(self, images: list[bytes]) -> list[Future]:
        """imaging's tensors (or errors), on the pool when there is one."""
        if self._pool is not None:
            return [self._pool.submit(_cpu_decode, data) for data in images]
        return [_done(_cpu_decode(data)) for data in images]

    def _response(self, results: list):
        if not results:  # an empty request: np.stack would raise and fail the whole batch
            results = [(ImageError("not_an_image", "the request holds no image"), False)]
        for result, _ in results:
            if isinstance(result, ImageError):
                return pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG)
                )
            if isinstance(result, Exception):
                self.logger.log_error(f"preprocess failed: {type(result).__name__}: {result}")
                message = f"[corrupt_image] cannot decode image ({type(result).__name__})"
                return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        pixels = np.stack([result for result, _ in results])
        finders = np.array([finder for _, finder in results], bool).reshape(-1, 1)
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor("PIXELS", pixels), pb_utils.Tensor("FINDER", finders)]
        )


class _RouteMetric:
    """Images by path ("gpu", or why the CPU took them) as a Triton counter on :8002/metrics."""

    def __init__(self, model: str, logger) -> None:
        self._model, self._metrics, self._sent = model, {}, {}
        try:
            self._family = pb_utils.MetricFamily(
                name=ROUTES_METRIC,
                description="Images the preprocess model decoded, by path and reason",
                kind=pb_utils.MetricFamily.COUNTER,
            )
        except Exception as e:  # metrics off, or a backend without custom metrics: no counter
            logger.log_info(f"no {ROUTES_METRIC} metric: {e!r}")
            self._family = None

    def publish(self, routes: dict) -> None:
        if self._family is None:
            return
        for route, total in routes.items():
            if route not in self._metrics:
                labels = {"model": self._model, "route": route}
                self._metrics[route] = self._family.Metric(labels=labels)
            self._metrics[route].increment(total - self._sent.get(route, 0))
            self._sent[route] = total


def _gpu_decoder(args: dict, logger):
    """The GPU decoder, warmed up, or None (and one warning) where this instance cannot use one."""
    try:
        from gpu_decode import GpuDecoder  # torch: imported only by the GPU configuration

        return GpuDecoder.for_instance(
            args["model_instance_kind"], int(args["model_instance_device_id"])
        )
    except Exception as e:  # a missing or broken torch (ImportError, OSError), no GPU, a fault
        logger.log_warn(
            f"decode_device is gpu but the GPU path is unavailable ({e!r}): using the CPU"
        )
        return None


def _cpu_decode(data: bytes):
    try:
        return image_to_tensor(data)
    except Exception as e:  # never let one odd image take the instance down
        return e


def _done(result) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _as_bytes(element) -> bytes:
    # BYTES tensors arrive as numpy object arrays of bytes (or str if a client sent text). Text
    # beyond latin-1 is no image: replaced, it fails its own request, not the whole batch.
    return element if isinstance(element, bytes) else bytes(element, "latin-1", "replace")
