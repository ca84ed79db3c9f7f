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
from text_boxes import TextBox, blob_bounds, boxes_from_probability, mark_runs_on

Box = tuple[float, float, float, float]  # x0, y0, x1, y1

LOCATE_LONG_SIDE_PX = 400  # the page is reduced (by an integer factor) to about this
EDGE_STEP = 32  # a change of this much in any channel over 2 px is an edge (soft edges too)
WINDOW_FRACTION = 1 / 100  # the density window's half side, of the reduced page's long side
MIN_DENSITY = 0.08  # of the window's pixels, edges in each direction
MIN_SIDE = 0.05  # of the page's short side: a smaller square is an icon
MIN_FILL = 0.45  # of the blob's bounding box: a code is solid, a ring of rules is not
MAX_ASPECT = 1.7  # a code is square (a photo's perspective stretches it a little)
TEXT_THRESHOLD = 0.3  # the detector's probability above which a pixel is text
ACTIVE_LINE = 0.04  # a row or column of the code has edges in at least this share of its pixels
# Where the time is looked for, in code sides: in a band above and one below the code, reaching
# REGION_ALONG beyond it, as wide as the code and REGION_ACROSS more each side (apps centre their
# clock on the code, within about one side of it; its lines may be wider than the code).
REGION_ACROSS, REGION_ALONG = 0.65, 0.7
STRIDE = 32  # the detector's input sides are multiples of this
BAND_GAP_PX = 32  # between the two bands in the detector's input
INSET = 0.2


def _window_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over (2r+1)^2 windows centred on each pixel (zero outside), same shape as a."""
    c = np.pad(a, ((r + 1, r), (r + 1, r))).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def locate_code(image: Image.Image, probability: np.ndarray) -> Box | None:
    """The code's box in image pixels, or None when no code-like square is found.

    `probability` is the text detector's map for the page (any size): text is not a code. But the
    detector may take a blurred or tilted code for text too (one big blob over it and the lines
    around it): when nothing code-like is left beside the text, the page is looked at again
    without it. A wrong box costs at most a look at the wrong region, never a wrong reading.
    """
    return _locate(image, probability) or _locate(image, None)


def _locate(image: Image.Image, probability: np.ndarray | None) -> Box | None:
    """locate_code's search, with what the map holds as text masked out (none without a map)."""
    k = max(1, max(image.size) // LOCATE_LONG_SIDE_PX)
    pixels = np.asarray(image.reduce(k) if k > 1 else image, dtype=np.int16)
    h, w = pixels.shape[:2]
    across = np.zeros((h, w), bool)
    along = np.zeros((h, w), bool)
    across[:, 2:] = np.abs(pixels[:, 2:] - pixels[:, :-2]).max(axis=2) > EDGE_STEP
    along[2:, :] = np.abs(pixels[2:, :] - pixels[:-2, :]).max(axis=2) > EDGE_STEP
    r = max(2, round(max(w, h) * WINDOW_FRACTION))
    if probability is None:
        text_near = np.zeros((h, w), bool)
    else:
        text = Image.fromarray((probability > TEXT_THRESHOLD).astype(np.uint8)).resize((w, h))
        text_near = _window_sums(np.asarray(text, dtype=np.int32), r // 2 + 1) > 0
    counts = [_window_sums((e & ~text_near).astype(np.int32), r) for e in (across, along)]
    dense = np.minimum(*counts) > MIN_DENSITY * (2 * r + 1) ** 2
    best: tuple[int, tuple[int, int, int, int]] | None = None
    for x0, y0, x1, y1, count in blob_bounds(dense):
        bw, bh = x1 - x0, y1 - y0
        if min(bw, bh) - 2 * r < MIN_SIDE * min(w, h) or count < MIN_FILL * bw * bh:
            continue
        if max(bw, bh) > MAX_ASPECT * min(bw, bh):
            continue
        if best is None or count > best[0]:
            best = (count, (x0, y0, x1, y1))
    if best is None:
        return None
    x0, y0, x1, y1 = best[1]
    # The window widened the blob, and may have joined it to text just beside the code that the
    # detector missed (a small clock): keep the longest stretch of rows, then of columns, that
    # have edges, which a blank gap between the code and its neighbours ends.
    edges = (across | along)[y0:y1, x0:x1] & ~text_near[y0:y1, x0:x1]
    top, bottom = _longest_run(edges.mean(axis=1) > ACTIVE_LINE)
    left, right = _longest_run(edges[top:bottom].mean(axis=0) > ACTIVE_LINE)
    return (x0 + left) * k, (y0 + top) * k, (x0 + right) * k, (y0 + bottom) * k


def _longest_run(active: np.ndarray) -> tuple[int, int]:
    """Start and end (exclusive) of the longest run of True, gaps of one False bridged."""
    active = active.copy()
    active[1:-1] |= active[:-2] & active[2:]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    if len(starts) == 0:
        return 0, len(active)
    i = int(np.argmax(ends - starts))
    return int(starts[i]), int(ends[i])


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
