"""The screenshot renderer: decodable, reproducible, and the QR colour carries the label."""

from __future__ import annotations

import io
import random
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from training import families
from training import spec as spec_module
from training.colours import STATUS_SHADES, shade_label
from training.layouts import LAYOUTS
from training.preprocessing import INPUT_SHAPE, image_to_tensor
from training.render import FORMATS, INVALID_KINDS, LABELS, render, render_sample, sample_spec
from training.spec import LAYOUT_KINDS, PHONE_SIZES
from training.timestamps import CJK_FORMATS, TIME_FORMATS, format_shown_time

# A clean screenshot (training.families.CLEAN), lossless so pixels can be compared exactly.
CLEAN = {**families.CLEAN, "fmt": "png"}


def share_in_shade(data: bytes, label: str) -> float:
    """The share of pixels whose hue, saturation and value lie in `label`'s shade range."""
    hsv = np.asarray(Image.open(io.BytesIO(data)).convert("HSV"), dtype=float).reshape(-1, 3)
    hue, sat, val = hsv[:, 0] * 360 / 255, hsv[:, 1] / 255, hsv[:, 2] / 255
    (h0, h1), (s0, _), (v0, _) = STATUS_SHADES[label]
    in_hue = ((hue >= h0 - 3) & (hue <= h1 + 3)) | ((hue - 360 >= h0 - 3) & (hue - 360 <= h1))
    return float((in_hue & (sat >= s0 - 0.05) & (val >= v0 - 0.05)).mean())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("label", LABELS)
def test_every_class_renders_decodable_bytes_in_both_formats(label, fmt):
    for seed in range(3):
        data = render(label, seed=seed, fmt=fmt)
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == fmt.upper()
        assert image_to_tensor(data).shape == INPUT_SHAPE


def test_the_same_seed_and_factors_give_the_same_bytes():
    assert render("red", seed=11) == render("red", seed=11)
    assert render("red", seed=11, fmt="png", dark=True) == render(
        "red", seed=11, fmt="png", dark=True
    )
    assert render("red", seed=11) != render("red", seed=12)


@pytest.mark.parametrize("label", list(STATUS_SHADES))
def test_the_qr_code_is_drawn_in_a_shade_of_its_status(label):
    for seed in range(4):
        spec, data = render_sample(label, seed, **CLEAN)
        assert spec.kind == "screen"
        assert shade_label(spec.ink) == label
        assert share_in_shade(data, label) > 0.005  # the dark modules (a small code: ~1%)


def test_invalid_qr_codes_are_far_from_every_status_colour():
    for seed in range(60):
        spec = sample_spec("invalid", random.Random(seed), kind="screen")
        assert shade_label(spec.ink, slack=15) is None, spec.ink


def test_status_colours_differ_between_classes():
    for seed in range(60):
        for label in STATUS_SHADES:
            ink = sample_spec(label, random.Random(seed)).ink
            assert shade_label(ink) == label, (label, ink)


def test_invalid_covers_every_kind_of_negative():
    kinds = {sample_spec("invalid", random.Random(seed)).kind for seed in range(300)}
    assert kinds == set(INVALID_KINDS)


def test_feed_pages_are_phone_screens_with_status_coloured_pictures():
    """App home pages with no code are hard negatives because of their status-coloured pictures."""
    coloured = set()
    for seed in range(12):
        spec, data = render_sample("invalid", seed, kind="feed", **CLEAN)
        assert (spec.width, spec.height) in PHONE_SIZES
        coloured |= {label for label in STATUS_SHADES if share_in_shade(data, label) > 0.002}
    assert coloured == set(STATUS_SHADES)


def test_wrong_labels_and_factors_are_refused():
    with pytest.raises(ValueError, match="unknown label"):
        render("blue", seed=0)
    with pytest.raises(ValueError, match="does not fit"):
        render("green", seed=0, kind="document")
    with pytest.raises(ValueError, match="quality"):
        render("green", seed=0, quality=0)
    with pytest.raises(TypeError):
        render("green", seed=0, colour="pink")


