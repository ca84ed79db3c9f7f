"""The GPU path of the preprocess model: a batch's JPEGs decoded by nvJPEG, letterboxed on the GPU.

It keeps imaging.py's geometry exactly (target size, centring, PAD_VALUE) but not its pixels bit
for bit: nvJPEG decodes at full size and an antialiased bilinear resize shrinks that, where the
CPU path lets libjpeg-turbo DCT-scale the decode (to 1/8 for a phone screenshot) and Pillow's
bilinear resizes the rest. Both low-pass filter, differently: on a 1440x3200 screenshot the two
are 0.3 levels apart on average, up to 18 at sharp edges such as QR modules. Training evaluates
on the CPU path: accuracy on this path must be re-checked on a GPU before it serves. Which
images come here, and in what chunks, is gpu_plan.py's.

Damaged data behind a valid header: imaging decodes strictly (libjpeg-turbo's warnings are
errors: 400 corrupt_image), nvJPEG does not always complain. Decided: what nvJPEG decodes is
classified, as a browser would show it; what it refuses gets imaging's strict answer. Matching the
CPU path exactly would cost the full CPU decode this path exists to save; structural damage
(truncation, a bad header, bytes after the end) still takes the CPU path and its answer.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F
from gpu_plan import BATCH_PIXEL_BUDGET, Job, _box, chunks, plan
from imaging import PAD_VALUE, image_to_tensor


class GpuFault(RuntimeError):
    """The GPU cannot decode even a known-good JPEG: the whole batch must take the CPU path."""


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
            # Two decoders and two resizes: a level or two apart on this smooth image. A wrong
            # decode (channels swapped, garbage) is tens of levels apart.
            if difference.mean() > 2.0 or difference.max() > 32:
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
            None if image is None else self._letterbox(image, job)
            for image, job in zip(decoded, jobs, strict=True)
        ]

    def _letterbox(self, image: torch.Tensor, job: Job) -> torch.Tensor | None:
        """letterbox(); None (imaging decides) if it fails on this image while the GPU is well:
        no image may make the whole batch look like a GPU fault."""
        try:
            return letterbox(image, job.target)
        except Exception as e:
            if not self._healthy():
                raise GpuFault(f"the GPU fails a known-good JPEG too: {e!r}") from e
            return None

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
