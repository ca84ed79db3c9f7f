"""The GPU path of the preprocess model: a batch's JPEGs decoded by nvJPEG, letterboxed on the GPU.

It keeps imaging.py's geometry exactly (target size, centring, PAD_VALUE) but not its pixels bit
for bit: nvJPEG decodes at full size and an antialiased bilinear resize shrinks that, where the
CPU path lets libjpeg-turbo DCT-scale the decode (to 1/8 for a phone screenshot) and Pillow's
bilinear resizes the rest. Both low-pass filter, differently: on a 1440x3200 screenshot the two
are 0.3 levels apart on average, up to 18 at sharp edges such as QR modules. Training evaluates
on the CPU path: accuracy on this path must be re-checked on a GPU before it serves.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F
from imaging import (
    INPUT_SHAPE,
    PAD_VALUE,
    _check_pixels,
    _scaled_size,
    exif_orientation,
    sniff_format,
)


def jpeg_target(data: bytes, box: tuple[int, int] = INPUT_SHAPE[1:]) -> tuple[int, int] | None:
    """imaging's letterboxed (width, height) for a colour JPEG; None leaves the image to imaging."""
    if sniff_format(data) != "jpeg":
        return None  # PNGs, and what imaging refuses with its own error
    if not data.endswith(b"\xff\xd9"):
        # Truncated (or trailing bytes after the image): imaging's strict decode must judge it,
        # where nvJPEG might return a half-decoded image instead of an error.
        return None
    try:
        height, width, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        _check_pixels(width, height)  # the bomb check happens before anything is decoded
        if colorspace != "YCbCr":
            return None  # grey, CMYK, YCCK: rare, and imaging handles them all
        if exif_orientation(data) != 1:
            return None  # a photo taken sideways: imaging turns it upright
        # imaging sizes the target from the DCT-scaled decode, which can be a pixel off the
        # full-size aspect ratio: ask the header for that decode's size instead.
        target_w, target_h = _scaled_size(width, height, box)
        height, width, _, _ = simplejpeg.decode_jpeg_header(
            data, min_height=target_h, min_width=target_w
        )
    except ValueError:  # ImageError included: imaging raises it again, with its code
        return None
    return _scaled_size(width, height, box)


def letterbox(
    image: torch.Tensor, target: tuple[int, int], box: tuple[int, int] = INPUT_SHAPE[1:]
) -> torch.Tensor:
    """Resize a CHW uint8 image to target (width, height) and centre it in a PAD_VALUE (h, w) box."""
    width, height = target
    if (image.shape[2], image.shape[1]) != target:
        # float: CUDA's antialiased interpolation takes no uint8. round like Pillow does.
        resized = F.interpolate(
            image[None].float(), size=(height, width), mode="bilinear", antialias=True
        )[0]
        image = resized.round_().clamp_(0, 255).to(torch.uint8)
    canvas = torch.full((3, *box), PAD_VALUE, dtype=torch.uint8, device=image.device)
    top, left = (box[0] - height) // 2, (box[1] - width) // 2
    canvas[:, top : top + height, left : left + width] = image
    return canvas


class GpuDecoder:
    """Letterboxed tensors for the colour JPEGs of a batch; None where the CPU path must decide."""

    def __init__(self, instance_kind: str, device_id: int) -> None:
        if instance_kind != "GPU":
            raise RuntimeError(f"the instance is KIND_{instance_kind}, not KIND_GPU")
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device")
        # Imported here: letterbox() needs only torch, and is tested where torchvision is absent.
        from torchvision.io import ImageReadMode, decode_jpeg

        device = torch.device("cuda", device_id)
        self._decode_jpeg = partial(decode_jpeg, mode=ImageReadMode.RGB, device=device)

    def __call__(self, images: list[bytes]) -> list[np.ndarray | None]:
        results: list[np.ndarray | None] = [None] * len(images)
        jobs = [(i, t) for i, data in enumerate(images) if (t := jpeg_target(data)) is not None]
        decoded = self._decode([images[i] for i, _ in jobs]) if jobs else []
        done = [
            (i, letterbox(image, target))
            for (i, target), image in zip(jobs, decoded, strict=True)
            if image is not None
        ]
        if done:
            # One device-to-host copy for the batch (150 KB an image), same output as the CPU path.
            pixels = torch.stack([canvas for _, canvas in done]).cpu().numpy()
            for (i, _), array in zip(done, pixels, strict=True):
                results[i] = array
        return results

    def _decode(self, images: list[bytes]) -> list[torch.Tensor | None]:
        encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for data in images]
        try:
            return self._decode_jpeg(encoded)
        except Exception:  # whatever nvJPEG raises, the retry below sorts it out
            # The batched call returns nothing when one image fails: one by one, only it is lost
            # (and imaging then decides whether it is corrupt).
            return [self._decode_one(data) for data in encoded]

    def _decode_one(self, encoded: torch.Tensor) -> torch.Tensor | None:
        try:
            return self._decode_jpeg(encoded)
        except Exception:  # a JPEG nvJPEG cannot take goes to imaging instead
            return None
