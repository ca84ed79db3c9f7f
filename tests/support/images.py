"""Small crafted images shared by unit and integration tests."""

from __future__ import annotations

import io
import zlib

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