def test_the_spec_says_which_time_is_shown_by_the_code_and_in_which_format():
    moment = datetime(2022, 4, 12, 9, 31, 7)
    pinned = {**CLEAN, "shown_time": moment, "time_format": "slash_minutes"}
    spec, data = render_sample("green", 5, time_position="above", **pinned)
    assert (spec.shown_time, spec.time_format, spec.time_position) == (
        moment,
        "slash_minutes",
        "above",
    )
    assert format_shown_time(spec.shown_time, spec.time_format) == ("2022/04/12 09:31",)
    assert data != render("green", seed=5, time_position="above", **{**pinned, "shown_time": None})


def test_every_time_format_draws_its_lines():
    moment = datetime(2022, 4, 12, 9, 31, 7)
    assert format_shown_time(moment, "iso") == ("2022-04-12 09:31:07",)
    assert format_shown_time(moment, "cn_two_lines") == ("04月12日", "09:31:07")
    assert format_shown_time(moment, "updated") == ("更新于\uff1a2022.04.12 09:31:07",)
    assert format_shown_time(moment, "time_only") == ("09:31:07",)
    for name in TIME_FORMATS:  # each draws on a screen, and the spec records it
        spec, data = render_sample("red", 0, **{**CLEAN, "time_format": name, "shown_time": moment})
        assert (spec.time_format, spec.shown_time) == (name, moment)
        assert image_to_tensor(data).shape == INPUT_SHAPE


def test_screens_mostly_show_a_time_and_a_status_bar_clock_and_documents_neither():
    specs = [sample_spec(label, random.Random(s)) for s in range(200) for label in LABELS[:3]]
    assert 0.75 < sum(s.shown_time is not None for s in specs) / len(specs) < 0.95
    assert sum(s.status_clock is not None for s in specs) / len(specs) > 0.85
    assert {s.time_format for s in specs} == set(TIME_FORMATS)
    doc = sample_spec("invalid", random.Random(1), kind="document")
    assert doc.shown_time is None and doc.status_clock is None
    with pytest.raises(ValueError, match="shows no time"):
        render("invalid", seed=0, kind="scene", shown_time=datetime(2022, 1, 1))


def test_without_a_cjk_font_only_latin_time_formats_are_drawn(monkeypatch):
    monkeypatch.setattr(spec_module, "cjk_font_file", lambda: None)
    names = {sample_spec("green", random.Random(s)).time_format for s in range(200)}
    assert names == set(TIME_FORMATS) - set(CJK_FORMATS)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_draws_a_code_a_badge_and_a_placeholder_at_any_phone_size(layout):
    for i, kind in enumerate(LAYOUT_KINDS):
        width, height = PHONE_SIZES[(i * 5 + len(layout)) % len(PHONE_SIZES)]
        label = "green" if kind == "screen" else "invalid"
        factors = {**CLEAN, "width": width, "height": height, "kind": kind, "layout": layout}
        spec, data = render_sample(label, i, **factors)
        assert (spec.kind, spec.layout) == (kind, layout)
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (width, height)
        assert image_to_tensor(data).shape == INPUT_SHAPE


@pytest.mark.parametrize("kind", ["payment", "venue", "trip", "status", "chart"])
def test_the_app_pages_that_are_not_health_codes_render_in_light_and_dark(kind):
    for dark in (False, True):
        spec, data = render_sample("invalid", 3, **{**CLEAN, "kind": kind, "dark": dark})
        assert spec.kind == kind and image_to_tensor(data).shape == INPUT_SHAPE


def test_charts_of_status_colours_hold_no_qr_code():
    """A chart page's cells (calendars, streak grids) are negatives only because no finder
    square is among them: a QR reader must find nothing on the screen."""
    import zxingcpp

    for seed in range(12):
        _, data = render_sample("invalid", seed, **{**CLEAN, "kind": "chart"})
        with Image.open(io.BytesIO(data)) as img:
            grey = np.asarray(img.convert("L"))
        qr = zxingcpp.BarcodeFormat.QRCode
        assert zxingcpp.read_barcodes(grey, formats=qr, return_errors=True) == []
