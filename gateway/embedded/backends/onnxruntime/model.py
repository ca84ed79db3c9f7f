"""A python-based Triton backend named "onnxruntime": runs a version folder's model.onnx.

The embedded tritonserver (from the nvidia-pytriton wheel) has no native onnxruntime backend, so
this one stands in for it; config.pbtxt stays the same for the NGC image's native backend. It runs
in Triton's python stub, never in the web process, and imports nothing from the project.
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        filename = config.get("default_model_filename") or "model.onnx"
        path = os.path.join(args["model_repository"], args["model_version"], filename)
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_thread_count", 0))
        options.inter_op_num_threads = 1
        # Pool threads that busy-wait between ops burn a core another process could decode on.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(path, options, providers=_providers(args))
        self.input_names = [i["name"] for i in config["input"]]
        self.output_names = [o["name"] for o in config["output"]]

    def execute(self, requests: list) -> list:
        # Triton hands over the requests of one dynamic batch separately: run them as one batch.
        per_input = {
            name: [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            for name in self.input_names
        }
        sizes = [a.shape[0] for a in per_input[self.input_names[0]]]
        feeds = {name: np.concatenate(arrays) for name, arrays in per_input.items()}
        try:
            outputs = self.session.run(self.output_names, feeds)
        except Exception as e:
            error = pb_utils.TritonError(f"onnxruntime failed: {type(e).__name__}: {e}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        bounds = np.cumsum(sizes)[:-1]
        parts = [np.split(out, bounds) for out in outputs]
        return [
            pb_utils.InferenceResponse(
                output_tensors=[
                    pb_utils.Tensor(name, part[i])
                    for name, part in zip(self.output_names, parts, strict=True)
                ]
            )
            for i in range(len(requests))
        ]


def _providers(args: dict) -> list:
    """CUDA when Triton placed this instance on a GPU and onnxruntime-gpu is installed."""
    if args.get("model_instance_kind") == "GPU" and "CUDAExecutionProvider" in (
        ort.get_available_providers()
    ):
        device = int(args.get("model_instance_device_id", 0))
        return [("CUDAExecutionProvider", {"device_id": device}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
