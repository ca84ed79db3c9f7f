"""Triton's answers under this run's configs against the CPU path computed here, image by image.

The CPU path is imaging.image_to_tensor and the classifier's model.onnx on onnxruntime's CPU
provider, in this process: what the embedded, CPU-only form serves. Triton is asked twice per
image: the preprocess model alone (its tensor, compared pixel by pixel) and the ensemble (its
scores). An image passes when both paths give the same label, or the same error code, and every
class's probability is within SCORE_TOLERANCE. The GPU path's pixels differ from the CPU's by
design (gpu_decode.py: full-size decode and another low-pass filter), so scores differ a little;
0.05 is far below what separates a confident answer from another label.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from benchmarks.gpu.observe import triton_metrics, triton_window
from gateway.repository import DEFAULT_FAMILY, ModelFamily, labels, load_imaging, versions

SCORE_TOLERANCE = 0.05
_CODE = re.compile(r"\[(\w+)\]")


def _ask(client, model: str, output: str, data: bytes) -> np.ndarray | str:
    tensor = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[data]], dtype=np.object_))
    try:
        result = client.infer(model, [tensor], outputs=[grpcclient.InferRequestedOutput(output)])
    except InferenceServerException as e:
        found = _CODE.search(e.message() or "")
        return found[1] if found else f"error: {e.message()}"
    return result.as_numpy(output)[0]


def check(entries: list[dict], repository: Path, grpc_target: str, metrics_url: str) -> dict:
    """Each image's answers on both paths, and a summary; entries as driver.read_images()."""
    family = ModelFamily(DEFAULT_FAMILY)
    imaging = load_imaging(family, repository)
    names = labels(family, repository)
    classifier = repository / family.classifier
    model = classifier / str(versions(classifier)[-1]) / "model.onnx"  # the newest, as served
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    client = grpcclient.InferenceServerClient(grpc_target)
    rows = []
    for entry in entries:
        data = entry["data"]
        try:
            tensor = imaging.image_to_tensor(data)
            cpu: np.ndarray | str = session.run(None, {"PIXELS": tensor[None]})[0][0]
        except imaging.ImageError as e:
            tensor, cpu = None, e.code
        before = triton_metrics(metrics_url)
        pixels = _ask(client, family.preprocess, "PIXELS", data)
        scores = _ask(client, family.ensemble, "SCORES", data)
        routes = triton_window(before, triton_metrics(metrics_url))["preprocess_routes"]
        rows.append(_compare(entry, names, cpu, scores, tensor, pixels, routes))
    client.close()
    return {"score_tolerance": SCORE_TOLERANCE, "summary": _summary(rows), "images": rows}


def _answer(names: tuple[str, ...], result: np.ndarray | str) -> str:
    return result if isinstance(result, str) else names[int(np.argmax(result))]


def _compare(entry, names, cpu, scores, tensor, pixels, routes) -> dict:
    row = {
        "file": entry["file"],
        "label": entry["label"],
        "expected_route": entry["route"],
        "routes": routes,  # what the preprocess model counted for this image (GPU config)
        "cpu": _answer(names, cpu),
        "triton": _answer(names, scores),
    }
    if not isinstance(cpu, str) and not isinstance(scores, str):
        row["cpu_scores"] = [round(float(x), 4) for x in cpu]
        row["triton_scores"] = [round(float(x), 4) for x in scores]
        row["max_score_difference"] = round(float(np.abs(cpu - scores).max()), 4)
    if tensor is not None and not isinstance(pixels, str):
        difference = np.abs(tensor.astype(np.int16) - pixels.astype(np.int16))
        row["pixels_mean_difference"] = round(float(difference.mean()), 3)
        row["pixels_max_difference"] = int(difference.max())
    row["agree"] = row["cpu"] == row["triton"] and (
        row.get("max_score_difference", 0.0) <= SCORE_TOLERANCE
    )
    return row


def _summary(rows: list[dict]) -> dict:
    checked = [r for r in rows if r["expected_route"] != "damaged"]
    scored = [r for r in checked if "max_score_difference" in r]
    pixels = [r["pixels_mean_difference"] for r in checked if "pixels_mean_difference" in r]
    return {
        "images": len(checked),
        "agree": sum(r["agree"] for r in checked),
        "disagree": [r["file"] for r in checked if not r["agree"]],
        "max_score_difference": max((r["max_score_difference"] for r in scored), default=None),
        "pixels_mean_difference": round(sum(pixels) / len(pixels), 3) if pixels else None,
        "pixels_max_difference": max(
            (r["pixels_max_difference"] for r in checked if "pixels_max_difference" in r),
            default=None,
        ),
        "accuracy_cpu": _accuracy(checked, "cpu"),
        "accuracy_triton": _accuracy(checked, "triton"),
        # decided in gpu_decode.py: nvJPEG's answer where it decodes damaged data
        "damaged": [
            {k: r[k] for k in ("file", "cpu", "triton")}
            for r in rows
            if r["expected_route"] == "damaged"
        ],
        "passed": all(r["agree"] for r in checked),
    }


def _accuracy(rows: list[dict], path: str) -> str:
    right = sum(r[path] == r["label"] for r in rows)
    return f"{right}/{len(rows)}"
