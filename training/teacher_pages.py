"""What the OCR fine-tunes (training/ocr_detector.py, ocr_recognizer.py) share: training pages
drawn by a pool of teachers and kept in .cache/, their training knobs and the learning-rate
schedule."""

from __future__ import annotations

import argparse
import math
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def draw_pages(
    cache: Path,
    first_seed: int,
    n: int,
    sample: Callable[[int], object | None],
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple,
) -> list:
    """n pages, `sample(seed)` for seeds from first_seed on (None: no page from that seed), drawn
    by `workers` processes each set up by initializer(*initargs); drawn once and kept in `cache`
    (they take minutes)."""
    path = cache / f"pages-{first_seed}-{n}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    pages: list = []
    started = time.monotonic()
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        index = first_seed
        while len(pages) < n:
            batch = range(index, index + 4 * workers)
            index += len(batch)
            pages += [p for p in pool.map(sample, batch) if p is not None]
            print(f"\rpages {len(pages)}/{n}  {time.monotonic() - started:.0f} s", end="")
    print()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(pages[:n]))
    return pages[:n]


def set_learning_rate(optimiser, lr: float, step: int, steps: int) -> None:
    """Linear warm-up over 50 steps, then cosine decay to 0 at `steps`."""
    for group in optimiser.param_groups:
        group["lr"] = lr * min(1.0, step / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))


def add_training_arguments(
    parser: argparse.ArgumentParser, *, pages: int, steps: int, batch: int, lr: float
) -> None:
    """--pages, --steps, --batch, --lr and --workers, with each fine-tune's defaults."""
    parser.add_argument("--pages", type=int, default=pages)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--workers", type=int, default=2)
