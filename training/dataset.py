"""Data sets: render -> encode -> image_to_tensor, seeded, cached as .npy under training/data/.

Splits never share a seed: each starts at its own offset. `train` and `calib` never draw the
held-out layouts; `test` draws every layout; `holdout/<layout>` only that held-out layout;
`family/<name>` are the per-factor evaluation sets of training.families.
"""

from __future__ import annotations

import ast
import hashlib
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from training.families import FAMILIES, HOLDOUT_LAYOUTS, family_factors
from training.fonts import cjk_font_file, font_files
from training.layouts import LAYOUTS
from training.preprocessing import IMAGING_PATH, INPUT_SHAPE, image_to_tensor
from training.render import LABELS, render_sample
from training.spec import LAYOUT_KINDS, RenderSpec

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED_OFFSETS = {"train": 0, "test": 1_000_000_000, "calib": 2_000_000_000}
HOLDOUT_SEED_OFFSET = 3_000_000_000  # + 10^8 per held-out layout, in HOLDOUT_LAYOUTS order
FAMILY_SEED_OFFSET = 4_000_000_000  # + 10^8 per family, in FAMILIES order
CHUNK = 2000  # images per cache file
TRAIN_LAYOUTS = tuple(name for name in LAYOUTS if name not in HOLDOUT_LAYOUTS)
# Where a held-out layout's invalid images put a black code, a badge or a placeholder.
_HOLDOUT_INVALID = {"screen": 0.6, "badge": 0.2, "placeholder": 0.2}
# A cache entry is only valid for the code that rendered and preprocessed it: every module here
# but those that train, evaluate and export.
# The time reader's fine-tunes (ocr_*, onnx_torch, teacher_pages) draw pages of their own.
_NOT_RENDERING = ("__init__.py", "closer_look.py", "evaluate.py", "export.py", "metrics.py",
                  "mirror.py", "model.py", "pilot.py", "train.py", "ocr_detector.py",
                  "ocr_recognizer.py", "onnx_torch.py", "teacher_pages.py")  # fmt: skip
_SOURCES = tuple(
    sorted(p.name for p in Path(__file__).parent.glob("*.py") if p.name not in _NOT_RENDERING)
)
Task = tuple[int, str]  # (render seed, split)
R = TypeVar("R")


@dataclass
class Dataset:
    """Model inputs, labels (indices into LABELS) and each image's kind and layout, for reports."""

    pixels: np.ndarray  # uint8 (N, *INPUT_SHAPE)
    labels: np.ndarray  # int64 (N,)
    kinds: np.ndarray  # str (N,), e.g. "screen/hero" or "document"


def split_seeds(split: str, count: int, seed: int) -> list[int]:
    """Return the render seeds of a split; no two splits share a seed."""
    if split in SEED_OFFSETS:
        start = seed + SEED_OFFSETS[split]
    elif split.startswith("holdout/") and split[8:] in HOLDOUT_LAYOUTS:
        start = seed + HOLDOUT_SEED_OFFSET + HOLDOUT_LAYOUTS.index(split[8:]) * 100_000_000
    elif split.startswith("family/") and split[7:] in FAMILIES:
        start = seed + FAMILY_SEED_OFFSET + list(FAMILIES).index(split[7:]) * 100_000_000
    else:
        raise ValueError(f"unknown split {split!r}")
    return list(range(start, start + count))


def render_task(task: Task) -> tuple[RenderSpec, bytes]:
    """Render the image of one task as its split draws it."""
    seed, split = task
    label = LABELS[seed % len(LABELS)]  # consecutive seeds cycle through the classes: balanced
    layouts, factors = tuple(LAYOUTS), {}
    if split in ("train", "calib"):
        layouts = TRAIN_LAYOUTS
    elif split.startswith("holdout/"):
        layouts = (split[8:],)
        if label == "invalid":  # a black code, a badge or a placeholder in the held-out layout
            rng = random.Random(f"{split}/{seed}")
            factors = {"kind": rng.choices(*zip(*_HOLDOUT_INVALID.items(), strict=True))[0]}
    elif split.startswith("family/"):
        factors = family_factors(split[7:], label, seed)
    return render_sample(label, seed, layouts, **factors)


