"""Which images of a batch the GPU decodes (plan), and how a batch is cut to bound its memory.

plan() leaves to imaging.py (the CPU path) every image the GPU should not take: PNGs; grey,
CMYK and truncated JPEGs; photos taken sideways (EXIF); JPEGs of more than MAX_GPU_PIXELS, whose
full-size decode costs GPU memory where libjpeg-turbo's DCT scaling costs ~1 CPU-ms per Mpx; and
downscales beyond MAX_GPU_DOWNSCALE, which CUDA's antialiased resize refuses (its weights must
fit one block's shared memory: ~94x with 48 KiB, e.g. a 1080x22000 scrolling screenshot).
Header reads only: no torch here, nothing is decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import simplejpeg
from imaging import INPUT_SHAPE, _check_pixels, _scaled_size, exif_orientation, sniff_format

# A full-size decode holds 3 bytes a pixel, its resize 12 more (float): 16 Mpx is 240 MB at most.
# Phone photos (12 Mpx) stay here; 48-50 Mpx sensor-resolution photos go to the CPU.
MAX_GPU_PIXELS = 16_000_000
# CUDA's antialiased interpolate needs (2s+1) * 65 floats of shared memory for a factor s: with
# 48 KiB a block, s <= 94. 64 leaves a margin whatever the GPU.
MAX_GPU_DOWNSCALE = 64
# Decoded pixels held at once: a batch is decoded in chunks of at most this many (768 MB of RGB),
# so 64 large JPEGs never need 64 full-size images on the GPU together.
BATCH_PIXEL_BUDGET = 256_000_000


# --- imaging.py's geometry: the one place the GPU path reads it ---------------------------------
def _box() -> tuple[int, int]:
    """The (height, width) of the model input that images are letterboxed into."""
    _, height, width = INPUT_SHAPE
    return height, width


def _fit(width: int, height: int) -> tuple[int, int]:
    """The (width, height) imaging resizes a decoded image of this size to."""
    return _scaled_size(width, height, _box())


# -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A JPEG the GPU decodes: its full size and the letterboxed size it is resized to."""

    width: int
    height: int
    target: tuple[int, int]  # (width, height)

    @property
    def pixels(self) -> int:
        return self.width * self.height


def plan(data: bytes) -> Job | str:
    """The GPU job of a colour JPEG, or the reason imaging decodes the image instead."""
    if sniff_format(data) != "jpeg":
        return "not_jpeg"  # PNGs, and what imaging refuses with its own error
    if not data.endswith(b"\xff\xd9"):
        # Truncated (or trailing bytes after the image): imaging's strict decode must judge it,
        # where nvJPEG might return a half-decoded image instead of an error.
        return "truncated"
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        _check_pixels(width, height)  # the bomb check happens before anything is decoded
        if colorspace != "YCbCr":
            return "colorspace"  # grey, CMYK, YCCK: rare, and imaging handles them all
        if width * height > MAX_GPU_PIXELS:
            return "large"
        if exif_orientation(data) != 1:
            return "orientation"  # a photo taken sideways: imaging turns it upright
        # imaging sizes the target from the DCT-scaled decode, which can be a pixel off the
        # full-size aspect ratio: ask the header for that decode's size instead.
        target_w, target_h = _fit(width, height)
        scaled_h, scaled_w, _, _ = simplejpeg.decode_jpeg_header(
            data, min_height=target_h, min_width=target_w
        )
    except ValueError:  # ImageError included: imaging raises it again, with its code
        return "header"
    target = _fit(scaled_w, scaled_h)
    if max(width / target[0], height / target[1]) > MAX_GPU_DOWNSCALE:
        return "downscale"
    return Job(width, height, target)


def chunks(jobs: Sequence[Job], budget: int) -> list[list[int]]:
    """Indices of `jobs` in consecutive groups of at most `budget` pixels (at least one each)."""
    groups: list[list[int]] = []
    held = budget + 1
    for i, job in enumerate(jobs):
        if held + job.pixels > budget:
            groups.append([])
            held = 0
        groups[-1].append(i)
        held += job.pixels
    return groups
