"""Data sets: render -> encode -> image_to_tensor, seeded, cached as .npy under training/data/."""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.preprocessing import INPUT_SIZE, image_to_tensor
from training.render import LABELS, render_sample

DATA_DIR = Path(__file__).resolve().parent / "data"
# Test images take their seeds from here on, so no test image is ever a training image.
TEST_SEED_OFFSET = 1_000_000_000
# A cache entry is only valid for the code that rendered and preprocessed it.
_SOURCES = ("render.py", "screens.py", "layouts.py", "scenes.py", "dataset.py")
_IMAGING = (
    Path(__file__).resolve().parents[1] / "model_repository/health_code_preprocess/1/imaging.py"
)


@dataclass
class Dataset:
    """Model inputs, labels (indices into LABELS) and each image's kind and layout, for reports."""

    pixels: np.ndarray  # uint8 (N, 3, INPUT_SIZE, INPUT_SIZE)
    labels: np.ndarray  # int64 (N,)
    kinds: np.ndarray  # str (N,), e.g. "screen/hero" or "document"


def split_seeds(split: str, count: int, seed: int) -> list[int]:
    """Return the render seeds of a split; train and test seeds never overlap."""
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}")
    start = seed + (TEST_SEED_OFFSET if split == "test" else 0)
    return list(range(start, start + count))


def _sample(seed: int) -> tuple[np.ndarray, int, str]:
    label = LABELS[seed % len(LABELS)]  # consecutive seeds cycle through the classes: balanced
    spec, data = render_sample(label, seed)
    kind = f"{spec.kind}/{spec.layout}" if spec.kind in ("screen", "badge") else spec.kind
    return image_to_tensor(data), LABELS.index(label), kind


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (*(Path(__file__).parent / name for name in _SOURCES), _IMAGING):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _samples(seeds: list[int], workers: int) -> Iterator[tuple[np.ndarray, int, str]]:
    if workers <= 1:
        yield from map(_sample, seeds)
        return
    # spawn, not fork: the parent may already run torch's thread pools.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_sample, seeds, chunksize=32)  # in order: reproducible


def generate(seeds: list[int], workers: int = 2) -> Dataset:
    """Render and preprocess one image per seed, with up to `workers` processes."""
    pixels = np.empty((len(seeds), 3, INPUT_SIZE, INPUT_SIZE), np.uint8)
    labels, kinds = np.empty(len(seeds), np.int64), []
    for i, (x, y, kind) in enumerate(_samples(seeds, workers)):
        pixels[i], labels[i] = x, y
        kinds.append(kind)
    return Dataset(pixels, labels, np.array(kinds))


def load(split: str, count: int, seed: int, workers: int = 2, cache: bool = True) -> Dataset:
    """Return a split, from the cache under training/data/ when this code already rendered it."""
    path = DATA_DIR / f"{split}-{count}-{seed}-{_fingerprint()}"
    if cache and path.with_suffix(".npz").exists():
        meta = np.load(path.with_suffix(".npz"))
        return Dataset(
            np.load(path.with_suffix(".npy"), mmap_mode="r"), meta["labels"], meta["kinds"]
        )
    data = generate(split_seeds(split, count, seed), workers)
    if cache:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path.with_suffix(".npy"), data.pixels)
        np.savez(path.with_suffix(".npz"), labels=data.labels, kinds=data.kinds)
    return data