def _sample(task: Task) -> tuple[np.ndarray, int, str]:
    spec, data = render_task(task)
    kind = f"{spec.kind}/{spec.layout}" if spec.kind in LAYOUT_KINDS else spec.kind
    return image_to_tensor(data), LABELS.index(spec.label), kind


class _WithoutDocstrings(ast.NodeTransformer):
    def visit_Expr(self, node: ast.Expr) -> ast.Expr | None:
        is_text = isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        return None if is_text else node


def code_of(source: str) -> bytes:
    """What a module does: its syntax tree without docstrings, comments or layout, so that
    rewording the renderer's documentation keeps the rendered pages cached."""
    return ast.dump(_WithoutDocstrings().visit(ast.parse(source))).encode()


def render_fingerprint(preprocessing: bool = True) -> str:
    """A hash of the code (and fonts) that rendered, and if asked preprocessed, a cached split."""
    digest = hashlib.sha256()
    paths = [Path(__file__).parent / name for name in _SOURCES]
    for path in [*paths, IMAGING_PATH] if preprocessing else paths:
        digest.update(code_of(path.read_text(encoding="utf-8")))
    digest.update(repr((font_files(), cjk_font_file())).encode())  # text depends on the fonts
    return digest.hexdigest()[:12]


def in_processes(work: Callable[[Task], R], tasks: list[Task], workers: int) -> Iterator[R]:
    """`work` on each task, in task order (reproducible), in up to `workers` processes."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(work, tasks)
        return
    # spawn, not fork: the parent may already run torch's thread pools.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(work, tasks, chunksize=16)


def generate(seeds: list[int], workers: int = 2, split: str = "train") -> Dataset:
    """Render and preprocess one image per seed as `split` does, with up to `workers` processes."""
    pixels = np.empty((len(seeds), *INPUT_SHAPE), np.uint8)
    labels, kinds = np.empty(len(seeds), np.int64), []
    for i, (x, y, kind) in enumerate(in_processes(_sample, [(s, split) for s in seeds], workers)):
        pixels[i], labels[i] = x, y
        kinds.append(kind)
    return Dataset(pixels, labels, np.array(kinds))


def _cached(path: Path) -> Dataset:
    meta = np.load(path.with_suffix(".npz"))
    return Dataset(np.load(path.with_suffix(".npy"), mmap_mode="r"), meta["labels"], meta["kinds"])


def _save(path: Path, data: Dataset) -> None:
    np.save(path.with_suffix(".npy"), data.pixels)
    np.savez(path.with_suffix(".npz"), labels=data.labels, kinds=data.kinds)


def load(split: str, count: int, seed: int, workers: int = 2, cache: bool = True) -> Dataset:
    """Return a split, from the cache under training/data/ when this code already rendered it.

    The cache holds CHUNK images a file, so a longer split renders only the images it adds.
    """
    seeds = split_seeds(split, count, seed)
    if not cache:
        return generate(seeds, workers, split)
    name, fingerprint = (
        split.replace("/", "-").replace(" ", "_").replace(",", ""),
        render_fingerprint(),
    )
    path = DATA_DIR / f"{name}-{count}-{seed}-{fingerprint}"
    if path.with_suffix(".npz").exists():
        return _cached(path)
    DATA_DIR.mkdir(parents=True, exist_ok=True)  # a fresh clone has no cache folder yet
    pixels = np.lib.format.open_memmap(path.with_suffix(".tmp.npy"), "w+", np.uint8,
                                       (count, *INPUT_SHAPE))  # fmt: skip
    labels, kinds, started = np.empty(count, np.int64), [], time.monotonic()
    for start in range(0, count, CHUNK):
        part = seeds[start : start + CHUNK]
        chunk = DATA_DIR / f"{name}-{seed}-{start}+{len(part)}-{fingerprint}"
        if chunk.with_suffix(".npz").exists():
            data = _cached(chunk)
        else:
            data = generate(part, workers, split)
            _save(chunk, data)
        print(f"{split}: {start + len(part)}/{count} images rendered or read from the cache, "
              f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
        pixels[start : start + len(part)] = data.pixels
        labels[start : start + len(part)] = data.labels
        kinds += list(data.kinds)
    pixels.flush()
    del pixels
    os.replace(path.with_suffix(".tmp.npy"), path.with_suffix(".npy"))
    np.savez(path.with_suffix(".npz"), labels=labels, kinds=np.array(kinds))
    return _cached(path)
