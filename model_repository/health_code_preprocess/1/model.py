"""Triton python backend: a batch of encoded JPEG/PNG images -> UINT8 letterboxed tensors.

Requests are decoded one by one (each holds one image), so a corrupt image fails only its own
request: the error goes into that request's response and the rest of the batch is served.
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils
from imaging import ImageError, image_to_tensor


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.logger = pb_utils.Logger

    def execute(self, requests: list) -> list:
        return [self._one(request) for request in requests]

    def _one(self, request):
        images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().reshape(-1)
        try:
            pixels = np.stack([image_to_tensor(_as_bytes(image)) for image in images])
        except ImageError as e:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
            )
        except Exception as e:  # never let one odd image take the instance down
            self.logger.log_error(f"preprocess failed: {type(e).__name__}: {e}")
            message = f"[corrupt_image] cannot decode image ({type(e).__name__})"
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("PIXELS", pixels)])


def _as_bytes(element) -> bytes:
    # BYTES tensors arrive as numpy object arrays of bytes (or str if a client sent text).
    return element if isinstance(element, bytes) else bytes(element, "latin-1")
