"""Text-line boxes from the text detector's probability map, and upright crops of them.

The detector (PP-OCRv4, a DB network) paints each text line as a blob of high probability that is
a shrunk copy of the line. Decoding: threshold the map, find connected blobs, fit each a rotated
rectangle, grow it back by the DB offset (area * ratio / perimeter), and score it by its mean
probability. numpy only: blobs are found from horizontal runs joined row to row, which is cheap
because a text map holds a few hundred runs, not millions of pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from code_locator import blobs, runs
from PIL import Image

# A pixel belongs to text above this probability. 0.5, not PP-OCR's 0.3: the detector fine-tuned
# on photos (ocr_text_detector version 2) paints blurred lines wider, and at 0.3 neighbouring
# lines (a date over a time) merge (benchmarks/NOTES.md, 2026-12-04 19:30).
PIXEL_THRESHOLD = 0.5
MIN_BOX_SCORE = 0.5  # a blob is kept when its mean probability reaches this
UNCLIP_RATIO = 1.6  # how far a blob is grown back: offset = area * ratio / perimeter
MIN_SIDE_PX = 2.0  # blobs thinner than this (in map pixels) are specks
MAX_BOXES = 400  # a page of noise must not cost more than a page of text
# Boxes that continue one another along a line, this many line heights apart or less, are one
# line: the detector may split "2022-04-12 09:31:07" at its space, or cut off a last digit.
JOIN_GAP_LINES = 0.6


@dataclass(frozen=True)
class TextBox:
    """A rotated rectangle around one text line: corners TL, TR, BR, BL as (x, y)."""

    corners: np.ndarray  # float32 (4, 2)
    score: float
    runs_on: bool = False  # another box lies at its end: the line may go on (mark_runs_on)

    @property
    def width(self) -> float:
        return float(np.linalg.norm(self.corners[1] - self.corners[0]))

    @property
    def height(self) -> float:
        return float(np.linalg.norm(self.corners[3] - self.corners[0]))

    @property
    def center(self) -> tuple[float, float]:
        x, y = self.corners.mean(axis=0)
        return float(x), float(y)

    def scaled(self, sx: float, sy: float) -> TextBox:
        corners = self.corners * np.array([sx, sy], dtype=np.float32)
        return TextBox(corners, self.score, self.runs_on)


def mark_runs_on(lines: list[TextBox], among: list[TextBox]) -> list[TextBox]:
    """The lines, each marked runs_on when a box of `among` (but itself) lies at or just past its
    end, on its line.

    The detector may give a line's last characters to a blob it touches (the frame around a code,
    an icon): "2022-07-15 16:19:36" boxed as "2022-07-15 16:19", whose reading would then be a
    wrong time. A reader must not take such a line's end for the end of what it shows. Points on
    the line's axis from a quarter line height inside its end to half a line height past it are
    tested against every box, all at once (a page may hold MAX_BOXES of them).
    """
    if not lines or not among:
        return lines
    ends = np.stack([b.corners for b in lines])  # (n, 4, 2)
    u = ends[:, 1] - ends[:, 0]
    unit = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-6)
    height = np.linalg.norm(ends[:, 3] - ends[:, 0], axis=1, keepdims=True)
    steps = np.array([-0.25, 0.0, 0.25, 0.5], np.float32)[None, :, None]
    points = ((ends[:, 1] + ends[:, 2]) / 2)[:, None] + (unit * height)[:, None] * steps
    boxes = np.stack([b.corners for b in among])  # (m, 4, 2)
    bu, bv = boxes[:, 1] - boxes[:, 0], boxes[:, 3] - boxes[:, 0]
    d = points[:, :, None] - ((boxes[:, 0] + boxes[:, 2]) / 2)[None, None]  # (n, 4, m, 2)
    inside = (np.abs((d * bu).sum(-1)) <= (bu * bu).sum(-1) / 2) & (
        np.abs((d * bv).sum(-1)) <= (bv * bv).sum(-1) / 2
    )
    itself = np.array([[a is b for b in among] for a in lines])  # (n, m)
    runs_on = (inside & ~itself[:, None]).any(axis=(1, 2))
    return [TextBox(b.corners, b.score, bool(r)) for b, r in zip(lines, runs_on, strict=True)]


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain) of (N, 2) points, counter-clockwise."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64)

    def half(seq: list) -> list:
        out: list = []
        for p in seq:
            while len(out) >= 2:
                (ax, ay), (bx, by) = out[-2], out[-1]
                if (bx - ax) * (p[1] - ay) - (by - ay) * (p[0] - ax) > 0:
                    break
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(pts[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def min_area_rect(points: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
    """The smallest rotated rectangle around points: center, width (along u), height, unit u.

    u is the direction of the longer side, pointing right (x >= 0).
    """
    hull = _hull(points)
    edges = np.roll(hull, -1, axis=0) - hull
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    if len(angles) == 0:
        angles = np.zeros(1)
    cos, sin = np.cos(angles), np.sin(angles)
    along = hull[:, 0:1] * cos + hull[:, 1:2] * sin  # (points, angles)
    across = -hull[:, 0:1] * sin + hull[:, 1:2] * cos
    spans_u = along.max(0) - along.min(0)
    spans_v = across.max(0) - across.min(0)
    best = int(np.argmin(spans_u * spans_v))
    u = np.array([cos[best], sin[best]])
    v = np.array([-sin[best], cos[best]])
    mid_u = (along[:, best].max() + along[:, best].min()) / 2
    mid_v = (across[:, best].max() + across[:, best].min()) / 2
    center = u * mid_u + v * mid_v
    width, height = spans_u[best], spans_v[best]
    if height > width:
        width, height, u = height, width, v
    if u[0] < 0 or (u[0] == 0 and u[1] < 0):
        u = -u
    return center, float(width), float(height), u


def _corners(center: np.ndarray, width: float, height: float, u: np.ndarray) -> np.ndarray:
    v = np.array([-u[1], u[0]])  # u turned a quarter clockwise on screen (y grows downwards)
    hu, hv = u * width / 2, v * height / 2
    return np.array(
        [center - hu - hv, center + hu - hv, center + hu + hv, center - hu + hv], dtype=np.float32
    )


def boxes_from_probability(probability: np.ndarray) -> list[TextBox]:
    """Text-line boxes, in map pixels, from an (H, W) probability map."""
    rows, starts, ends = runs(probability > PIXEL_THRESHOLD)
    if len(rows) == 0:
        return []
    labels = blobs(rows, starts, ends)
    sums = np.concatenate([np.zeros((probability.shape[0], 1)), probability.cumsum(axis=1)], 1)
    run_sums = sums[rows, ends] - sums[rows, starts]
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    found = []
    for group in np.split(order, bounds):
        r, s, e = rows[group], starts[group], ends[group]
        score = float(run_sums[group].sum() / (e - s).sum())
        if score < MIN_BOX_SCORE or (r.max() - r.min() + 1) < MIN_SIDE_PX:
            continue
        # Pixel corners of every run: the blob's outline lies among them.
        xs = np.concatenate([s, e, s, e]).astype(np.float64)
        ys = np.concatenate([r, r, r + 1, r + 1]).astype(np.float64)
        center, width, height, u = min_area_rect(np.stack([xs, ys], axis=1))
        if height < MIN_SIDE_PX:
            continue
        offset = width * height * UNCLIP_RATIO / (2 * (width + height))
        found.append(TextBox(_corners(center, width + 2 * offset, height + 2 * offset, u), score))
    found.sort(key=lambda b: -b.score)
    return join_fragments(found[:MAX_BOXES])


def _continues(boxes: list[TextBox]) -> np.ndarray:
    """(n, n) bool: box i and box j lie on one line, end to end."""
    corners = np.stack([b.corners for b in boxes]).astype(np.float64)
    centre = corners.mean(axis=1)
    along = corners[:, 1] - corners[:, 0]
    width = np.linalg.norm(along, axis=1)
    height = np.linalg.norm(corners[:, 3] - corners[:, 0], axis=1)
    u = along / np.maximum(width, 1e-6)[:, None]
    delta = centre[None, :, :] - centre[:, None, :]  # from i to j
    du = np.abs((delta * u[:, None, :]).sum(-1))
    dv = np.abs(delta[..., 0] * -u[:, None, 1] + delta[..., 1] * u[:, None, 0])
    line = np.maximum(height[:, None], height[None, :])
    parallel = np.abs(u[:, None, 0] * u[None, :, 1] - u[:, None, 1] * u[None, :, 0]) < 0.09
    alike = np.minimum(height[:, None], height[None, :]) >= line / 1.5
    gap = du - (width[:, None] + width[None, :]) / 2
    return parallel & alike & (dv < 0.3 * line) & (gap < JOIN_GAP_LINES * line) & (gap > -line)


def join_fragments(boxes: list[TextBox]) -> list[TextBox]:
    """Boxes that continue one another along a line, joined into one box each."""
    if len(boxes) < 2:
        return boxes
    pairs = np.argwhere(np.triu(_continues(boxes), k=1))
    if len(pairs) == 0:
        return boxes
    group = list(range(len(boxes)))

    def root(i: int) -> int:
        while group[i] != i:
            i = group[i]
        return i

    for i, j in pairs.tolist():
        group[root(j)] = root(i)
    joined: dict[int, list[TextBox]] = {}
    for i, box in enumerate(boxes):
        joined.setdefault(root(i), []).append(box)
    out = []
    for parts in joined.values():
        if len(parts) == 1:
            out.append(parts[0])
            continue
        center, width, height, u = min_area_rect(np.concatenate([b.corners for b in parts]))
        score = float(np.mean([b.score for b in parts]))
        out.append(TextBox(_corners(center, width, height, u), score))
    return out


def crop_line(image: Image.Image, box: TextBox, height_px: int, max_width_px: int) -> Image.Image:
    """The box's contents, turned upright and scaled to height_px (width keeps the aspect)."""
    width_px = int(min(max_width_px, max(height_px, round(height_px * box.width / box.height))))
    tl, tr, br, bl = box.corners.tolist()
    quad = (*tl, *bl, *br, *tr)  # PIL's QUAD order: upper left, lower left, lower/upper right
    return image.transform(
        (width_px, height_px), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR
    )
