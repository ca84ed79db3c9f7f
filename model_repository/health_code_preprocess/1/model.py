"""Triton python backend: a batch of encoded JPEG/PNG images -> UINT8 letterboxed tensors.

Images are decoded one by one on the CPU (imaging.py), or, with the parameter decode_device "gpu"
(configs/gpu.pbtxt), a batch's JPEGs together on the GPU (gpu_decode.py). Either way a corrupt
image fails only its own request: the error goes into that request's response and the rest of
the batch is served.
"""

from __future__ import annotations

import json

import numpy as np
import triton_python_backend_utils as pb_utils
from imaging import ImageError, image_to_tensor


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.logger = pb_utils.Logger
        params = json.loads(args["model_config"]).get("parameters", {})
        wanted = params.get("decode_device", {}).get("string_value", "cpu")
        self.gpu = _gpu_decoder(args, self.logger) if wanted == "gpu" else None

    def execute(self, requests: list) -> list:
        batches = [
            pb_utils.get_input_tensor_by_name(r, "IMAGE").as_numpy().reshape(-1) for r in requests
        ]
        results = iter(self._decode([_as_bytes(image) for batch in batches for image in batch]))
        return [self._response([next(results) for _ in batch]) for batch in batches]

    def _decode(self, images: list[bytes]) -> list:
        decoded = [None] * len(images)
        if self.gpu is not None:
            try:
                decoded = self.gpu(images)
            except Exception as e:  # a GPU fault (out of memory, a lost device) fails no request
                self.logger.log_error(f"GPU decode failed, batch decoded on the CPU: {e!r}")
        return [
            _on_cpu(data) if pixels is None else pixels
            for data, pixels in zip(images, decoded, strict=True)
        ]

    def _response(self, results: list):
        if not results:  # an empty request: np.stack would raise and fail the whole batch
            results = [ImageError("not_an_image", "the request holds no image")]
        for result in results:
            if isinstance(result, ImageError):
                return pb_utils.InferenceResponse(
                    error=pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG)
                )
            if isinstance(result, Exception):
                self.logger.log_error(f"preprocess failed: {type(result).__name__}: {result}")
                message = f"[corrupt_image] cannot decode image ({type(result).__name__})"
                return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        pixels = np.stack(results)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("PIXELS", pixels)])


def _gpu_decoder(args: dict, logger):
    """The GPU decoder, or None (and one warning) where this instance cannot decode on a GPU."""
    try:
        from gpu_decode import GpuDecoder  # torch: imported only by the GPU configuration

        return GpuDecoder(args["model_instance_kind"], int(args["model_instance_device_id"]))
    except (ImportError, RuntimeError) as e:
        logger.log_warn(
            f"decode_device is gpu but the GPU path is unavailable ({e}): using the CPU"
        )
        return None


def _on_cpu(data: bytes):
    try:
        return image_to_tensor(data)
    except Exception as e:  # never let one odd image take the instance down
        return e


def _as_bytes(element) -> bytes:
    # BYTES tensors arrive as numpy object arrays of bytes (or str if a client sent text). Text
    # beyond latin-1 is no image: replaced, it fails its own request, not the whole batch.
    return element if isinstance(element, bytes) else bytes(element, "latin-1", "replace")
