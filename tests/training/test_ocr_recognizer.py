"""The time reader's text recogniser fine-tune: conversion, carried lines, a few steps, and the
change of weights that `make install` builds version 2 from."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from gateway import ocr_models
from gateway.repository import versions
from training import ocr_recognizer
from training.onnx_torch import load_onnx
from training.preprocessing import imaging, page_reading

RECOGNISER = Path(__file__).resolve().parents[2] / "model_repository" / "ocr_text_recognizer"
SHIPPED = RECOGNISER / "1" / "model.onnx"  # the wheel's, written by `make install`
DETECTOR = SHIPPED.parents[2] / "ocr_text_detector" / "1" / "model.onnx"


def run(model: Path | bytes, x: np.ndarray) -> np.ndarray:
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.fixture(scope="module")
def page() -> tuple[bytes, list]:
    ocr_recognizer._init(str(DETECTOR), str(SHIPPED))
    seed = ocr_recognizer.FIRST_SEED
    while (drawn := ocr_recognizer.sample(seed)) is None:
        seed += 1
    return drawn


def test_the_converted_recogniser_gives_the_onnx_models_probabilities():
    net = load_onnx(SHIPPED).eval()  # its 2 x 2 SAME_UPPER convolutions padded
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 48, 200)).astype(np.float32)
    with torch.no_grad():
        converted = net(torch.from_numpy(x)).numpy()
    assert converted.shape == (2, 25, 18710)
    assert np.abs(converted - run(SHIPPED, x)).max() < 1e-4


def test_a_lines_band_is_found_again_after_the_photos_geometry():
    corners = np.array([[100, 200], [400, 200], [400, 240], [100, 240]], np.float32)
    marks = ocr_recognizer._index_map(Image.new("RGB", (600, 500)), [(corners, "09:31:07")])
    turned = np.asarray(marks.rotate(10, Image.Resampling.BILINEAR, center=(250, 220)))
    [(((cx, cy), width, height, (ux, uy)), text)] = ocr_recognizer._carried(
        turned, [(corners, "09:31:07")]
    )
    assert text == "09:31:07"
    assert abs(cx - 250) < 2 and abs(cy - 220) < 2  # the centre of the turn stays
    assert abs(width - 300) < 6 and abs(height - 40) < 4
    assert abs(np.degrees(np.arctan2(uy, ux)) + 10) < 1  # PIL turns counter-clockwise
    cut = np.asarray(marks).copy()
    cut[:, 250:] = 0  # the photo's frame cut the line in half
    assert ocr_recognizer._carried(cut, [(corners, "09:31:07")]) == []


def test_a_page_comes_with_lines_read_on_its_clean_screen(page):
    data, lines = page
    image = page_reading().decode_upright(data, imaging)
    alphabet = set(
        ocr_recognizer._modules()[1].CtcDecoder.from_file(str(SHIPPED.parent / "keys.txt")).classes
    )
    assert lines and all(text.strip() and set(text) <= alphabet for _, text in lines)
    crops = [ocr_recognizer.jittered_crop(image, line, random.Random(0)) for line, _ in lines]
    assert all(c.height == 48 and 48 <= c.width <= 864 for c in crops)


def test_a_few_steps_learn_and_install_builds_the_same_model_from_their_change(page, tmp_path):
    net = ocr_recognizer.train([page], SHIPPED, steps=2, batch=2, lr=1e-4)
    change = ocr_recognizer.weight_change(net, SHIPPED)
    assert len(change) == len(list(net.parameters())) and all(
        d.dtype == np.float16 for d in change.values()
    )
    assert any(np.abs(d).max() > 0 for d in change.values())
    np.savez(tmp_path / "change.npz", **change)
    built = ocr_models.with_change(SHIPPED.read_bytes(), tmp_path / "change.npz")
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 48, 160)).astype(np.float32)
    with torch.no_grad():
        trained = net(torch.from_numpy(x)).numpy()
    assert np.abs(run(built, x) - trained).max() < 1e-3  # float16 changes
    assert np.abs(run(SHIPPED, x) - trained).max() > np.abs(run(built, x) - trained).max()


def test_the_served_recogniser_is_the_fine_tuned_one_with_the_shipped_contract():
    newest = RECOGNISER / str(versions(RECOGNISER)[-1])
    assert newest.name == ocr_models.FINE_TUNED["ocr_text_recognizer"].version
    assert (newest / "keys.txt").read_bytes() == (SHIPPED.parent / "keys.txt").read_bytes()
    shipped, tuned = (ort.InferenceSession(str(p)) for p in (SHIPPED, newest / "model.onnx"))
    for ends in ("get_inputs", "get_outputs"):
        shapes = [[(i.name, len(i.shape)) for i in getattr(s, ends)()] for s in (shipped, tuned)]
        assert shapes[0] == shapes[1]
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 48, 96)).astype(np.float32)
    assert not np.allclose(run(SHIPPED, x), run(newest / "model.onnx", x), atol=1e-4)
