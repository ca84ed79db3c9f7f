"""The time reader's text detector fine-tune: conversion, teacher maps, a few steps, the export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from gateway.repository import versions
from training import ocr_detector
from training.onnx_torch import load_onnx

DETECTOR = Path(__file__).resolve().parents[2] / "model_repository" / "ocr_text_detector"
SHIPPED = DETECTOR / "1" / "model.onnx"  # the wheel's, written by `make install`


def run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[
        0
    ]


@pytest.fixture(scope="module")
def page() -> tuple[bytes, bytes]:
    ocr_detector._init(str(SHIPPED))
    seed = ocr_detector.FIRST_SEED
    while (drawn := ocr_detector.sample(seed)) is None:
        seed += 1
    return drawn


def test_the_converted_detector_gives_the_onnx_models_map_and_exports_back(tmp_path):
    net = load_onnx(SHIPPED).eval()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 96, 160)).astype(np.float32)
    with torch.no_grad():
        mapped = net(torch.from_numpy(x)).numpy()
    assert np.abs(mapped - run(SHIPPED, x)).max() < 1e-5
    ocr_detector.export(net, tmp_path / "model.onnx")
    other = np.random.default_rng(1).uniform(-1, 1, (2, 3, 64, 224)).astype(np.float32)
    assert np.abs(run(tmp_path / "model.onnx", other) - run(SHIPPED, other)).max() < 1e-5


def test_a_page_comes_with_the_teachers_map_of_its_screen(page):
    image = Image.open(io.BytesIO(page[0]))
    target = np.asarray(Image.open(io.BytesIO(page[1])))
    assert target.shape == (image.height, image.width)
    assert 0.001 < (target > 128).mean() < 0.3  # lines of text, not nothing, not everything


def test_a_few_steps_learn_and_the_windows_match_their_maps(page):
    import random

    windows = ocr_detector.windows(page, random.Random(0), 2)
    assert all(x.shape == (3, 320, 320) and y.shape == (320, 320) for x, y in windows)
    before = load_onnx(SHIPPED).state_dict()
    after = ocr_detector.train([page], SHIPPED, steps=2, batch=2, lr=1e-4).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_the_served_detector_is_the_fine_tuned_one_with_the_shipped_contract():
    newest = DETECTOR / str(versions(DETECTOR)[-1]) / "model.onnx"
    assert newest != SHIPPED  # committed: the wheel's stays version 1, its source
    shipped, tuned = (ort.InferenceSession(str(p)) for p in (SHIPPED, newest))
    for ends in ("get_inputs", "get_outputs"):
        shapes = [[(i.name, len(i.shape)) for i in getattr(s, ends)()] for s in (shipped, tuned)]
        assert shapes[0] == shapes[1]
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32)
    assert not np.allclose(run(SHIPPED, x), run(newest, x), atol=1e-3)
