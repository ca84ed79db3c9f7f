"""Image bytes -> model input tensor: the one preprocessing function, shared by Triton and training.

It runs inside Triton's python-backend stub (embedded and NGC image alike) and in training, so it
depends on numpy, Pillow and simplejpeg only. JPEGs are decoded with DCT scaling straight to about
the model's resolution (never a full-size decode followed by a resize); PNGs have no such shortcut.
A JPEG's EXIF orientation is applied, so a photo taken sideways reaches the model upright, as a
gallery app would show it.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import simplejpeg
from PIL import ExifTags, Image

# The model input: a portrait letterbox, 400 x 240 (5:3). A 20:9 phone screen fills its height (a
# 1440 x 3200 or 720 x 1600 screenshot from a 1/8 or 1/4 DCT-scaled decode, 180 x 400, no resize), a
# 16:9 one nearly all of it, and a 3:4 phone photo 240 x 320 of it: a code 25% of the screen wide
# is 45 px across on a 20:9 screen, 1.4 px per module of a 33-module QR code, where a 224 x 224
# square letterbox gave 0.76 (training/MODEL_CARD.md: geometry).
INPUT_HEIGHT = 400
INPUT_WIDTH = 240
INPUT_SHAPE = (3, INPUT_HEIGHT, INPUT_WIDTH)  # CHW, what image_to_tensor returns
# Letterbox fill: mid grey is neutral for light-mode and dark-mode screenshots alike.
PAD_VALUE = 127
# 50 Mpx is far above any phone screen or photo; a header claiming more is a decompression bomb.
MAX_PIXELS = 50_000_000

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# EXIF orientation -> the transpose that turns the stored pixels upright.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIDEWAYS = (5, 6, 7, 8)  # orientations that swap width and height


class ImageError(ValueError):
    """An image that cannot be used; `code` is the machine-readable error code clients see."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code


def sniff_format(data: bytes) -> str | None:
    """Return "jpeg" or "png" from the magic bytes, or None."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    return None


def exif_orientation(data: bytes) -> int:
    """A JPEG's EXIF orientation, 1 to 8; 1 (as stored) when it has none or it is unreadable."""
    try:  # Pillow reads the header segments only: ~40 us for a 273 KB screenshot
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            value = img.getexif().get(ExifTags.Base.Orientation, 1)
        return value if value in _UPRIGHT else 1
    except Exception:  # a damaged EXIF block is no reason to refuse the pixels
        return 1


def _check_pixels(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageError("corrupt_image", f"image claims an empty size {width}x{height}")
    if width * height > MAX_PIXELS:
        raise ImageError(
            "image_too_large", f"{width}x{height} pixels exceeds the {MAX_PIXELS} pixel limit"
        )


def _scaled_size(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) of an image of that size scaled to fit a (height, width) box."""
    scale = min(box[0] / height, box[1] / width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _decode_jpeg(data: bytes, box: tuple[int, int]) -> Image.Image:
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as e:
        raise ImageError("corrupt_image", f"unreadable JPEG header: {e}") from e
    _check_pixels(width, height)
    target_w, target_h = _scaled_size(width, height, box)
    try:
        # libjpeg-turbo picks the largest DCT scale factor (1/8 .. 1) that stays >= the minimum.
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="RGB", min_width=target_w, min_height=target_h, strict=True
        )
    except ValueError as e:
        if "Unsupported color conversion" not in str(e):
            raise ImageError("corrupt_image", f"cannot decode JPEG: {e}") from e
        return _decode_with_pillow(data, box)  # CMYK/YCCK JPEGs: rare, Pillow handles them
    return Image.fromarray(pixels)


def _decode_with_pillow(data: bytes, box: tuple[int, int]) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns past 89 Mpx: far past our limit, so refuse it too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                _check_pixels(*img.size)
                img.draft("RGB", _scaled_size(*img.size, box))  # DCT scaling for JPEG only
                return img.convert("RGB")
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("image_too_large", str(e)) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError("corrupt_image", f"cannot decode image: {e}") from e


def image_to_tensor(data: bytes, box: tuple[int, int] = INPUT_SHAPE[1:]) -> np.ndarray:
    """Decode a JPEG or PNG and letterbox it into a UINT8 CHW array of shape (3, *box).

    `box` is (height, width); the default is the model's input, (INPUT_HEIGHT, INPUT_WIDTH).
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError("not_an_image", "the data is neither a JPEG nor a PNG image")
    orientation = 1
    if fmt == "jpeg":
        orientation = exif_orientation(data)
        # A photo stored sideways is decoded sideways and turned afterwards: size its decode so.
        turned = orientation in _SIDEWAYS
        img = _decode_jpeg(data, box[::-1] if turned else box)
        if orientation != 1:
            img = img.transpose(_UPRIGHT[orientation])
    else:
        img = _decode_with_pillow(data, box)
    target = _scaled_size(*img.size, box)
    if img.size != target:
        img = img.resize(target, Image.Resampling.BILINEAR)
    height, width = box
    canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (height - target[1]) // 2, (width - target[0]) // 2
    canvas[top : top + target[1], left : left + target[0]] = np.asarray(img)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1))
