"""Where the code is on a page, and the region around it where apps draw the shown time.

Health-code apps draw their clock just above or below the code, centred on it. Knowing where the
code is lets the reader read the lines beside it first (a code at one side of a card puts its
clock off-centre, where a centre-first order reaches it last) and look at that region again at a
higher resolution when its text is too small for the whole-page detection (a phone photographed
from a distance).

The code itself is found by the preprocess folder's code_locator.py: by a QR reader first, whose
box is the code alone, and by the texture locator where the reader finds none.
"""

from __future__ import annotations

import numpy as np
from code_locator import MIN_SIDE, Box, locate_code, read_code_box
from PIL import Image
from text_boxes import TextBox, boxes_from_probability, mark_runs_on

# Where the time is looked for, in code sides: in a band above and one below the code, reaching
# REGION_ALONG beyond it, as wide as the code and REGION_ACROSS more each side (apps centre their
# clock on the code, within about one side of it; its lines may be wider than the code).
REGION_ACROSS, REGION_ALONG = 0.65, 0.7
STRIDE = 32  # the detector's input sides are multiples of this
BAND_GAP_PX = 32  # between the two bands in the detector's input
INSET = 0.2


def find_code(image: Image.Image, probability: np.ndarray) -> Box | None:
    """The code's box in image pixels: where a QR reader finds one, else the texture locator's.

    The reader's box is the code by its finder patterns; the locator's square of two-way texture
    can take in a striped card, or the clock just above the code, and the time's region is then
    looked for in the wrong place (on the renderer's photos, seeds 7, 11, 13 and 17, 19, the
    reader first read 2 more of 300 and 2 more of 200 for ~5 CPU-ms an image: NOTES.md). A box
    the reader gives smaller than the locator's smallest code is no code.
    """
    found = read_code_box(image)
    if found is not None and min(found[2] - found[0], found[3] - found[1]) >= MIN_SIDE * min(
        image.size
    ):
        return found
    return locate_code(image, probability)


def time_bands(code: Box, width: int, height: int) -> list[Box]:
    """The bands above and below the code where its time may lie, inside the image."""
    x0, y0, x1, y1 = code
    side = max(x1 - x0, y1 - y0)
    left, right = max(0.0, x0 - side * REGION_ACROSS), min(width, x1 + side * REGION_ACROSS)
    inset = side * INSET  # into the code: a line close to it must not touch the edge
    bands = [
        (left, max(0.0, y0 - side * REGION_ALONG), right, y0 + inset),
        (left, y1 - inset, right, min(height, y1 + side * REGION_ALONG)),
    ]
    return [b for b in bands if b[3] - b[1] >= side * 0.2]


class Bands:
    """The bands around the code, enlarged by `scale` and stacked into one detector input."""

    def __init__(self, image: Image.Image, bands: list[Box], scale: float) -> None:
        self._placed: list[tuple[Box, float, float, float]] = []  # band, y in input, sx, sy
        sizes = [(round((b[2] - b[0]) * scale), round((b[3] - b[1]) * scale)) for b in bands]
        width = max(STRIDE, -(-max(w for w, _ in sizes) // STRIDE) * STRIDE)
        height = sum(h for _, h in sizes) + BAND_GAP_PX * (len(sizes) - 1)
        self.image = Image.new("RGB", (width, -(-height // STRIDE) * STRIDE), (128, 128, 128))
        top = 0
        for band, (w, h) in zip(bands, sizes, strict=True):
            crop = image.crop(tuple(round(v) for v in band))
            self.image.paste(crop.resize((w, h), Image.Resampling.BILINEAR), (0, top))
            self._placed.append((band, top, crop.width / w, crop.height / h))
            top += h + BAND_GAP_PX
        self._limits = image.size

    def boxes(self, probability: np.ndarray) -> list[TextBox]:
        """Boxes in image pixels from the detector's map of self.image, each marked runs_on as
        text_boxes.mark_runs_on does; those that a band's edge cuts (the image's own edges aside)
        are left out: a part of a line must not be read alone."""
        found = []
        for box in boxes_from_probability(probability):
            y = box.center[1]
            for band, top, sx, sy in self._placed:
                h = (band[3] - band[1]) / sy
                if top <= y < top + h:
                    shift = np.array([0, -top], dtype=np.float32)
                    moved = TextBox(
                        (box.corners + shift) * np.array([sx, sy], np.float32), box.score
                    )
                    offset = np.array([round(band[0]), round(band[1])], dtype=np.float32)
                    moved = TextBox(moved.corners + offset, box.score)
                    found.append(moved)
                    break
        return mark_runs_on([b for b in found if self.covers(b)], found)

    def covers(self, box: TextBox) -> bool:
        """Whether the box lies wholly inside one band, clear of its edges: of its sides by a line
        height (the detector may end a line the edge cuts a character or two before it)."""
        xs, ys = box.corners[:, 0], box.corners[:, 1]
        width, height = self._limits
        for (x0, y0, x1, y1), _, sx, sy in self._placed:
            margin = 2 * max(sx, sy)
            side = max(margin, box.height)
            if (
                (x0 <= 0 or xs.min() > x0 + side)
                and (x1 >= width or xs.max() < x1 - side)
                and (y0 <= 0 or ys.min() > y0 + margin)
                and (y1 >= height or ys.max() < y1 - margin)
            ):
                return True
        return False


def beside_code(center: tuple[float, float], height: float, code: Box) -> float | None:
    """How far (px) a line centred at `center` lies above or below the code, within the time's
    region; None when it is not there (beside the code or farther away). A line centred on the
    code's box is at 0: the detector calls it text, so it is no part of the code, but a box that
    took in the code's card (a striped card is texture too) holds the caption under the code,
    where apps draw the update time."""
    x, y = center
    x0, y0, x1, y1 = code
    if x0 <= x <= x1 and y0 <= y <= y1:
        return 0.0
    side = max(x1 - x0, y1 - y0)
    if not x0 - side * REGION_ACROSS / 2 <= x <= x1 + side * REGION_ACROSS / 2:
        return None
    gap = y0 - (y + height / 2) if y < y0 else (y - height / 2) - y1 if y > y1 else None
    if gap is None or gap > side * REGION_ALONG:
        return None
    return max(0.0, gap)
