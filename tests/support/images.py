"""Small crafted images shared by unit and integration tests."""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import ExifTags, Image


def encode(fmt: str, size: tuple[int, int] = (48, 80)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 170, 90)).save(out, fmt)
    return out.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A real tiny PNG whose IHDR (CRC fixed up) claims width x height: a decompression bomb."""
    data = bytearray(encode("PNG"))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real tiny JPEG whose SOF segment claims width x height."""
    data = bytearray(encode("JPEG"))
    i = 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):  # walk the segments to the frame header
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    data[i + 5 : i + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def jpeg_with_orientation(img: Image.Image, orientation: int, quality: int = 95) -> bytes:
    """`img` as a JPEG whose EXIF says how to turn its stored pixels upright."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality, exif=exif.tobytes())
    return out.getvalue()


# Adam7's seven passes: (first column, first row, column step, row step).
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def interlaced_png(img: Image.Image) -> bytes:
    """`img` (RGB) as an Adam7-interlaced PNG, which Pillow reads but cannot write."""
    pixels = np.asarray(img.convert("RGB"))
    height, width = pixels.shape[:2]
    raw = bytearray()
    for x0, y0, dx, dy in ADAM7:  # each pass: its own sub-image, rows with filter byte 0
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            for row in sub:
                raw += b"\0" + row.tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 1])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 1))
        + chunk(b"IEND", b"")
    )
