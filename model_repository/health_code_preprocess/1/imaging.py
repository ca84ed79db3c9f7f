"""Image bytes -> model input tensor: the one preprocessing function, shared by Triton and training.

It runs inside Triton's python-backend stub (embedded and NGC image alike), in the gateway (its
header checks, and its decoding with HEALTHCODE_DECODE=gateway) and in training, so it depends on
numpy, Pillow and simplejpeg only. It is the one home of what an image must be: formats, magic
bytes and the pixel limit. JPEGs are decoded with DCT scaling straight to about the model's
resolution (never a full-size decode followed by a resize); PNGs have no such shortcut.
A JPEG's EXIF orientation is applied, so a photo taken sideways reaches the model upright, as a
gallery app would show it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

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
# JPEGs decode DCT-scaled, so their cost follows their bytes, not their pixels.
MAX_PIXELS = 50_000_000
# A PNG has no scaled decode: every pixel is inflated and resized, ~10 CPU-ms per Mpx. 16 Mpx is
# above any phone or tablet screen (2960x1848 and 2064x2752 are the largest, ~5.7 Mpx) and leaves
# room for scrolling screenshots (1440x11000).
MAX_PNG_PIXELS = 16_000_000
# What decoding costs, CPU-ms per Mpx of the header's size, by kind (image_to_tensor on one core
# of the 2-core dev box, 2026-12-01; benchmarks/NOTES.md): DCT-scaled baseline JPEG 1.0,
# progressive JPEG 4.9 (every coefficient kept in memory, several passes), CMYK/YCCK JPEG (Pillow,
# still DCT-scaled) 1.7, PNG 12 (16-bit alike), interlaced PNG 16 (Adam7's seven passes).
DECODE_MS_PER_MPX = {
    "jpeg": 1.0,
    "jpeg/progressive": 4.9,
    "jpeg/cmyk": 1.7,
    "png": 12.0,
    "png/progressive": 16.0,
}

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Image formats recognised but not served: refused as unsupported_image_format (the client sent an
# image, just not one we read), where anything else is not_an_image.
OTHER_MAGIC = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x01\x00", "ICO"),
)
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif"})
BMP_DIB_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})

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


def other_format(data: bytes) -> str | None:
    """Name a recognised but unsupported image format, or None."""
    for magic, name in OTHER_MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS:
        return "HEIF/AVIF"
    # "BM" alone would catch text too: also require a known DIB header size.
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in BMP_DIB_SIZES:
        return "BMP"
    return None


def unusable(data: bytes) -> ImageError:
    """The error for bytes that are neither JPEG nor PNG."""
    if not data:
        return ImageError("empty_image", "the image is empty")
    other = other_format(data)
    if other:
        return ImageError(
            "unsupported_image_format", f"{other} images are not supported: send JPEG or PNG"
        )
    return ImageError("not_an_image", "the data is neither a JPEG nor a PNG image")


def exif_orientation(data: bytes) -> int:
    """A JPEG's EXIF orientation, 1 to 8; 1 (as stored) when it has none or it is unreadable."""
    try:  # Pillow reads the header segments only: ~40 us for a 273 KB screenshot
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as img:
            value = img.getexif().get(ExifTags.Base.Orientation, 1)
        return value if value in _UPRIGHT else 1
    except Exception:  # a damaged EXIF block is no reason to refuse the pixels
        return 1


