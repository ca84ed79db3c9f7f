"""The shared image -> tensor function: formats, letterboxing, and refusals with codes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from tests.support.images import jpeg_with_orientation, png_claiming
from training.preprocessing import (
    INPUT_HEIGHT,
    INPUT_SHAPE,
    INPUT_WIDTH,
    ImageError,
    image_to_tensor,
    imaging,
)

CONFIG = (
    Path(__file__).resolve().parents[2] / "model_repository/health_code_preprocess/config.pbtxt"
)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_phone_screenshot_fills_the_height_of_the_portrait_uint8_chw_tensor(fmt):
    img = Image.new("RGB", (1080, 2340), (0, 170, 80))
    tensor = image_to_tensor(encode(img, fmt))
    assert tensor.shape == INPUT_SHAPE == (3, INPUT_HEIGHT, INPUT_WIDTH)
    assert tensor.dtype == np.uint8
    middle = tensor[:, INPUT_HEIGHT // 2, INPUT_WIDTH // 2].astype(int)
    assert abs(middle - [0, 170, 80]).max() <= 3  # the image sits in the middle
    assert (tensor[:, :, 0] == 127).all() and (tensor[:, :, -1] == 127).all()  # bars beside
    assert (tensor[:, [0, -1], INPUT_WIDTH // 2] != 127).all()  # the full height: none above


@pytest.mark.parametrize(("size", "scale"), [((1440, 3200), 8), ((720, 1600), 4)])
def test_a_20_by_9_screen_fills_the_tensor_from_a_dct_scaled_decode_with_no_resize(size, scale):
    data = encode(Image.effect_noise(size, 80).convert("RGB"), "JPEG", quality=90)
    decoded = simplejpeg.decode_jpeg(data, colorspace="RGB", min_width=size[0] // scale,
                                     min_height=size[1] // scale)  # fmt: skip
    assert decoded.shape[:2] == (INPUT_HEIGHT, 180)
    left = (INPUT_WIDTH - 180) // 2
    tensor = image_to_tensor(data)
    np.testing.assert_array_equal(tensor[:, :, left : left + 180], decoded.transpose(2, 0, 1))
    assert (tensor[:, :, :left] == 127).all() and (tensor[:, :, left + 180 :] == 127).all()


def test_a_landscape_image_is_letterboxed_with_bars_above_and_below():
    tensor = image_to_tensor(encode(Image.new("RGB", (1600, 900), (200, 30, 30)), "PNG"))
    assert tensor.shape == INPUT_SHAPE
    rows = (tensor != 127).any(axis=(0, 2))
    assert rows.sum() == round(900 * INPUT_WIDTH / 1600)  # its rows, centred, the rest grey
    assert rows[INPUT_HEIGHT // 2] and not rows[0] and not rows[-1]


def test_grayscale_palette_and_alpha_images_become_rgb():
    for mode in ("L", "P", "RGBA", "LA"):
        tensor = image_to_tensor(encode(Image.new(mode, (300, 200)), "PNG"))
        assert tensor.shape == INPUT_SHAPE


def test_a_cmyk_jpeg_is_decoded_too():
    tensor = image_to_tensor(encode(Image.new("CMYK", (640, 480), (0, 0, 0, 0)), "JPEG"))
    assert tensor.shape == INPUT_SHAPE


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GIF89a" + b"\0" * 64, "unsupported_image_format"),
        (b"plain text", "not_an_image"),
        (b"", "empty_image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 20, "corrupt_image"),
        (png_claiming(30_000, 30_000), "image_too_large"),
        (png_claiming(640, 480), "corrupt_image"),  # far too little pixel data
    ],
)
def test_unusable_bytes_raise_an_image_error_with_a_code(data, code):
    with pytest.raises(ImageError) as info:
        image_to_tensor(data)
    assert info.value.code == code
    assert f"[{code}]" in str(info.value)


def test_a_truncated_jpeg_is_refused_rather_than_half_decoded():
    data = encode(Image.effect_noise((800, 600), 64).convert("RGB"), "JPEG")
    with pytest.raises(ImageError) as info:
        image_to_tensor(data[: len(data) // 2])
    assert info.value.code == "corrupt_image"


def test_the_preprocess_config_declares_the_tensor_this_function_makes():
    assert f"dims: [ 3, {INPUT_HEIGHT}, {INPUT_WIDTH} ]" in CONFIG.read_text()


def quadrants(width: int = 720, height: int = 1600) -> Image.Image:
    """Four colours, one per corner: every flip and rotation of it looks different."""
    img = Image.new("RGB", (width, height), (220, 30, 30))
    img.paste((30, 200, 60), (width // 2, 0, width, height // 2))
    img.paste((40, 60, 220), (0, height // 2, width // 2, height))
    img.paste((240, 220, 40), (width // 2, height // 2, width, height))
    return img


# What a camera did to the upright picture before storing it, for each EXIF orientation.
STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(STORED_AS))
def test_a_jpeg_is_turned_upright_by_its_exif_orientation(orientation):
    upright = quadrants()
    how = STORED_AS[orientation]
    stored = upright if how is None else upright.transpose(how)
    expected = image_to_tensor(encode(upright, "JPEG", quality=95)).astype(int)
    tagged = jpeg_with_orientation(stored, orientation)
    assert imaging.exif_orientation(tagged) == orientation
    assert np.abs(image_to_tensor(tagged).astype(int) - expected).mean() < 2
    if how is not None:  # without its tag the same pixels are a different picture
        untagged = image_to_tensor(encode(stored, "JPEG", quality=95)).astype(int)
        assert np.abs(untagged - expected).mean() > 20


@pytest.mark.parametrize(
    "data",
    [
        encode(quadrants(64, 48), "JPEG"),  # no EXIF at all: the common screenshot
        b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00garbage",  # an EXIF block nothing can read
        jpeg_with_orientation(quadrants(64, 48), 9),  # a value outside 1..8
    ],
)
def test_without_a_usable_orientation_the_pixels_are_taken_as_stored(data):
    assert imaging.exif_orientation(data) == 1
