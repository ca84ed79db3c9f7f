"""Render the data, train the classifier on the CPU, calibrate, evaluate and export it to ONNX.

.venv/bin/python -m training.train --out model_repository/health_code_classifier/2/model.onnx

Writes what it used and measured (settings, splits, temperature, decision-rule threshold, the
closer look's rule, test metrics) to --record, and the rule into the classifier's config.pbtxt and
configs/gpu.pbtxt (the folders above --out) where they exist.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training import closer_look, render
from training.dataset import SEED_OFFSETS, TRAIN_LAYOUTS, Dataset, load
from training.export import export_onnx, load_weights, verify_onnx
from training.families import HOLDOUT_LAYOUTS
from training.fonts import cjk_font_file
from training.metrics import (
    Report,
    evaluate,
    expected_calibration_error,
    fit_temperature,
    gated_logits,
    softmax,
)
from training.model import HealthCodeNet, count_macs, looks
from training.preprocessing import INPUT_SHAPE

DEFAULT_OUT = Path("model_repository/health_code_classifier/2/model.onnx")
DEFAULT_RECORD = Path("training/model_run.json")


class Joined:
    """Data sets as one for `fit`: pixels and labels by ascending indices across them, none
    copied (the training pages are memory-mapped)."""

    def __init__(self, *parts: Dataset) -> None:
        self.parts = parts
        self.starts = np.cumsum([0, *(len(p.labels) for p in parts)])
        self.labels = np.concatenate([p.labels for p in parts])

    def pixels_at(self, idx: np.ndarray) -> np.ndarray:
        """The pixels of ascending indices `idx`."""
        starts = self.starts[:-1]
        bounds = np.searchsorted(idx, self.starts)  # where each part's indices begin in idx
        pieces = zip(self.parts, starts, bounds[:-1], bounds[1:], strict=True)
        return np.concatenate([part.pixels[idx[lo:hi] - at] for part, at, lo, hi in pieces])


def fit(
    net: HealthCodeNet,
    data: Dataset | Joined,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    log: Callable[[str], None] = print,
    freeze_norms: bool = False,
) -> None:
    """Train `net` with AdamW, a one-cycle schedule and mirroring; the seed fixes the batches.
    `freeze_norms` keeps the batch norms' statistics as they are (a network of
    export.load_weights, whose norms hold folded weights, not statistics)."""
    data = data if isinstance(data, Joined) else Joined(data)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(data.labels) // batch_size)  # drop the ragged end: BN needs > 1
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=epochs * steps_per_epoch
    )
    net.train()
    if freeze_norms:
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
    for epoch in range(epochs):
        started, total_loss, correct = time.monotonic(), 0.0, 0
        order = torch.randperm(len(data.labels), generator=generator).numpy()
        for step in range(steps_per_epoch):
            batch = order[step * batch_size : (step + 1) * batch_size]
            idx = np.sort(batch)  # ascending reads are kinder to the memory-mapped cache
            pixels = torch.from_numpy(data.pixels_at(idx))
            labels = torch.from_numpy(data.labels[idx])
            # A mirrored screen keeps its status: twice the layouts for no rendering time. It
            # flips the served tensor itself, so training still sees exactly what serving sees.
            flip = torch.rand(len(idx), generator=generator) < 0.5
            pixels = torch.where(flip[:, None, None, None], pixels.flip(3), pixels)
            logits = net(pixels)
            loss = nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item()
            correct += int((logits.argmax(1) == labels).sum())
        seen = steps_per_epoch * batch_size
        log(
            f"epoch {epoch + 1}/{epochs}: loss {total_loss / steps_per_epoch:.4f}, "
            f"train accuracy {correct / seen:.4f}, {time.monotonic() - started:.0f} s"
        )


@torch.no_grad()
def predict(
    net: HealthCodeNet, pixels: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """The first look's and the mirror-averaged logits (N, 4) for uint8 pixels (N, 3, H, W)."""
    net.eval()
    chunks = [
        looks(net, torch.from_numpy(np.array(pixels[i : i + batch_size])))
        for i in range(0, len(pixels), batch_size)
    ]
    return tuple(torch.cat(part).numpy() for part in zip(*chunks, strict=True))


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children (the renderers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _record(args: argparse.Namespace, **measured: object) -> dict[str, object]:
    """What this run used and measured, for the model card and for reproducing it."""
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    return {
        "command": " ".join(
            ["python -m training.train"]
            + [f"--{k.replace('_', '-')} {v}" for k, v in settings.items() if k != "cache"]
        ),
        "settings": settings,
        "data": {
            "seed_offsets": SEED_OFFSETS,
            "train_and_calib_layouts": list(TRAIN_LAYOUTS),
            "held_out_layouts": list(HOLDOUT_LAYOUTS),
            "invalid_kinds": render.INVALID_KINDS,
            "phone_sizes": render.PHONE_SIZES,
            "cjk_font": cjk_font_file(),
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        **measured,
    }


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> Report:
    """Generate data, train, calibrate, evaluate, export and verify; return the test report."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    train_seed = args.seed if args.train_seed is None else args.train_seed
    splits = {  # name: (images, seed)
        "train": (args.train_samples, train_seed),
        "calib": (args.calib_samples, args.seed),
        "test": (args.test_samples, args.seed),
    }
    train, calib, test = (
        load(name, n, seed, args.workers, cache=args.cache) for name, (n, seed) in splits.items()
    )
    parts = [train]
    if args.views:
        parts.append(closer_look.training_views(args.views, train_seed, args.workers, args.cache))
    views_found = len(parts[-1].labels) if args.views else 0
    data_s = time.monotonic() - started
    log(f"data: {splits}, closer-look views of {args.views} more training pages "
        f"({views_found} found), {data_s:.0f} s")  # fmt: skip
    net = HealthCodeNet()
    initialised_from = None
    if args.init:  # read before --out, which may be the same file, is written
        initialised_from = {
            "path": str(args.init),
            "onnx_sha256": hashlib.sha256(args.init.read_bytes()).hexdigest(),
        }
        load_weights(net, args.init)
        log(f"weights from {args.init}'s first look; batch norms frozen")
    params = sum(p.numel() for p in net.parameters())
    macs = count_macs(net, *INPUT_SHAPE[1:])
    log(
        f"model: {params} parameters, {macs / 1e6:.1f} M multiply-adds a look: one look at a "
        "page, two (the page and its mirror) where the first is unsure"
    )
    fit(
        net,
        Joined(*parts),
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        log,
        freeze_norms=args.init is not None,
    )
    train_s = time.monotonic() - started - data_s
    calib_first, calib_logits = predict(net, calib.pixels)
    temperature = fit_temperature(calib_logits, calib.labels)
    threshold, closer, gate = closer_look.choose_rules(
        lambda gate: export_onnx(net, args.out, temperature, gate),
        args.out,
        softmax(calib_first, temperature),
        softmax(calib_logits, temperature),
        calib.labels,
        args.calib_samples,
        args.seed,
        args.workers,
        args.cache,
        log,
    )
    logits = gated_logits(*predict(net, test.pixels), temperature, gate)
    served = softmax(logits, temperature)
    ece_before = expected_calibration_error(softmax(logits), test.labels)
    argmax = evaluate(served, test.labels, test.kinds)
    report = evaluate(served, test.labels, test.kinds, threshold)
    log(f"temperature {temperature:.3f}: test ECE {ece_before:.4f} -> {report.ece:.4f}")
    log(f"decision rule: a colour needs a calibrated probability >= {threshold:.2f}; "
        f"the mirror's look where the first look is below {gate:g}")  # fmt: skip
    log(report.format())
    diff = verify_onnx(args.out, net, test.pixels, temperature, gate)
    total_s = time.monotonic() - started
    log(
        f"exported {args.out} ({args.out.stat().st_size} bytes); onnxruntime matches torch within "
        f"{diff:.1e}; total {total_s:.0f} s"
    )
    record = _record(
        args,
        model={"parameters": params, "multiply_adds": macs, "input_shape": list(INPUT_SHAPE),
               "onnx_bytes": args.out.stat().st_size,
               "onnx_sha256": hashlib.sha256(args.out.read_bytes()).hexdigest()},
        temperature=temperature,
        min_colour_probability=threshold,
        mirror_gate=gate,
        initialised_from=initialised_from,
        closer_look=closer,
        views_found=views_found,
        test={**report.to_json(), "ece_before_calibration": ece_before,
              "argmax": {k: argmax.to_json()[k] for k in ("accuracy", "invalid_as_colour")}},
        seconds={"data": round(data_s), "training": round(train_s), "total": round(total_s),
                 "cpu": round(cpu_seconds())},
    )  # fmt: skip
    args.record.write_text(json.dumps(record, indent=1) + "\n")
    return report


def parse_model_args(prog: str, description: str, argv: list[str] | None) -> argparse.Namespace:
    """The arguments of a tool that works on a trained model: --model, --record, --workers."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--model", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="the training record")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    return parser.parse_args(argv)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write model.onnx")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="run record (JSON)")
    parser.add_argument("--train-samples", type=int, default=16000)
    parser.add_argument(
        "--calib-samples", type=int, default=2000, help="for the temperature and the threshold"
    )
    parser.add_argument(
        "--views",
        type=int,
        default=0,
        help="also train on the closer look's views of this many more training pages",
    )
    parser.add_argument("--test-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="fixes the data and the training")
    parser.add_argument(
        "--train-seed",
        type=int,
        help="the training pages' seed alone (default --seed): a fine-tune from --init learns from "
        "new pages and is calibrated and tested on the splits of its parent's --seed",
    )
    parser.add_argument(
        "--init",
        type=Path,
        help="start from this exported graph's weights (its first look) instead of at random",
    )
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not read or write rendered data under training/data/",
    )
    args = parser.parse_args(argv)
    if args.train_samples < args.batch_size or min(args.test_samples, args.calib_samples) < 8:
        parser.error("need --train-samples >= --batch-size, --test/--calib-samples >= 8")
    return args


if __name__ == "__main__":
    run(parse_args(), log=functools.partial(print, flush=True))  # progress shows when piped too
