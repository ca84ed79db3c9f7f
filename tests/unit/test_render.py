"""The screenshot renderer: decodable, reproducible, and the QR colour carries the label."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from training.preprocessing import INPUT_SIZE, image_to_tensor
from training.render import FORMATS, LABELS, STATUS_SHADES, render, render_sample, sample_spec


def within_shades(colour: tuple[int, int, int], label: str, slack: int = 0) -> bool:
    lo, hi = STATUS_SHADES[label]
    return all(
        min(a, b) - slack <= c <= max(a, b) + slack for c, a, b in zip(colour, lo, hi, strict=True)
    )


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", LABELS)
def test_every_class_renders_decodable_bytes_in_both_formats(label, fmt):
    for seed in range(3):
        data = render(label, seed=seed, fmt=fmt)
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == fmt.upper()
        assert image_to_tensor(data).shape == (3, INPUT_SIZE, INPUT_SIZE)


def test_the_same_seed_and_factors_give_the_same_bytes():
    assert render("red", seed=11) == render("red", seed=11)
    assert render("red", seed=11, fmt="png", dark=True) == render(
        "red", seed=11, fmt="png", dark=True
    )
    assert render("red", seed=11) != render("red", seed=12)


@pytest.mark.parametrize("label", list(STATUS_SHADES))
def test_the_qr_code_is_drawn_in_a_shade_of_its_status(label):
    for seed in range(4):
        spec, data = render_sample(label, seed, fmt="png", crop=False)
        assert spec.kind == "screen"
        assert within_shades(spec.ink, label)
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=int).reshape(-1, 3)
        assert (np.abs(pixels - spec.ink).max(axis=1) == 0).mean() > 0.01  # the dark modules


def test_invalid_qr_codes_are_far_from_every_status_colour():
    for seed in range(40):
        spec = sample_spec("invalid", random.Random(seed), kind="screen")
        assert not any(within_shades(spec.ink, label, slack=40) for label in STATUS_SHADES)


def test_status_colours_differ_between_classes():
    inks = {label: sample_spec(label, random.Random(3)).ink for label in STATUS_SHADES}
    for label, ink in inks.items():
        assert [other for other in STATUS_SHADES if within_shades(ink, other)] == [label]


def test_invalid_covers_app_screens_documents_scenes_and_blank_images():
    kinds = {sample_spec("invalid", random.Random(seed)).kind for seed in range(200)}
    assert kinds == {"screen", "badge", "document", "scene", "blank", "tiny"}


def test_wrong_labels_and_factors_are_refused():
    with pytest.raises(ValueError, match="unknown label"):
        render("blue", seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        render("green", seed=0, kind="document")
    with pytest.raises(TypeError):
        render("green", seed=0, colour="pink")
