"""Render the data, train the classifier on the CPU, evaluate it and export it to ONNX.

.venv/bin/python -m training.train --out model_repository/health_code_classifier/1/model.onnx
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.dataset import Dataset, load
from training.evaluate import Report, evaluate
from training.export import export_onnx, verify_onnx
from training.model import HealthCodeNet, count_macs
from training.preprocessing import INPUT_SIZE

DEFAULT_OUT = Path("model_repository/health_code_classifier/1/model.onnx")


def fit(
    net: HealthCodeNet,
    data: Dataset,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    log: Callable[[str], None] = print,
) -> None:
    """Train `net` with AdamW and a one-cycle schedule; the seed fixes the batch order."""
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = max(1, len(data.labels) // batch_size)  # drop the ragged end: BN needs > 1
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, lr, total_steps=epochs * steps_per_epoch
    )
    net.train()
    for epoch in range(epochs):
        started, total_loss, correct = time.monotonic(), 0.0, 0
        order = torch.randperm(len(data.labels), generator=generator).numpy()
        for step in range(steps_per_epoch):
            batch = order[step * batch_size : (step + 1) * batch_size]
            idx = np.sort(batch)  # ascending reads are kinder to the memory-mapped cache
            pixels, labels = torch.from_numpy(data.pixels[idx]), torch.from_numpy(data.labels[idx])
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
def predict(net: HealthCodeNet, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Return softmax scores (N, 4) for uint8 pixels (N, 3, H, W)."""
    net.eval()
    chunks = [
        torch.softmax(net(torch.from_numpy(np.array(pixels[i : i + batch_size]))), dim=1)
        for i in range(0, len(pixels), batch_size)
    ]
    return torch.cat(chunks).numpy()


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> Report:
    """Generate data, train, evaluate on the test split, export and verify; return the report."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    started = time.monotonic()
    train = load("train", args.train_samples, args.seed, args.workers, cache=args.cache)
    test = load("test", args.test_samples, args.seed, args.workers, cache=args.cache)
    log(
        f"data: {len(train.labels)} train, {len(test.labels)} test images, "
        f"{time.monotonic() - started:.0f} s"
    )
    net = HealthCodeNet()
    params = sum(p.numel() for p in net.parameters())
    macs = count_macs(net, INPUT_SIZE)
    log(f"model: {params} parameters, {macs / 1e6:.1f} M multiply-adds per image")
    fit(net, train, args.epochs, args.batch_size, args.lr, args.seed, log)
    report = evaluate(predict(net, test.pixels), test.labels, test.kinds)
    log(report.format())
    export_onnx(net, args.out)
    diff = verify_onnx(args.out, net, test.pixels)
    log(
        f"exported {args.out} ({args.out.stat().st_size} bytes); onnxruntime matches torch within "
        f"{diff:.1e}; total {time.monotonic() - started:.0f} s"
    )
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write model.onnx")
    parser.add_argument("--train-samples", type=int, default=8000)
    parser.add_argument("--test-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0, help="fixes the data and the training")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not read or write rendered data under training/data/",
    )
    args = parser.parse_args(argv)
    if args.train_samples < args.batch_size or args.test_samples < 8:
        parser.error("need --train-samples >= --batch-size and --test-samples >= 8")
    return args


if __name__ == "__main__":
    run(parse_args(), log=functools.partial(print, flush=True))  # progress shows when piped too
