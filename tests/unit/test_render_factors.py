"""Each capture factor of the renderer can be switched on alone, is seeded, gives valid bytes."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from training import fonts
from training.dataset import SEED_OFFSETS, TRAIN_LAYOUTS, split_seeds
from training.families import CLEAN as FAMILY_CLEAN
from training.families import FAMILIES, HOLDOUT_LAYOUTS, family_factors
from training.layouts import LAYOUTS
from training.preprocessing import INPUT_SHAPE, image_to_tensor
from training.render import LABELS, render, render_sample, sample_spec

# A clean screenshot (training.families.CLEAN) on a small phone, so renders stay cheap.
CLEAN = {**FAMILY_CLEAN, "width": 720, "height": 1280}
FACTORS = {
    "photo": True,
    "rotation": 12.0,
    "blur": 0.6,
    "glare": 0.5,
    "moire": 0.12,
    "noise": 8.0,
    "chat": True,
    "crop": True,
    "dark": True,
    "quality": 30,
    "fmt": "png",
}


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize(("factor", "value"), FACTORS.items())
def test_each_factor_alone_changes_the_image_and_is_reproducible(factor, value):
    pinned = {**CLEAN, factor: value}
    spec, data = render_sample("green", 3, **pinned)
    assert getattr(spec, factor) == value
    assert data == render("green", seed=3, **pinned)  # the same seed: the same bytes
    assert data != render("green", seed=3, **CLEAN)
    assert decoded(data).format == ("PNG" if pinned["fmt"] == "png" else "JPEG")
    assert image_to_tensor(data).shape == INPUT_SHAPE


def test_a_rotated_screenshot_grows_to_hold_its_corners_and_a_photo_has_its_own_size():
    assert decoded(render("red", seed=1, **{**CLEAN, "rotation": 10.0})).size > (720, 1280)
    assert decoded(render("red", seed=1, **{**CLEAN, "photo": True})).size != (720, 1280)


def test_a_chat_app_shrinks_big_screenshots():
    big = {**CLEAN, "width": 1440, "height": 3200, "chat": True}
    assert max(decoded(render("yellow", seed=2, **big)).size) <= 1600


def test_a_photo_carries_a_map_of_its_screen_to_where_the_screen_lands():
    from training.photo import photograph

    screen = Image.new("RGB", (400, 800), (255, 255, 255))
    screen.paste((0, 0, 0), (100, 300, 300, 340))  # one dark line of "text"
    marked = Image.new("L", screen.size)
    marked.paste(255, (100, 300, 300, 340))
    alone = photograph(screen, random.Random(5), 15.0)
    photo, carried = photograph(screen, random.Random(5), 15.0, companion=marked)
    assert photo.tobytes() == alone.tobytes()  # the map takes nothing from the photo's draws
    assert carried.size == photo.size
    on_line = np.asarray(carried) > 128
    grey = np.asarray(photo.convert("L"), np.float32)
    # Where the map says "line", the photo shows the dark line; around it, the white screen.
    assert 500 < on_line.sum() < 0.05 * on_line.size
    near = np.zeros_like(on_line)
    ys, xs = np.nonzero(on_line)
    near[max(0, ys.min() - 40) : ys.max() + 40, max(0, xs.min() - 40) : xs.max() + 40] = True
    assert grey[on_line].mean() < 0.5 * grey[near & ~on_line].mean()


@pytest.mark.parametrize("label", LABELS)
def test_every_family_renders_every_class(label):
    for i, family in enumerate(FAMILIES):
        factors = family_factors(family, label, i)
        assert factors == family_factors(family, label, i)
        data = render(label, seed=i, **factors)
        assert image_to_tensor(data).shape == INPUT_SHAPE


def test_the_renderer_works_without_a_cjk_font(monkeypatch):
    monkeypatch.setattr(fonts, "cjk_font_file", lambda: None)
    monkeypatch.setattr(fonts, "cjk_font", lambda size: None)
    assert fonts.random_text(random.Random(0), 3, cjk=True).isascii()
    for seed in range(4):
        assert image_to_tensor(render("green", seed=seed)).shape == INPUT_SHAPE


def test_the_held_out_layouts_are_never_drawn_for_training():
    assert len(HOLDOUT_LAYOUTS) >= 2
    assert set(HOLDOUT_LAYOUTS) <= set(LAYOUTS) and not set(HOLDOUT_LAYOUTS) & set(TRAIN_LAYOUTS)
    layouts = {sample_spec("red", random.Random(s), TRAIN_LAYOUTS).layout for s in range(300)}
    assert layouts == set(TRAIN_LAYOUTS)


def test_no_two_splits_share_a_seed():
    splits = [*SEED_OFFSETS, *(f"holdout/{h}" for h in HOLDOUT_LAYOUTS)]
    splits += [f"family/{f}" for f in FAMILIES]
    seen: set[int] = set()
    for split in splits:
        seeds = set(split_seeds(split, 50_000, 0))
        assert not seeds & seen, split
        seen |= seeds
