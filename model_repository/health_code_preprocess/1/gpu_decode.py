"""The GPU path of the preprocess model: a batch's JPEGs decoded by nvJPEG, letterboxed on the GPU.

It keeps imaging.py's geometry exactly (target size, centring, PAD_VALUE) but not its pixels bit
for bit: nvJPEG decodes at full size and an antialiased bilinear resize shrinks that, where the
CPU path lets libjpeg-turbo DCT-scale the decode (to 1/8 for a phone screenshot) and Pillow's
bilinear resizes the rest. Both low-pass filter, differently: on a 1440x3200 screenshot the two
are 0.3 levels apart on average, up to 18 at sharp edges such as QR modules. Training evaluates
on the CPU path: accuracy on this path must be re-checked on a GPU before it serves.

plan() leaves to imaging.py (the CPU path) every image this path should not take: PNGs; grey,
CMYK and truncated JPEGs; photos taken sideways (EXIF); JPEGs of more than MAX_GPU_PIXELS, whose
full-size decode costs GPU memory where libjpeg-turbo's DCT scaling costs ~1 CPU-ms per Mpx; and
downscales beyond MAX_GPU_DOWNSCALE, which CUDA's antialiased resize refuses (its weights must
fit one block's shared memory: ~94x with 48 KiB, e.g. a 1080x22000 scrolling screenshot).

Damaged data behind a valid header: imaging decodes strictly (libjpeg-turbo's warnings are
errors: 400 corrupt_image), nvJPEG does not always complain. Decided: what nvJPEG decodes is
classified, as a browser would show it; what it refuses gets imaging's strict answer. Matching the
CPU path exactly would cost the full CPU decode this path exists to save; structural damage
(truncation, a bad header, bytes after the end) still takes the CPU path and its answer.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F
from imaging import (
    INPUT_SIZE,
    PAD_VALUE,
    _check_pixels,
    _scaled_size,
    exif_orientation,
    image_to_tensor,
    sniff_format,
)

# A full-size decode holds 3 bytes a pixel, its resize 12 more (float): 16 Mpx is 240 MB at most.
# Phone photos (12 Mpx) stay here; 48-50 Mpx sensor-resolution photos go to the CPU.
MAX_GPU_PIXELS = 16_000_000
# CUDA's antialiased interpolate needs (2s+1) * 65 floats of shared memory for a factor s: with
# 48 KiB a block, s <= 94. 64 leaves a margin whatever the GPU.
MAX_GPU_DOWNSCALE = 64
# Decoded pixels held at once: a batch is decoded in chunks of at most this many (768 MB of RGB),
# so 64 large JPEGs never need 64 full-size images on the GPU together.
BATCH_PIXEL_BUDGET = 256_000_000


# --- imaging.py's geometry: the one place this module reads it (keep in step with imaging) -----
def _box() -> tuple[int, int]:
    """The (height, width) of the model input that images are letterboxed into."""
    return INPUT_SIZE, INPUT_SIZE


def _fit(width: int, height: int) -> tuple[int, int]:
    """The (width, height) imaging resizes a decoded image of this size to."""
    return _scaled_size(width, height, INPUT_SIZE)


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


class GpuFault(RuntimeError):
    """The GPU cannot decode even a known-good JPEG: the whole batch must take the CPU path."""


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


def letterbox(
    image: torch.Tensor, target: tuple[int, int], box: tuple[int, int] | None = None
) -> torch.Tensor:
    """Resize a CHW uint8 image to target (width, height) and centre it on a PAD_VALUE canvas."""
    box_h, box_w = box or _box()
    width, height = target
    if (image.shape[2], image.shape[1]) != target:
        # float: CUDA's antialiased interpolation takes no uint8. round like Pillow does.
        resized = F.interpolate(
            image[None].float(), size=(height, width), mode="bilinear", antialias=True
        )[0]
        image = resized.round_().clamp_(0, 255).to(torch.uint8)
    canvas = torch.full((3, box_h, box_w), PAD_VALUE, dtype=torch.uint8, device=image.device)
    top, left = (box_h - height) // 2, (box_w - width) // 2
    canvas[:, top : top + height, left : left + width] = image
    return canvas


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


def warm_up_jpeg() -> bytes:
    """A small smooth colour JPEG (320x240) on which the GPU and CPU paths agree closely."""
    y, x = np.mgrid[0:240, 0:320] / 320
    rgb = np.stack([np.sin(3 * x), np.cos(2 * y), np.sin(2 * (x + y))], axis=-1)
    return simplejpeg.encode_jpeg(((rgb + 1) * 127.5).astype(np.uint8), quality=90)


class GpuDecoder:
    """Letterboxed tensors for the colour JPEGs of a batch, decoded by nvJPEG on one GPU."""

    def __init__(self, decode_jpeg: Callable, device: torch.device) -> None:
        self._decode_jpeg = decode_jpeg  # torchvision.io.decode_jpeg for this device
        self.device = device
        # Images by where they went and why ("gpu", or plan()'s reasons, or "refused"). model.py
        # turns them into a metric: the share left to the CPU sizes its threads (configs/gpu.pbtxt).
        self.routes: collections.Counter[str] = collections.Counter()
        self.pixel_budget = BATCH_PIXEL_BUDGET
        self._known_good = warm_up_jpeg()

    @classmethod
    def for_instance(cls, instance_kind: str, device_id: int) -> GpuDecoder:
        """The decoder of a KIND_GPU instance, warmed up; raises where it cannot decode here."""
        if instance_kind != "GPU":
            raise RuntimeError(f"the instance is KIND_{instance_kind}, not KIND_GPU")
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        # Imported here: the rest needs only torch, and is tested where torchvision is absent.
        from torchvision.io import ImageReadMode, decode_jpeg

        device = torch.device("cuda", device_id)
        decoder = cls(partial(decode_jpeg, mode=ImageReadMode.RGB, device=device), device)
        decoder.warm_up()
        return decoder

    def warm_up(self) -> None:
        """Decode and letterbox a test JPEG now and compare it with imaging's tensor.

        CUDA's context and nvJPEG's state are made by the first decode: here, a failure sends
        the instance to the CPU path (model.py warns once) before any request is at stake.
        """
        data = self._known_good
        ours = self.decode([data, data], [plan(data)] * 2)  # the batched call, as requests use it
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        theirs = image_to_tensor(data)
        for pixels in ours:
            if pixels is None or pixels.shape != theirs.shape:
                raise RuntimeError("the GPU could not letterbox a test JPEG")
            difference = np.abs(pixels.astype(np.int16) - theirs.astype(np.int16))
            if difference.mean() > 1.0 or difference.max() > 16:
                raise RuntimeError(
                    "the GPU's tensor of a test JPEG differs from imaging's "
                    f"(mean {difference.mean():.2f}, max {difference.max()} levels)"
                )
        self.routes.clear()

    def plan(self, images: Sequence[bytes]) -> list[Job | str]:
        """plan() of each image; the reasons for the CPU are counted in `routes`."""
        plans = [plan(data) for data in images]
        self.routes.update(p for p in plans if isinstance(p, str))
        return plans

    def decode(self, images: Sequence[bytes], jobs: Sequence[Job]) -> list[np.ndarray | None]:
        """Each job's letterboxed tensor; None where nvJPEG refused the image (imaging decides).

        Raises GpuFault when the GPU fails a known-good JPEG too, or another error of the device.
        """
        canvases: list[torch.Tensor | None] = []
        for group in chunks(jobs, self.pixel_budget):
            canvases += self._letterboxed([images[i] for i in group], [jobs[i] for i in group])
        done = [c for c in canvases if c is not None]
        self.routes["gpu"] += len(done)
        self.routes["refused"] += len(canvases) - len(done)
        if not done:
            return [None] * len(jobs)
        # One device-to-host copy for the batch (150 KB an image), same output as the CPU path.
        # DLPack rather than .numpy(): it works whichever numpy torch was built against.
        pixels = iter(np.from_dlpack(torch.stack(done).cpu()))
        return [None if c is None else next(pixels) for c in canvases]

    def _letterboxed(self, images: list[bytes], jobs: list[Job]) -> list[torch.Tensor | None]:
        """One chunk: its full-size decodes are freed on return, before the next is decoded."""
        encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in images]
        decoded = self._decode_all(encoded)
        return [
            None if image is None else letterbox(image, job.target)
            for image, job in zip(decoded, jobs, strict=True)
        ]

    def _decode_all(self, encoded: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """nvJPEG's decode of each image, None for those it refuses: a failing batch is halved
        until the failures are alone (2 log2(n) calls for one bad image in n, not n)."""
        try:
            return list(self._decode_jpeg(encoded))
        except Exception as e:  # whatever nvJPEG raises for one image fails the whole call
            if not self._healthy():
                raise GpuFault(f"the GPU fails a known-good JPEG too: {e!r}") from e
            if len(encoded) == 1:
                return [None]
            half = len(encoded) // 2
            return self._decode_all(encoded[:half]) + self._decode_all(encoded[half:])

    def _healthy(self) -> bool:
        """Whether a known-good JPEG still decodes: tells a bad image from a failing GPU."""
        try:
            self._decode_jpeg([torch.frombuffer(bytearray(self._known_good), dtype=torch.uint8)])
        except Exception:
            return False
        return True
