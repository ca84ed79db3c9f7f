"""ONNX export of the trained network, checked against torch with onnxruntime."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from training.model import HealthCodeNet, SoftmaxScores, fold_normalisation
from training.preprocessing import INPUT_SHAPE

INPUT_NAME, OUTPUT_NAME = "PIXELS", "SCORES"
OPSET = 17


def export_onnx(net: HealthCodeNet, path: Path, temperature: float = 1.0) -> None:
    """Write uint8 pixels [N, *INPUT_SHAPE] -> float32 scores [N, 4] to `path`, atomically."""
    scorer = SoftmaxScores(fold_normalisation(net), temperature).eval()
    example = torch.zeros(2, *INPUT_SHAPE, dtype=torch.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # The torch.export-based exporter needs onnxscript, which this project does not install; the
    # TorchScript one works but warns that it is deprecated (and pytest turns warnings into errors).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            scorer,
            (example,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
        )
    onnx.checker.check_model(str(tmp), full_check=True)
    os.replace(tmp, path)  # Triton polls the repository: never let it see a half-written file


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """Open `path` with onnxruntime on the CPU (`threads` 0: onnxruntime's default)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify_onnx(
    path: Path, net: HealthCodeNet, pixels: np.ndarray, temperature: float = 1.0
) -> float:
    """Check the ONNX model against torch on batches of 1 and 7; return the largest difference."""
    sess, scorer = session(path), SoftmaxScores(net, temperature).eval()
    worst = 0.0
    for batch in (pixels[:1], pixels[1:8]):
        (scores,) = sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(batch)})
        with torch.no_grad():
            expected = scorer(torch.from_numpy(np.array(batch))).numpy()
        if scores.shape != (len(batch), 4) or scores.dtype != np.float32:
            raise RuntimeError(f"ONNX output {scores.dtype}{scores.shape}, expected float32[N,4]")
        worst = max(worst, float(np.abs(scores - expected).max()))
    if worst > 1e-4:
        raise RuntimeError(f"ONNX and torch disagree by {worst:.2e}")
    return worst


def classifier_configs(model: Path) -> list[Path]:
    """The config files of the classifier whose version folder holds `model`."""
    return [model.parent.parent / name for name in ("config.pbtxt", "configs/gpu.pbtxt")]


def write_rule(config: Path, values: dict[str, float]) -> None:
    """Set decision-rule parameters (gateway.classification's *_PARAMETER names) in a classifier
    config.pbtxt."""
    text = config.read_text()
    for key, value in values.items():
        parameter = re.compile(r'(key: "' + key + r'" value: \{ string_value: ")[^"]*(")')
        text, found = parameter.subn(rf"\g<1>{value:g}\g<2>", text)
        if found != 1:
            raise ValueError(f"{config} has no single {key} parameter to set")
    tmp = config.with_name(f".{config.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, config)  # Triton polls the repository: never let it see a half-written file


def scores_of(path: Path, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The exported graph's SCORES for a uint8 [N, *INPUT_SHAPE] array, batch by batch."""
    sess = session(path)
    return np.concatenate([
        sess.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(pixels[i : i + batch_size])})[0]
        for i in range(0, len(pixels), batch_size)
    ])  # fmt: skip
