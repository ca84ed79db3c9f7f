"""Where the code is on a page, and the region around it where apps draw the shown time.

Health-code apps draw their clock just above or below the code, centred on it. Knowing where the
code is lets the reader read the lines beside it first (a code at one side of a card puts its
clock off-centre, where a centre-first order reaches it last) and look at that region again at a
higher resolution when its text is too small for the whole-page detection (a phone photographed
from a distance).

The code is found without a model: a QR code is a square of dense texture that changes colour
both across and along, which the text detector does not take for text. Edges are counted per
direction in a small copy of the page (any colour channel: a yellow code on white, a red one on a
dark card), text the detector found is masked out, and the biggest square, solid blob of dense
two-way texture is the code. Card outlines and rules change one way only; photos of scenes are
smooth at this scale.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from text_boxes import blob_bounds

Box = tuple[float, float, float, float]  # x0, y0, x1, y1

LOCATE_LONG_SIDE_PX = 400  # the page is reduced (by an integer factor) to about this
EDGE_STEP = 32  # a change of this much in any channel over 2 px is an edge (soft edges too)
WINDOW_FRACTION = 1 / 100  # the density window's half side, of the reduced page's long side
MIN_DENSITY = 0.08  # of the window's pixels, edges in each direction
MIN_SIDE = 0.05  # of the page's short side: a smaller square is an icon
MIN_FILL = 0.45  # of the blob's bounding box: a code is solid, a ring of rules is not
MAX_ASPECT = 1.7  # a code is square (a photo's perspective stretches it a little)
TEXT_THRESHOLD = 0.3  # the detector's probability above which a pixel is text
# The region where the time is looked for, in code sides beyond the code: apps centre it on the
# code and draw it within about one side of it; its lines may be wider than the code.
REGION_ACROSS, REGION_ALONG = 1.0, 1.0


def _window_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over (2r+1)^2 windows centred on each pixel (zero outside), same shape as a."""
    c = np.pad(a, ((r + 1, r), (r + 1, r))).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def locate_code(image: Image.Image, probability: np.ndarray) -> Box | None:
    """The code's box in image pixels, or None when no code-like square is found.

    `probability` is the text detector's map for the page (any size): text is not a code.
    """
    k = max(1, max(image.size) // LOCATE_LONG_SIDE_PX)
    pixels = np.asarray(image.reduce(k) if k > 1 else image, dtype=np.int16)
    h, w = pixels.shape[:2]
    across = np.zeros((h, w), bool)
    along = np.zeros((h, w), bool)
    across[:, 2:] = np.abs(pixels[:, 2:] - pixels[:, :-2]).max(axis=2) > EDGE_STEP
    along[2:, :] = np.abs(pixels[2:, :] - pixels[:-2, :]).max(axis=2) > EDGE_STEP
    r = max(2, round(max(w, h) * WINDOW_FRACTION))
    text = Image.fromarray((probability > TEXT_THRESHOLD).astype(np.uint8)).resize((w, h))
    text_near = _window_sums(np.asarray(text, dtype=np.int32), r // 2 + 1) > 0
    counts = [_window_sums((e & ~text_near).astype(np.int32), r) for e in (across, along)]
    dense = np.minimum(*counts) > MIN_DENSITY * (2 * r + 1) ** 2
    best: tuple[int, Box] | None = None
    for x0, y0, x1, y1, count in blob_bounds(dense):
        bw, bh = x1 - x0, y1 - y0
        if min(bw, bh) - 2 * r < MIN_SIDE * min(w, h) or count < MIN_FILL * bw * bh:
            continue
        if max(bw, bh) > MAX_ASPECT * min(bw, bh):
            continue
        if best is None or count > best[0]:  # the window widened the blob by r each side
            best = (count, (x0 + r, y0 + r, x1 - r, y1 - r))
    return None if best is None else tuple(v * k for v in best[1])  # type: ignore[return-value]


def time_region(code: Box, width: int, height: int) -> Box:
    """Where the shown time may lie around the code, inside the image."""
    x0, y0, x1, y1 = code
    dx, dy = (x1 - x0) * REGION_ACROSS, (y1 - y0) * REGION_ALONG
    return max(0.0, x0 - dx), max(0.0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)


def beside_code(center: tuple[float, float], height: float, code: Box) -> float | None:
    """How far (px) a line centred at `center` lies above or below the code, within the time's
    region; None when it is not there (beside the code, inside it, or farther away)."""
    x, y = center
    x0, y0, x1, y1 = code
    side = max(x1 - x0, y1 - y0)
    if not x0 - side * REGION_ACROSS / 2 <= x <= x1 + side * REGION_ACROSS / 2:
        return None
    gap = y0 - (y + height / 2) if y < y0 else (y - height / 2) - y1 if y > y1 else None
    if gap is None or gap > side * REGION_ALONG:
        return None
    return max(0.0, gap)
