"""Triton python backend: image bytes -> the classifier's view of the page around its code.

The closer look (health_code_closer): a page the classifier refused at its whole-page resolution
(a small code in a home-page card, a phone photographed from a distance shows it at about a pixel
per QR module) is looked at again around its code, found by code_locator.py in a decode at twice
the classifier's input, and classified again. Outputs per request: PIXELS, the view in the
classifier's input shape, and BOX, the code's box as fractions of the upright image (x0, y0, x1,
y1); all zeros when no code-like square is on the page (the gateway then keeps the first answer,
and the view is the blank letterbox padding); FINDER, whether the view (or the page, or a soft
view's close read) shows a QR code's finder squares, and SHARPNESS, how sharp the view is
(code_locator.py's finder check: the gateway withdraws a colour whose sharp view shows none; where
no code is located, both are of the sharper of a coarse symbol's view and a blurred code's,
where the page has either, else False and 0); INK, the white-balanced RGB of the modules of a
QR code the QR reader decodes in the page (code_locator.code_ink; zeros where none decodes, or
where the optional READ_INK says not to read and the look saw no finder squares: the gateway
reads a status from it); BLURRED,
whether the box is a blurred code's, found only by the search for one (the gateway lets it keep
a colour its view agrees with, no more), looked for unless the optional CHECK_COLOUR says the
look checks no colour (a refused page's: a blurred code answers none).
A bad image fails its own request, never the batch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


# As in health_code_time's model.py: nothing shared can be imported before sys.path is set.
def _newest_version(folder: Path) -> Path:
    versions = [int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir()]
    if not versions:
        raise FileNotFoundError(f"{folder} has no version folder")
    return folder / str(max(versions))


# imaging.py and code_locator.py have one home, the preprocess model of this model's family
# (<family>_locate beside <family>_preprocess); Triton runs this file from
# <repository>/<model>/<version>/.
_MODEL = Path(__file__).resolve().parents[1]
_PREPROCESS = _MODEL.parent / (_MODEL.name.removesuffix("_locate") + "_preprocess")
sys.path.append(str(_newest_version(_PREPROCESS)))
import imaging  # noqa: E402
from code_locator import look_closer_checked  # noqa: E402


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        self.logger = pb_utils.Logger

    def execute(self, requests: list) -> list:
        return [self._respond(r) for r in requests]

    def _respond(self, request):
        images = pb_utils.get_input_tensor_by_name(request, "IMAGE").as_numpy().reshape(-1)
        try:
            if len(images) == 0:
                raise imaging.ImageError("not_an_image", "the request holds no image")
            read = _flags(request, "READ_INK", len(images))
            check = _flags(request, "CHECK_COLOUR", len(images))
            looks = [
                look_closer_checked(_as_bytes(image), imaging, bool(ink), bool(colour))
                for image, ink, colour in zip(images, read, check, strict=True)
            ]
        except imaging.ImageError as e:
            return pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(e), pb_utils.TritonError.INVALID_ARG)
            )
        except Exception as e:  # a locator bug on odd client data fails this request only
            self.logger.log_error(f"closer look failed: {type(e).__name__}: {e}")
            message = f"[corrupt_image] cannot look closer ({type(e).__name__})"
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        pixels, boxes, finders, sharp, inks, blurred = zip(*looks, strict=True)
        return pb_utils.InferenceResponse(
            output_tensors=[
                pb_utils.Tensor("PIXELS", np.stack(pixels)),
                pb_utils.Tensor("BOX", np.stack(boxes)),
                pb_utils.Tensor("FINDER", np.array(finders, bool).reshape(-1, 1)),
                pb_utils.Tensor("SHARPNESS", np.array(sharp, np.float32).reshape(-1, 1)),
                pb_utils.Tensor("INK", np.stack(inks).astype(np.float32)),
                pb_utils.Tensor("BLURRED", np.array(blurred, bool).reshape(-1, 1)),
            ]
        )


def _flags(request, name: str, count: int) -> np.ndarray:
    """An optional BOOL input's value for each of `count` images; absent: True."""
    flag = pb_utils.get_input_tensor_by_name(request, name)
    return np.broadcast_to(True if flag is None else flag.as_numpy().reshape(-1), count)


def _as_bytes(element) -> bytes:
    # As the preprocess model: text a client sent instead of bytes fails its own request.
    return element if isinstance(element, bytes) else bytes(element, "latin-1", "replace")
