"""Where the health code is on a page: a square of dense two-way texture, found without a model.

Two readers of the page use it: the time reader (health_code_time reads the lines around the
code first) and the classifier's closer look (health_code_locate crops the page around the
code, for pages where the whole page at the classifier's resolution was not enough).

The code is found without a model: a QR code is a square of dense texture that changes colour
both across and along, which the text detector does not take for text. Edges are counted per
direction in a small copy of the page (any colour channel: a yellow code on white, a red one on a
dark card), text the detector found is masked out, and the biggest square, solid blob of dense
two-way texture is the code. Card outlines and rules change one way only; photos of scenes are
smooth at this scale.

Blobs are found from horizontal runs joined row to row (runs, blobs), numpy only; the time
reader's text boxes use the same two. Where that finds nothing, the closer look asks a QR reader
(zxing-cpp), which finds a code by its finder patterns even where blur has smoothed the texture
below the edge threshold, and is not fooled by a square of a photo's noise.

The finder check: a health code is a QR code, and a QR code shows three finder squares wherever
it is sharp enough to be scanned. shows_finder asks the QR reader for them in a tensor (the first
look's, or the closer look's view); sharpness says whether a view is sharp enough that their
absence means something. A status-coloured square of texture with no finder squares in a sharp
view (a Data Matrix, an Aztec code, a grid, a maze) is not a health code, however it looks to the
classifier, which has learnt "a square of status-coloured texture" (training/MODEL_CARD.md).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from types import ModuleType
from typing import NamedTuple

import numpy as np
import zxingcpp
from PIL import Image, ImageChops, ImageFilter, ImageOps

Box = tuple[float, float, float, float]  # x0, y0, x1, y1

LOCATE_LONG_SIDE_PX = 400  # the page is reduced (by an integer factor) to about this
# ... and, for the finder check where nothing is found at that size, to about this: a coarse
# symbol (modules of ~6 px at 400, wider than the density window) falls apart into small patches
# there; at 200 a tall one still did (benchmarks/NOTES.md, the finder check for coarse symbols).
COARSE_LONG_SIDE_PX = 133
# ... up to this many times as long as wide: a tall coarse PDF417 look-alike (1.8:1, its card round
# it) answered red at 1.0 on fresh seed 84 passed the square search's MAX_ASPECT; at 2.0 no
# renderer colour page changes, and 3 of the 18 status-coloured symbols of seeds 74-84 that kept a
# colour are withdrawn (2.5 and 3.0 the same; benchmarks/NOTES.md, stop 63).
COARSE_MAX_ASPECT = 2.0
EDGE_STEP = 32  # a change of this much in any channel over 2 px is an edge (soft edges too)
# ... and for a blurred code, where a closer look locates no code: a photo's blur can spread a
# code's edges past EDGE_STEP over 2 px, and the code check then withdrew right
# colours of big, plainly visible codes (20 of the renderer's colour pages in test, `portal`,
# photos and every effect). Half the step frames 19 of them, but also noise and flat squares in a
# photo (a third of the renderer's invalid photos with no code found), so such a box is flagged
# (CloserLook.blurred) and keeps a colour only where its view agrees (benchmarks/NOTES.md, stop 60).
BLURRED_EDGE_STEP = 16
WINDOW_FRACTION = 1 / 100  # the density window's half side, of the reduced page's long side
MIN_DENSITY = 0.08  # of the window's pixels, edges in each direction
MIN_SIDE = 0.05  # of the page's short side: a smaller square is an icon
MIN_FILL = 0.45  # of the blob's bounding box: a code is solid, a ring of rules is not
MAX_ASPECT = 1.7  # a code is square (a photo's perspective stretches it a little)
# ... but where no code is found, the finder check also looks for a wide symbol at
# LOCATE_LONG_SIDE_PX: a rectangular Data Matrix (up to 1:3) or a PDF417 is no health code either,
# and the square search passes it by, so a sure colour stood for it (a Data Matrix screenshot of
# fresh seed 69, green at 0.9993). In no renderer colour page of the test, `portal`, photo and
# every-effect sets did such a search frame a sharp view without finder squares; at
# COARSE_LONG_SIDE_PX it framed one (a button under a code the locator missed), so coarse ones stay
# square (benchmarks/NOTES.md, stop 59).
WIDE_ASPECT = 4.0
TEXT_THRESHOLD = 0.3  # the detector's probability above which a pixel is text
ACTIVE_LINE = 0.04  # a row or column of the code has edges in at least this share of its pixels
# The code's share of the width of code_view: a look close enough for QR texture, wide enough for
# the card around it (on independent photos 0.55 found one more code than 0.35, and no false
# colour where 0.35 gave one: benchmarks/NOTES.md, the closer look).
CODE_SHARE = 0.55
# The closer look decodes the page (JPEGs DCT-scaled) to fit this many times the classifier's
# input: a code the whole page shows at ~1.5 px a module is seen at ~3, which the locator finds
# and the view keeps.
LOOK_SCALE = 2
# The QR reader reads the page decoded to fit this many times the classifier's input: it needs
# ~2 px a module where the locator needs texture (on the independent pages the locator missed, it
# found 31 codes of 31 at 3x and 20 at 2x).
READ_SCALE = 3
# The finder check's close read, where neither the view nor the page shows finder squares and the
# view is softer than CLOSE_READ_BELOW: the code's box (and a margin of this share of its side)
# in the page decoded to fit CLOSE_SCALE times the classifier's input. A photographed code soft
# in the view often shows its finder squares at twice its resolution (a quarter of the renderer's
# soft colour codes); a sharp view is not read closer: there the reader finds finder-like
# patterns in grids of random modules (3 of 1,550 symbols; benchmarks/NOTES.md, the close read).
CLOSE_SCALE = 4
CLOSE_MARGIN = 0.15
CLOSE_READ_BELOW = 0.62
# ... read as it is, then with its edges steepened (an unsharp mask of 2 px at CLOSE_SCALE): of
# 17 soft renderer codes no read found finder squares in, 9 show them so, and none of 68 symbols
# whose view answers a colour (radius 1-3 px, 150-400%: 6-9 and 0; benchmarks/NOTES.md, stop 58).
CLOSE_SHARPENED = ImageFilter.UnsharpMask(radius=2, percent=250, threshold=0)
# ... and last stretched to full contrast (the darkest and lightest CLOSE_STRETCH_CUT % of pixels
# made black and white) before it is steepened: a photo's glare or a dim screen leaves a soft code
# too little contrast for the reader's binarizers. Of 28 renderer colour pages refused with a view
# of their own colour at 0.995 or more and no finder squares seen, 8 show them so; of 444 invalid
# pages whose view answers a colour at 0.9 or more (independent seeds 65-69), none (a 4 px mask
# without the stretch: 7 and 1; benchmarks/NOTES.md, stop 60).
CLOSE_STRETCH_CUT = 2
# ... and last enlarged CLOSE_ENLARGED times (bicubic) and steepened at that scale: a dense code a
# photo's own pixels hold at ~2 px a module (no decode of the page can give the close read more)
# shows its finder squares to the reader at ~6. Of the 15 renderer colour pages of `make
# evaluate`'s test, `portal` and photo sets whose sure colour went unanswered for want of finder
# squares, 5 show them so. Of 1,802 invalid independent pages (seeds 74-79) whose located code
# showed none in the view or the page, 117 have a view soft enough for the close read, and the
# enlarged read finds some in one: a status-coloured calendar whose view answers invalid
# (benchmarks/NOTES.md, stop 61). ~13 CPU-ms more a look where no read finds them.
CLOSE_ENLARGED = 3
CLOSE_ENLARGED_SHARPENED = ImageFilter.UnsharpMask(
    radius=2 * CLOSE_ENLARGED, percent=250, threshold=0
)
# ... and where the close read shows none, whether the close-up decodes as a 2-D symbol of another
# kind: a decoded symbol's modules are resolved (its view counts as sharp, RESOLVED) and it has no
# finder squares to show, so it is no health code. Valid decodes only: the reader locates a
# "Data Matrix" in real QR codes (12 of 174 soft renderer colour pages) but decodes none there; an
# Aztec code photographed at ~3 px a module decodes where its view, at 0.54 sharp, is too soft for
# the finder check (4 of the 14 status-coloured symbols of independent seeds 74-81 whose soft view
# kept a colour; benchmarks/NOTES.md, stop 62).
OTHER_SYMBOLS = (
    zxingcpp.BarcodeFormat.Aztec,
    zxingcpp.BarcodeFormat.DataMatrix,
    zxingcpp.BarcodeFormat.PDF417,
    zxingcpp.BarcodeFormat.MaxiCode,
)
RESOLVED = 1.0
# ... and where the view is too enlarged to judge (sharpness 0: edges wider than MAX_EDGE_WIDTH),
# it may frame one patch of a coarse symbol that the locator's own scale splits (a PDF417
# look-alike, a maze, a grid): where the coarse copy (COARSE_LONG_SIDE_PX) frames a square that
# holds at least WHOLE_HOLDS of the box and is at least PATCH_AREA times its area, that square's
# view is judged instead, where it shows no finder squares and is at least WHOLE_SHARP sharp. Of
# the 8 symbols of independent seeds 74-81 whose colour such a patch's view kept, 7 have a whole
# view 0.83-0.92 sharp; of the 122 right renderer colours with a 0.0 view, the sharpest whole
# view that holds the box so is 0.52 (a blurred code in its card), hence a bar well above both
# that and the finder check's own (benchmarks/NOTES.md, stop 62).
WHOLE_HOLDS = 0.9
PATCH_AREA = 4.0
WHOLE_SHARP = 0.7
NO_CODE = np.zeros(4, np.float32)
# The finder check reads each channel of a tensor twice, with zxing-cpp's local-average binarizer
# and its global-histogram one: on the renderer's colour pages the second found codes in flat
# colour the first missed, and neither found a finder in any of the independent symbols
# (benchmarks/NOTES.md, the finder check).
_BINARIZERS = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram)
# read_qr: the QR family's symbols with one finder square, and where their finder's quiet zone is
# looked for: 1.5 modules beyond its outer edges, inside the 2 modules of quiet zone the smallest
# QR symbols have (4 for a QR code), on the dark ring 2 modules round the square an Aztec
# bullseye's rings show the reader; and the share of those pixels that must be quiet.
_ONE_FINDER = (zxingcpp.BarcodeFormat.MicroQRCode, zxingcpp.BarcodeFormat.RMQRCode)
# ... and where the reader finds an Aztec code (decodable or not: located is enough), a one-finder
# symbol in it is that code's bullseye, whatever its rings look like 1.5 modules out.
_AZTEC = zxingcpp.BarcodeFormat.Aztec
QUIET_AT = 1.5
QUIET_SHARE = 0.85
# code_ink: no QR code decoded in the page (it reads the close read's decode, CLOSE_SCALE: of 94
# refused colour pages of the renderer it decoded 24 codes there, 23 at full size, 21 at 3x).
NO_INK = np.zeros(3, np.float32)
# sharpness: the middle this many pixels a side of a view (its code: the view is centred on it),
# and the contrast under which a view has no edges to speak of (levels of 255).
SHARPNESS_WINDOW = 120
MIN_CONTRAST = 40
# ... and the edge width (view pixels) over which a view says nothing of finder squares, however
# coarse the square it frames: a module of a 33-module QR code (version 4) at CODE_SHARE of the
# view's width. A coarse square seen through a photo's blur, or the wrong square on a page whose
# code is a blur, must not withdraw a colour (benchmarks/NOTES.md, the finder check's sharpness).
MAX_EDGE_WIDTH = 4.0


def _window_sums(a: np.ndarray, r: int) -> np.ndarray:
    """Sums over (2r+1)^2 windows centred on each pixel (zero outside), same shape as a."""
    h, w = a.shape
    # In place in int32 (a cumsum would widen to int64 and copy): 3x faster on a 540 x 720 page.
    c = np.zeros((h + 2 * r + 1, w + 2 * r + 1), np.int32)
    c[r + 1 : r + 1 + h, r + 1 : r + 1 + w] = a
    np.cumsum(c, axis=0, out=c)
    np.cumsum(c, axis=1, out=c)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def locate_code(image: Image.Image, probability: np.ndarray) -> Box | None:
    """The code's box in image pixels, or None when no code-like square is found.

    `probability` is the text detector's map for the page (any size): text is not a code. But the
    detector may take a blurred or tilted code for text too (one big blob over it and the lines
    around it): when nothing code-like is left beside the text, the page is looked at again
    without it. A wrong box costs at most a look at the wrong region, never a wrong reading.
    """
    found = _locate(image, probability)
    return found if found is not None or probability is None else _locate(image, None)


def _locate(
    image: Image.Image, probability: np.ndarray | None, long_side: int = LOCATE_LONG_SIDE_PX
) -> Box | None:
    """locate_code's search, with what the map holds as text masked out (none without a map), in
    the page reduced to about `long_side` pixels."""
    return _best(_blobs(image, probability, long_side), MAX_ASPECT)


class _Blob(NamedTuple):
    """A solid blob of dense two-way texture: its count of dense pixels, its box in image pixels,
    and how many times as long as wide it is (before or after its trim, whichever is more)."""

    count: int
    box: Box
    aspect: float


def _best(blobs: list[_Blob], max_aspect: float) -> Box | None:
    """The box of the blob with the most dense pixels of those at most `max_aspect` long."""
    fitting = [b for b in blobs if b.aspect <= max_aspect]
    return max(fitting, key=lambda b: b.count).box if fitting else None


def _blobs(
    image: Image.Image,
    probability: np.ndarray | None,
    long_side: int,
    edge_step: int = EDGE_STEP,
) -> list[_Blob]:
    """_locate's candidates, up to WIDE_ASPECT long: one pass serves the square search and,
    where it finds none, the wide one."""
    k = max(1, max(image.size) // long_side)
    # Channel by channel, each contiguous: a max over the last axis of an (h, w, 3) array costs
    # five times as much (15 against 3 ms on a 540 x 720 page).
    channels = np.asarray(image.reduce(k) if k > 1 else image, dtype=np.int16).transpose(2, 0, 1)
    h, w = channels.shape[1:]
    across = np.zeros((h, w), bool)
    along = np.zeros((h, w), bool)
    for c in np.ascontiguousarray(channels):
        across[:, 2:] |= np.abs(c[:, 2:] - c[:, :-2]) > edge_step
        along[2:, :] |= np.abs(c[2:, :] - c[:-2, :]) > edge_step
    r = max(2, round(max(w, h) * WINDOW_FRACTION))
    if probability is None:
        text_near = np.zeros((h, w), bool)
    else:
        text = Image.fromarray((probability > TEXT_THRESHOLD).astype(np.uint8)).resize((w, h))
        text_near = _window_sums(np.asarray(text), r // 2 + 1) > 0
    counts = [_window_sums(e & ~text_near, r) for e in (across, along)]
    dense = np.minimum(*counts) > MIN_DENSITY * (2 * r + 1) ** 2
    found = []
    for x0, y0, x1, y1, count in blob_bounds(dense):
        bw, bh = x1 - x0, y1 - y0
        if min(bw, bh) - 2 * r < MIN_SIDE * min(w, h) or count < MIN_FILL * bw * bh:
            continue
        if max(bw, bh) > WIDE_ASPECT * min(bw, bh):
            continue
        # The window widened the blob, and may have joined it to text just beside the code that
        # the detector missed (a small clock): keep the longest stretch of rows, then of columns,
        # that have edges, which a blank gap between the code and its neighbours ends. What is
        # left must still be a code's square: a paragraph that the window joined into a square
        # leaves one line of text.
        edges = (across | along)[y0:y1, x0:x1] & ~text_near[y0:y1, x0:x1]
        top, bottom = _longest_run(edges.mean(axis=1) > ACTIVE_LINE)
        left, right = _longest_run(edges[top:bottom].mean(axis=0) > ACTIVE_LINE)
        side, long = sorted((right - left, bottom - top))
        if side < MIN_SIDE * min(w, h):
            continue
        aspect = max(max(bw, bh) / min(bw, bh), long / side)
        box = ((x0 + left) * k, (y0 + top) * k, (x0 + right) * k, (y0 + bottom) * k)
        found.append(_Blob(count, box, aspect))
    return found


def read_qr(
    grey: Image.Image | np.ndarray,
    plain: np.ndarray | None = None,
    one_finder: bool = True,
    **options: object,
) -> list[zxingcpp.Result]:
    """The QR codes the QR reader finds in a greyscale image, decodable or not (return_errors: a
    code it locates but cannot decode, a photo's blur or a logo over its middle, is still a code),
    less the one-finder symbols whose finder square has no quiet zone outside it.

    zxing-cpp's QRCode format is the QR family: it also reports Micro QR and rMQR codes, which
    have one finder square. The reader takes one finder of a health code it cannot read whole for
    one (so they count), but also the bullseye of an Aztec code, whose rings pass for a finder
    square. A finder square sits at a corner of its symbol, with light quiet zone outside its two
    outer edges; a bullseye sits in the middle of its symbol, with rings and data all round
    (benchmarks/NOTES.md, the finder check and Aztec codes); and one inside an Aztec code the
    reader locates in `plain` (the grey a grown one was grown from: growing the modules smears
    an Aztec code's rings; default `grey`) is that code's bullseye. Without `one_finder`, no
    one-finder symbol counts."""
    found = zxingcpp.read_barcodes(
        grey, formats=zxingcpp.BarcodeFormat.QRCode, return_errors=True, **options
    )
    if all(r.format not in _ONE_FINDER for r in found):
        return found
    if not one_finder:
        return [r for r in found if r.format not in _ONE_FINDER]
    pixels = np.asarray(grey)
    aztecs = _aztecs(pixels if plain is None else plain)
    return [
        r
        for r in found
        if r.format not in _ONE_FINDER
        or (_quiet_outside(pixels, r) and not any(_within(r, aztec) for aztec in aztecs))
    ]


def _aztecs(grey: np.ndarray) -> list[np.ndarray]:
    """The corners of the Aztec codes the reader locates in a grey (decodable or not), with
    either binarizer: one often locates a code the other misses."""
    return [
        _corners(r)
        for binarizer in _BINARIZERS
        for r in zxingcpp.read_barcodes(
            grey, formats=_AZTEC, return_errors=True, binarizer=binarizer
        )
    ]


def _within(result: zxingcpp.Result, corners: np.ndarray) -> bool:
    """Whether the middle of a symbol the reader found lies inside the bounding box of corners."""
    x, y = _corners(result).mean(axis=0)
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return bool(x0 <= x <= x1 and y0 <= y <= y1)


def _quiet_outside(grey: np.ndarray, result: zxingcpp.Result) -> bool:
    """Whether the pixels QUIET_AT modules beyond the outer edges of a one-finder symbol's finder
    square (at its top-left corner, in the symbol's own orientation) are mostly of the quiet
    zone's shade: light where the finder's centre is dark, dark where it is light. Pixels beyond
    the image count as quiet: the picture's edge is no data."""
    symbol = _corners(result)
    top_left, top_right, _, bottom_left = symbol
    across, down = _modules_of(result)
    step_x, step_y = (top_right - top_left) / across, (bottom_left - top_left) / down
    along = np.linspace(0.0, 7.0, 15)[:, None]  # the finder square is 7 modules a side
    band = np.concatenate(
        [
            top_left - QUIET_AT * step_x + along * step_y,
            top_left - QUIET_AT * step_y + along * step_x,
            [top_left - QUIET_AT * (step_x + step_y)],
        ]
    )
    h, w = grey.shape
    xs, ys = np.rint(band[:, 0]).astype(int), np.rint(band[:, 1]).astype(int)
    inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    x0, y0 = np.clip(symbol.min(axis=0).astype(int), 0, (w - 1, h - 1))
    x1, y1 = np.clip(symbol.max(axis=0).astype(int), 0, (w - 1, h - 1)) + 1
    low, high = np.percentile(grey[y0:y1, x0:x1], (10, 90))
    middle = (low + high) / 2
    cx, cy = np.clip(np.rint(top_left + 3.5 * (step_x + step_y)), 0, (w - 1, h - 1)).astype(int)
    light = grey[ys[inside], xs[inside]] >= middle
    quiet = light if grey[cy, cx] < middle else ~light
    return int(quiet.sum()) + int((~inside).sum()) >= QUIET_SHARE * len(band)


def _corners(result: zxingcpp.Result) -> np.ndarray:
    """The corners of a symbol the reader found, (x, y) from its top-left clockwise: 4 x 2."""
    p = result.position
    corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
    return np.array([(c.x, c.y) for c in corners], np.float64)


def _modules_of(result: zxingcpp.Result) -> tuple[int, int]:
    """A one-finder symbol's modules along its top edge and its left edge, from the version the
    reader found (Micro QR M1-M4: 11-17 a side; rMQR R<height>x<width>); 13 where it found none."""
    version = str((result.extra or {}).get("Version", ""))
    if micro := re.fullmatch(r"M([1-4])", version):
        side = 9 + 2 * int(micro[1])
        return side, side
    if rectangular := re.fullmatch(r"R(\d+)x(\d+)", version):
        return int(rectangular[2]), int(rectangular[1])
    return 13, 13


def code_ink(page: Image.Image) -> np.ndarray:
    """The ink of the largest QR code the reader decodes in `page`: the median colour of its dark
    modules' centres, RGB in [0, 1], white-balanced against its light modules (the paper: a
    photo's colour cast is the light's, divided out); an inverted code (light modules darker, a
    dark card's) as it is. NO_INK where no QR code decodes.

    A health code's status is the colour of its modules; a decoded code says for certain where
    they are, where a box's darkest pixels may be a card's text or icons (benchmarks/NOTES.md,
    the code's ink)."""
    codes = [
        r
        for r in zxingcpp.read_barcodes(page.convert("L"), formats=zxingcpp.BarcodeFormat.QRCode)
        if r.valid and r.format == zxingcpp.BarcodeFormat.QRCode
    ]
    if not codes:
        return NO_INK
    code = max(codes, key=lambda r: _area(_corners(r)))
    dark = np.asarray(code.to_image(scale=1, add_quiet_zones=False)) < 128
    if (code.extra or {}).get("IsMirrored"):
        dark = dark.T
    rows, cols = dark.shape
    corners = _corners(code)
    try:
        to_page = _homography(np.array([(0, 0), (cols, 0), (cols, rows), (0, rows)]), corners)
    except np.linalg.LinAlgError:  # corners on a line: no grid to map (a reader's odd result)
        return NO_INK
    ys, xs = np.mgrid[0:rows, 0:cols] + 0.5
    at = to_page @ np.stack([xs.ravel(), ys.ravel(), np.ones(rows * cols)])
    # Only the code's bounding box becomes an array: the whole page would cost ~6 ms more.
    x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, None)
    rgb = np.asarray(
        page.crop((x0, y0, *np.ceil(corners.max(axis=0)).astype(int) + 1)).convert("RGB")
    )
    h, w = rgb.shape[:2]
    px = np.clip(np.floor(at[0] / at[2]).astype(int) - x0, 0, w - 1)
    py = np.clip(np.floor(at[1] / at[2]).astype(int) - y0, 0, h - 1)
    seen = rgb[py, px].astype(np.float32)
    ink, paper = np.median(seen[dark.ravel()], axis=0), np.median(seen[~dark.ravel()], axis=0)
    if ink.sum() < paper.sum():
        return np.clip(ink / np.maximum(paper, 1.0), 0.0, 1.0).astype(np.float32)
    return (ink / 255).astype(np.float32)


def _area(corners: np.ndarray) -> float:
    """The area of a quadrilateral (shoelace)."""
    x, y = corners[:, 0], corners[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 projective map taking four source points (x, y) to four target points."""
    rows = []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    solved = np.linalg.solve(np.array(rows, np.float64), target.reshape(-1).astype(np.float64))
    return np.append(solved, 1.0).reshape(3, 3)


def read_code_box(image: Image.Image) -> Box | None:
    """The box of a QR code a QR reader finds in the page (decodable or not), or None.

    Read twice: in luminance, and in each pixel's darkest channel, where a yellow or red code on
    white has its full contrast (in luminance a yellow module is only ~60 levels from white).
    """
    r, g, b = image.convert("RGB").split()
    # PIL's per-pixel minimum: numpy's min over the channel axis costs ten times as much.
    darkest = ImageChops.darker(ImageChops.darker(r, g), b)
    for grey in (image.convert("L"), darkest):
        # try_invert off: codes are dark on light.
        found = read_qr(grey, try_invert=False)
        if found:
            corners = _corners(found[0])
            (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
            return float(x0), float(y0), float(x1), float(y1)
    return None


def shows_finder(pixels: np.ndarray, one_finder: bool = True) -> bool:
    """Whether the QR reader finds a QR code (decodable or not: it has found the finder squares)
    in a UINT8 CHW tensor; without `one_finder`, a QR code's three finder squares only (read_qr).

    Read in each pixel's darkest channel (a yellow or red code on a light card) and brightest (a
    light code on a dark one; the reader tries inverted images too), each also with its dark and
    then its light modules grown by a pixel (3 x 3 minimum, maximum), which closes a finder square
    drawn in round dots. Stops at the first find: ~0.3 ms where the first read finds the code,
    ~1.5 ms where none does (benchmarks/NOTES.md).
    """
    for grey, plain in _finder_channels(pixels):
        for binarizer in _BINARIZERS:
            if read_qr(grey, plain, one_finder, binarizer=binarizer):
                return True
    return False


def first_look_shows_finder(pixels: np.ndarray) -> bool:
    """The finder check of a first look's tensor: a QR code's three finder squares, a code found
    (the colour needs no closer look). A one-finder find does not count there: at the whole
    page's ~1 px a module an Aztec code's bullseye passes for a Micro QR code's finder square, too
    small for the reader to locate the Aztec code round it, and its colour stood unchecked (6 of
    the 18 status-coloured symbols of independent seeds 74-84 answered a colour). Such a page
    gets the closer look, whose view, at twice the resolution, tells the two apart; 54 of the
    renderer's 6,160 evaluation pages take one more look, one right colour is withdrawn
    (benchmarks/NOTES.md, stop 63)."""
    return shows_finder(pixels, one_finder=False)


def _finder_channels(pixels: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """shows_finder's greys in turn, each made only if the ones before showed no finder, each
    with the grey it was grown from (itself where it was not)."""
    darkest = pixels.min(axis=0)
    yield darkest, darkest
    brightest = pixels.max(axis=0)
    yield brightest, brightest
    yield _grown(darkest, np.minimum), darkest
    yield _grown(brightest, np.maximum), brightest


def _grown(grey: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """A 3 x 3 minimum (pick=np.minimum) or maximum filter of a 2-D array, edges repeated.
    (PIL's MinFilter costs ~8 ms on a 400 x 240 tensor, these nine numpy passes ~0.3.)"""
    h, w = grey.shape
    padded = np.pad(grey, 1, mode="edge")
    out = grey.copy()
    for dy in range(3):
        for dx in range(3):
            pick(out, padded[dy : dy + h, dx : dx + w], out=out)
    return out


def sharpness(pixels: np.ndarray) -> float:
    """How sharp the middle of a UINT8 CHW view is for the size of its own texture: 1 - the
    edges' width / the texture's pitch, in its darkest channel (2nd to 98th percentile as black
    and white). 0 where the contrast is under MIN_CONTRAST or the edges are wider than
    MAX_EDGE_WIDTH pixels.

    Edge width: the pixels between 10% and 90% of the contrast, per crossing of half of it.
    Pitch: the mean run between two crossings, across and along. A QR code whose edges are narrow
    against its modules shows finder squares the QR reader finds, however much the view enlarges
    a small code (an enlargement widens edges and modules alike); a photo's blur widens edges
    only. Sharp codes score ~0.7-0.9, photos of codes the reader cannot resolve ~0.3-0.6.
    """
    grey = pixels.min(axis=0)
    h, w = grey.shape
    half = SHARPNESS_WINDOW // 2
    middle = grey[max(0, h // 2 - half) : h // 2 + half, max(0, w // 2 - half) : w // 2 + half]
    low, high = np.percentile(middle, (2, 98))
    if high - low < MIN_CONTRAST:
        return 0.0
    level = (middle - np.float32(low)) / np.float32(high - low)
    dark = level < 0.5
    across, along = _crossings(dark), _crossings(dark.T)
    crossings, span, runs = (a + b for a, b in zip(across, along, strict=True))
    if runs == 0:
        return 0.0
    width = np.count_nonzero((level > 0.1) & (level < 0.9)) / crossings
    if width > MAX_EDGE_WIDTH:
        return 0.0
    return float(max(0.0, 1.0 - width * runs / span))


def _crossings(dark: np.ndarray) -> tuple[int, int, int]:
    """Along each row of a bool array: the crossings between dark and light in all, and over the
    rows with two or more, the pixels from the first to the last and the whole runs between."""
    changes = dark[:, 1:] != dark[:, :-1]
    count = changes.sum(axis=1)
    first = changes.argmax(axis=1)
    last = changes.shape[1] - 1 - changes[:, ::-1].argmax(axis=1)
    inner = count >= 2
    return int(count.sum()), int((last - first)[inner].sum()), int((count - 1)[inner].sum())


def _read_code_box_at_scale(data: bytes, imaging: ModuleType, image: Image.Image) -> Box | None:
    """read_code_box on the page at about READ_SCALE times the classifier's input; the box in
    the pixels of `image`, the closer look's decode."""
    height, width = imaging.INPUT_SHAPE[1:]
    box = (READ_SCALE * height, READ_SCALE * width)
    page = _reduced_to(_page_at(data, imaging, image, box), box)
    found = read_code_box(page)
    if found is None:
        return None
    sx, sy = image.width / page.width, image.height / page.height
    return found[0] * sx, found[1] * sy, found[2] * sx, found[3] * sy


def _page_at(
    data: bytes, imaging: ModuleType, image: Image.Image, box: tuple[int, int]
) -> Image.Image:
    """The page decoded to fit a (height, width) box: `image`, the look's decode, where it is
    whole (a PNG) or already that large; else the bytes decoded again, larger (a JPEG is
    DCT-scaled to the look's size)."""
    whole = imaging.sniff_format(data) == "png"
    fits = image.height >= box[0] or image.width >= box[1]
    return image if whole or fits else imaging.decode_upright(data, box)


def _reduced_to(image: Image.Image, box: tuple[int, int]) -> Image.Image:
    """`image` reduced by an integer factor to about a (height, width) box, for the QR reader:
    a box filter (~1 ms) rather than a resize to the box (~6 ms); the reader scans smaller
    copies itself."""
    k = int(max(image.height / box[0], image.width / box[1]))
    return image.reduce(k) if k > 1 else image


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


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal runs of True: row, start, end (exclusive), ordered by row then start."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    rows, cols = np.nonzero(np.diff(padded, axis=1))
    # Edges alternate start, end within a row because every row starts and ends with False.
    return rows[0::2], cols[0::2], cols[1::2]


def blobs(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Label runs that touch (8-connected) with one id per blob."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.searchsorted(rows, np.arange(rows.max() + 2)) if len(rows) else np.zeros(1, int)
    for r in range(len(first) - 2):
        a0, a1, b1 = first[r], first[r + 1], first[r + 2]
        j = a1
        for i in range(a0, a1):  # both rows are sorted by start: one sweep pairs the overlaps
            while j < b1 and ends[j] < starts[i]:
                j += 1
            k = j
            while k < b1 and starts[k] <= ends[i]:
                ri, rk = root(i), root(k)
                if ri != rk:
                    parent[rk] = ri
                k += 1
    return np.array([root(i) for i in range(len(rows))], dtype=np.int64)


def blob_bounds(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """The 8-connected blobs of a bool mask: x0, y0, x1, y1 (exclusive) and pixel count of each."""
    rows, starts, ends = runs(mask)
    if len(rows) == 0:
        return []
    labels = blobs(rows, starts, ends)
    order = np.argsort(labels, kind="stable")
    found = []
    for group in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        r, s, e = rows[group], starts[group], ends[group]
        count = int((e - s).sum())
        found.append((int(s.min()), int(r.min()), int(e.max()), int(r.max()) + 1, count))
    return found


def code_view(image: Image.Image, code: Box, box: tuple[int, int], fill: int) -> np.ndarray:
    """The page around the code as a UINT8 CHW array of shape (3, *box), box = (height, width).

    The view has the box's shape, is centred on the code and CODE_SHARE of it wide (the classifier
    was trained on codes 20-80% of the page's width); what lies outside the image is `fill`, as
    the letterbox's padding is.
    """
    x0, y0, x1, y1 = code
    width = max(x1 - x0, y1 - y0) / CODE_SHARE
    height = width * box[0] / box[1]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = round(cx - width / 2), round(cy - height / 2)
    view = Image.new("RGB", (round(width), round(height)), (fill, fill, fill))
    right, bottom = round(cx + width / 2), round(cy + height / 2)
    inside = image.crop((max(0, left), max(0, top), right, bottom))
    view.paste(inside, (max(0, -left), max(0, -top)))
    view = view.resize(box[::-1], Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(view).transpose(2, 0, 1))


def look_closer(data: bytes, imaging: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """The closer look at an image: (the view around its code in the classifier's input shape,
    the code's box as fractions of the upright image); a blank view and NO_CODE when the page
    has no code-like square. `imaging` is the family's imaging.py (its decoding rules, input
    shape and padding); its ImageError for unusable bytes."""
    view, box, *_ = _look(data, imaging)
    return view, box


class CloserLook(NamedTuple):
    """look_closer_checked's answer: the view and the code's box (look_closer's, or a blurred
    code's), the finder check of what it saw, the view's sharpness (RESOLVED for a decoded symbol
    of another kind, the whole symbol's for a view of one patch: look_closer_checked), the ink of
    a QR code decoded in the page, and whether the box is a blurred code's (BLURRED_EDGE_STEP)."""

    view: np.ndarray
    box: np.ndarray
    finder: bool
    sharpness: float
    ink: np.ndarray
    blurred: bool = False


def look_closer_checked(
    data: bytes, imaging: ModuleType, read_ink: bool = True, find_blurred: bool = True
) -> CloserLook:
    """look_closer, and the finder check of what it saw: whether a QR code's finder squares show
    in the view or, where they do not, the QR reader finds a QR code in the look's decode of the
    page (the view may frame the wrong square, a card's icons beside a small code: ~3 ms, paid
    only where the view shows none) or, for a soft view, in the code's box at CLOSE_SCALE
    (_close_read: ~11-30 ms, paid only where neither shows one); the view's sharpness (RESOLVED
    where the close read shows none and the close-up decodes as another kind of symbol:
    reads_other_symbol; for a view too enlarged to judge, the whole symbol's, _whole_sharpness,
    where the view frames a patch of it); and the ink of a QR code decoded in the page at
    CLOSE_SCALE (code_ink; the decode at CLOSE_SCALE and the read: ~16 ms on a 2-core VM) with
    `read_ink`, or without it where the look saw finder squares (the gateway asks for no ink
    where the first look saw no colour, and there counts a view's colour only where a QR code's
    ink confirms it: where finder squares show, a code may decode), else NO_INK.

    No code located: the view is blank and the box NO_CODE (unless a blurred code is found,
    below), and the finder check is of a symbol
    where the page has one (the QR reader has found no QR code in it): a coarse one (a square of
    texture, or one up to COARSE_MAX_ASPECT long, in a coarser copy of the page, modules too big
    for the locator at its own size), else
    a wide one (up to WIDE_ASPECT at the locator's size); else False and 0. A sharp coarse or
    rectangular Data Matrix, or a PDF417, is no health code either.

    Where no code is found and `find_blurred`, a blurred code is looked for too
    (BLURRED_EDGE_STEP, ~13 ms on a 2-core VM): its view and box are the answer, flagged `blurred`
    (the gateway asks only where it checks a colour: a blurred code answers no refused page). The
    finder check is then of the sharper of the two views, the symbol's and the blurred code's
    (only a sharp view's can withdraw a colour), each view's own finder check alone: a page and
    close read of a blurred code would cost ~15-20 ms and could only change what a soft view
    reports."""
    view, box, image, wide = _look(data, imaging)
    height, width = imaging.INPUT_SHAPE[1:]
    size = (CLOSE_SCALE * height, CLOSE_SCALE * width)
    close = functools.cache(lambda: _page_at(data, imaging, image, size))  # decoded once, if at all

    def ink(found: bool) -> np.ndarray:
        return code_ink(close()) if read_ink or found else NO_INK

    if not box.any():
        symbol = _best(_blobs(image, None, COARSE_LONG_SIDE_PX), COARSE_MAX_ASPECT) or wide
        blurred = (
            _best(_blobs(image, None, LOCATE_LONG_SIDE_PX, BLURRED_EDGE_STEP), MAX_ASPECT)
            if find_blurred
            else None
        )
        views = [
            code_view(image, b, (height, width), imaging.PAD_VALUE) for b in (symbol, blurred) if b
        ]
        sharp, found = max(((sharpness(v), shows_finder(v)) for v in views), default=(0.0, False))
        if blurred is None:
            return CloserLook(view, box, found, sharp, ink(found))
        return CloserLook(views[-1], _fractions(blurred, image), found, sharp, ink(found), True)
    # A PNG comes whole: reduced to about the look's size, as the reader needs.
    page = _reduced_to(image, (LOOK_SCALE * height, LOOK_SCALE * width))
    sharp = sharpness(view)
    found = shows_finder(view) or read_code_box(page) is not None
    if not found and sharp < CLOSE_READ_BELOW:
        close_up = _close_up(close(), box)
        found = _close_read(close_up)
        if not found and reads_other_symbol(close_up):
            sharp = RESOLVED
        elif not found and sharp == 0.0:
            sharp = _whole_sharpness(image, box, imaging)
    return CloserLook(view, box, found, sharp, ink(found))


def _whole_sharpness(image: Image.Image, box: np.ndarray, imaging: ModuleType) -> float:
    """The sharpness of the view of the square the coarse copy of `image` frames round the box
    (fractions of the image) where it is the whole of which the box is a patch, shows no finder
    squares and is at least WHOLE_SHARP sharp; else 0."""
    whole = _locate(image, None, COARSE_LONG_SIDE_PX)
    if whole is None:
        return 0.0
    outer = _fractions(whole, image)
    held = np.clip(np.minimum(outer[2:], box[2:]) - np.maximum(outer[:2], box[:2]), 0, None)
    area = float(np.prod(box[2:] - box[:2]))
    if held.prod() < WHOLE_HOLDS * area or np.prod(outer[2:] - outer[:2]) < PATCH_AREA * area:
        return 0.0
    view = code_view(image, whole, imaging.INPUT_SHAPE[1:], imaging.PAD_VALUE)
    sharp = sharpness(view)
    return sharp if sharp >= WHOLE_SHARP and not shows_finder(view) else 0.0


def _close_up(page: Image.Image, box: np.ndarray) -> Image.Image:
    """The code's box (box: fractions of the page), CLOSE_MARGIN around it, in `page`, the page
    decoded to fit CLOSE_SCALE times the classifier's input."""
    x0, y0, x1, y1 = box * np.array([page.width, page.height, page.width, page.height])
    margin = CLOSE_MARGIN * max(x1 - x0, y1 - y0)
    return page.crop(tuple(round(v) for v in (x0 - margin, y0 - margin, x1 + margin, y1 + margin)))


def _close_read(close_up: Image.Image) -> bool:
    """Whether the close-up shows finder squares as it is or, where it shows none, sharpened
    (CLOSE_SHARPENED: 4-11 CPU-ms more a look on a 2-core VM, benchmarks/NOTES.md stop 58), or
    where neither does, stretched and sharpened (CLOSE_STRETCH_CUT), or enlarged and sharpened
    (CLOSE_ENLARGED); each made only if needed."""
    enlarged = (CLOSE_ENLARGED * close_up.width, CLOSE_ENLARGED * close_up.height)
    crops = (
        lambda: close_up,
        lambda: close_up.filter(CLOSE_SHARPENED),
        lambda: ImageOps.autocontrast(close_up, cutoff=CLOSE_STRETCH_CUT).filter(CLOSE_SHARPENED),
        lambda: close_up.resize(enlarged, Image.Resampling.BICUBIC).filter(
            CLOSE_ENLARGED_SHARPENED
        ),
    )
    return any(
        shows_finder(np.ascontiguousarray(np.asarray(crop().convert("RGB")).transpose(2, 0, 1)))
        for crop in crops
    )


def reads_other_symbol(close_up: Image.Image) -> bool:
    """Whether the reader decodes one of OTHER_SYMBOLS in a close-up's darkest or brightest
    channel (an ink on a light card, a light code on a dark one): ~3 CPU-ms on a 2-core VM."""
    pixels = np.asarray(close_up.convert("RGB"))
    return any(
        zxingcpp.read_barcodes(np.ascontiguousarray(grey), formats=OTHER_SYMBOLS)
        for grey in (pixels.min(axis=2), pixels.max(axis=2))
    )


def _look(
    data: bytes, imaging: ModuleType
) -> tuple[np.ndarray, np.ndarray, Image.Image, Box | None]:
    """look_closer's view and box, the decode of the page it looked at, and where no code was
    found, the box of the wide symbol the same search saw (None: none, or a code was found)."""
    height, width = imaging.INPUT_SHAPE[1:]
    image = imaging.decode_upright(data, (LOOK_SCALE * height, LOOK_SCALE * width))
    blobs = _blobs(image, None, LOCATE_LONG_SIDE_PX)  # locate_code's search, without a text map
    code = _best(blobs, MAX_ASPECT) or _read_code_box_at_scale(data, imaging, image)
    if code is None:
        blank = np.full(imaging.INPUT_SHAPE, imaging.PAD_VALUE, np.uint8)
        return blank, NO_CODE, image, _best(blobs, WIDE_ASPECT)
    view = code_view(image, code, (height, width), imaging.PAD_VALUE)
    return view, _fractions(code, image), image, None


def _fractions(code: Box, image: Image.Image) -> np.ndarray:
    """A box in image pixels as fractions of the image (x0, y0, x1, y1)."""
    w, h = image.size
    return np.array([code[0] / w, code[1] / h, code[2] / w, code[3] / h], np.float32)