def _check_pixels(width: int, height: int, limit: int = MAX_PIXELS) -> None:
    if width <= 0 or height <= 0:
        raise ImageError("corrupt_image", f"image claims an empty size {width}x{height}")
    if width * height > limit:
        raise ImageError(
            "image_too_large", f"{width}x{height} pixels exceeds the {limit} pixel limit"
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
                _check_pixels(*img.size, MAX_PNG_PIXELS if img.format == "PNG" else MAX_PIXELS)
                img.draft("RGB", _scaled_size(*img.size, box))  # DCT scaling for JPEG only
                return img.convert("RGB")
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("image_too_large", str(e)) from e
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError("corrupt_image", f"cannot decode image: {e}") from e


def decode_upright(data: bytes, box: tuple[int, int]) -> Image.Image:
    """An RGB image, turned upright (EXIF), decoded to about the size that fits a (height, width)
    box where the format allows (a DCT-scaled JPEG; a PNG comes whole). ImageError for unusable
    bytes.

    The decoding rules and limits of every reader of the page: image_to_tensor for the
    classifier, and the time reader of `?read=time` (model_repository/health_code_time).
    """
    fmt = sniff_format(data)
    if fmt is None:
        raise unusable(data)
    if fmt == "png":
        return _decode_with_pillow(data, box)
    orientation = exif_orientation(data)
    # A photo stored sideways is decoded sideways and turned afterwards: size its decode so.
    img = _decode_jpeg(data, box[::-1] if orientation in _SIDEWAYS else box)
    return img if orientation == 1 else img.transpose(_UPRIGHT[orientation])


def image_to_tensor(data: bytes, box: tuple[int, int] = INPUT_SHAPE[1:]) -> np.ndarray:
    """Decode a JPEG or PNG and letterbox it into a UINT8 CHW array of shape (3, *box).

    `box` is (height, width); the default is the model's input, (INPUT_HEIGHT, INPUT_WIDTH).
    """
    img = decode_upright(data, box)
    target = _scaled_size(*img.size, box)
    if img.size != target:
        img = img.resize(target, Image.Resampling.BILINEAR)
    height, width = box
    canvas = np.full((height, width, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (height - target[1]) // 2, (width - target[0]) // 2
    canvas[top : top + target[1], left : left + target[0]] = np.asarray(img)
    return np.ascontiguousarray(canvas.transpose(2, 0, 1))


@dataclass(frozen=True)
class Header:
    """What an image's header says, read without decoding a pixel."""

    format: str  # "jpeg" or "png"
    width: int
    height: int
    progressive: bool  # a progressive JPEG or an interlaced (Adam7) PNG
    bit_depth: int  # bits per sample: 8 for JPEG, 1 to 16 for PNG
    mode: str  # Pillow's: "RGB", "L", "CMYK", "RGBA", "P", "I;16", ...

    def decode_cost_ms(self) -> float:
        """The estimated CPU-ms image_to_tensor spends on this image (DECODE_MS_PER_MPX)."""
        kind = self.format
        if self.progressive:
            kind += "/progressive"
        elif self.format == "jpeg" and self.mode == "CMYK":
            kind += "/cmyk"
        return DECODE_MS_PER_MPX[kind] * self.width * self.height / 1e6


def read_header(
    data: bytes, max_pixels: int = MAX_PIXELS, max_png_pixels: int = MAX_PNG_PIXELS
) -> Header:
    """The header of a JPEG or PNG; ImageError when it is unusable or claims too many pixels."""
    fmt = sniff_format(data)
    if fmt is None:
        raise unusable(data)
    try:
        # Image.open reads the header only. Our pixel limit is lower than Pillow's, so its
        # DecompressionBombWarning is noise here (and an error under strict warning filters).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt.upper()]) as img:
                width, height = img.size
                info, mode = img.info, img.mode
    except Image.DecompressionBombError as e:
        raise ImageError("image_too_large", f"the image exceeds {MAX_PIXELS} pixels") from e
    except Exception as e:  # any parser failure on client data is the client's corrupt image
        raise ImageError("corrupt_image", f"unreadable {fmt.upper()} header") from e
    _check_pixels(width, height, max_png_pixels if fmt == "png" else max_pixels)
    if fmt == "jpeg":
        return Header(fmt, width, height, bool(info.get("progressive")), 8, mode)
    # IHDR is the first chunk (Pillow checked it): bit depth at byte 24, interlace at byte 28.
    return Header(fmt, width, height, data[28] == 1, data[24], mode)
