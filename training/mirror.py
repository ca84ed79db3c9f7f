"""Give an exported one-look classifier the mirror average, recalibrated on the calibration split.

.venv/bin/python -m training.mirror   # the shipped model, its configs and its run record

`make train` exports mirror-averaged graphs itself (export.export_onnx). This upgrades a graph
exported before that without training it again (retraining on this machine gave another
network: benchmarks/NOTES.md, 2026-12-02 19:00): the same weights score the page and its mirror
where the first look is unsure (export.add_mirror), one more temperature is fitted to the
averaged scores on the calibration split, and the gate, the decision rule and the closer look's
rule are chosen again there, as `make train` chooses them. The run record keeps the one-look
graph's hash and temperature beside the new ones.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx

from training import closer_look
from training.dataset import load
from training.export import add_mirror, save_checked, scores_of
from training.metrics import (
    evaluate,
    expected_calibration_error,
    fit_temperature,
    gated_logits,
    softmax,
)
from training.train import parse_model_args


def log_scores(model: Path, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log SCORES of a one-look graph for each page, and their mean over the page and its
    mirror: logits / t, up to a constant a row (what add_mirror computes before its
    temperature)."""
    page, mirror = (
        np.log(np.maximum(scores_of(model, p), 1e-30))
        for p in (pixels, np.ascontiguousarray(pixels[..., ::-1]))
    )
    return page, (page + mirror) / 2


def is_mirrored(model: Path) -> bool:
    """Whether `model` is already an add_mirror graph."""
    return any(node.op_type == "If" for node in onnx.load(str(model)).graph.node)


def upgrade(model: Path, record_path: Path, workers: int, log: Callable[[str], None]) -> None:
    """Mirror `model` in place, choose its rules again, write its configs and run record."""
    record = json.loads(record_path.read_text())
    if is_mirrored(model):
        raise SystemExit(f"{model} already averages the page and its mirror")
    settings = record["settings"]
    calib = load("calib", settings["calib_samples"], settings["seed"], workers)
    test = load("test", settings["test_samples"], settings["seed"], workers)
    calib_first, calib_log = log_scores(model, calib.pixels)
    test_looks = log_scores(model, test.pixels)  # while `model` is the one-look graph
    extra = fit_temperature(calib_log, calib.labels)
    one_look = {"onnx_sha256": record["model"]["onnx_sha256"], "temperature": record["temperature"]}
    temperature = record["temperature"] * extra
    graph = onnx.load(str(model))
    threshold, closer, gate = closer_look.choose_rules(
        lambda gate: save_checked(add_mirror(graph, extra, gate), model),
        model,
        softmax(calib_first, extra),
        softmax(calib_log, extra),
        calib.labels,
        settings["calib_samples"],
        settings["seed"],
        workers,
        log=log,
    )
    test_log = gated_logits(*test_looks, extra, gate)
    log(f"temperature {one_look['temperature']:.3f} -> {temperature:.3f}; a colour needs >= "
        f"{threshold:.2f}; the mirror's look where the first look is below {gate:g}")  # fmt: skip
    report = evaluate(softmax(test_log, extra), test.labels, test.kinds, threshold)
    argmax = evaluate(softmax(test_log, extra), test.labels, test.kinds)
    log(report.format())
    record.update(
        temperature=temperature,
        min_colour_probability=threshold,
        mirror_gate=gate,
        closer_look=closer,
        test={**report.to_json(),
              "ece_before_calibration": expected_calibration_error(
                  softmax(test_log * one_look["temperature"]), test.labels),
              "argmax": {k: argmax.to_json()[k] for k in ("accuracy", "invalid_as_colour")}},
        mirror_added_to=one_look,
    )  # fmt: skip
    record["model"].update(
        onnx_bytes=model.stat().st_size, onnx_sha256=hashlib.sha256(model.read_bytes()).hexdigest()
    )
    record_path.write_text(json.dumps(record, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    args = parse_model_args("python -m training.mirror", __doc__, argv)
    upgrade(args.model, args.record, args.workers, functools.partial(print, flush=True))


if __name__ == "__main__":
    main()
