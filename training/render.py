"""Synthetic health-code screenshots and phone photos as JPEG/PNG bytes, for training and tests.

The status is the colour of the QR code, never the colour of the UI around it: app bars, hero areas,
icons and buttons take colours drawn independently of the label, and `invalid` holds black or
off-colour QR codes in the very same app layouts, status-coloured badges and placeholders where the
code would be, payment, venue and sampling codes, trip cards, result pages and calendars of
status-coloured cells with no QR code, documents, receipts, abstract scenes, blank and tiny
images. Every factor of an image is a RenderSpec field (training.spec), so any one can be pinned
(for tests, per-factor evaluation, test sets with known shown times):

    from training.render import render, render_sample
    jpeg_or_png = render("green", seed=7)              # everything drawn from the seed
    png = render("red", seed=7, fmt="png", dark=True)  # any RenderSpec field can be pinned
    photo = render("yellow", seed=7, photo=True, rotation=12.0, glare=0.4)
    spec, data = render_sample("green", 7)             # spec.shown_time: the time drawn, or None
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image

from training import photo as capture
from training.colours import UI_COLORS, status_color
from training.fonts import NEUTRAL_WORDS, STATUS_WORDS
from training.home import feed
from training.layouts import LAYOUTS
from training.negatives import payment, venue
from training.scenes import document, random_colour, scene
from training.screens import Screen, sample_theme
from training.spec import (  # noqa: F401 (re-exported: the renderer's public names)
    FORMATS,
    INVALID_KINDS,
    LABELS,
    LAYOUT_KINDS,
    PHONE_SIZES,
    RenderSpec,
    sample_spec,
)
from training.statuses import chart, status_page, trip
from training.timestamps import Stamp, format_shown_time

_NO_EFFECTS = ("blank", "tiny")  # kept as they are: a photo of a blank image is a scene
_PHONE_PAGES = {
    "payment": payment,
    "venue": venue,
    "trip": trip,
    "status": status_page,
    "chart": chart,
    "feed": feed,
}


def _crop_around(
    img: Image.Image, box: tuple[int, int, int, int], rng: random.Random
) -> Image.Image:
    """Cut away a random part of the screen, keeping the code and a margin around it."""
    w, h = img.size
    margin = (box[2] - box[0]) // 10
    left = rng.randint(0, max(0, box[0] - margin) // 2)
    right = rng.randint(min(w, box[2] + margin + (w - box[2]) // 2), w)
    top = rng.randint(0, max(0, box[1] - margin))
    bottom = rng.randint(min(h, box[3] + margin), h)
    return img.crop((left, top, right, bottom))


def _screen(spec: RenderSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
    theme = sample_theme(rng, spec.dark)
    # Dark apps mostly keep the code on a white card; a bright ink may sit on the dark card.
    dark_paper_ok = spec.dark and max(spec.ink) > 150 and rng.random() < 0.4
    paper = theme.card if dark_paper_ok else (rng.randint(245, 255),) * 3
    if spec.label != "invalid":
        words = (*STATUS_WORDS[spec.label], *NEUTRAL_WORDS)
        banner = (rng.choice(words), spec.ink) if rng.random() < 0.5 else None
    else:  # a status banner over a black code must not make it a health code
        words = (*(w for ws in STATUS_WORDS.values() for w in ws), *NEUTRAL_WORDS)
        banner = (rng.choice(words), rng.choice(UI_COLORS)) if rng.random() < 0.3 else None
    # a few apps shade the code between two tones of its status colour
    second = status_color(spec.label, rng) if rng.random() < 0.2 else spec.ink
    inks = (spec.ink, spec.ink if spec.kind != "screen" else second)
    stand_in = spec.kind if spec.kind in ("badge", "placeholder") else ""
    screen = Screen(size, theme, rng, inks, paper, banner, stand_in, stamp(spec))
    box = LAYOUTS[spec.layout](screen)
    if screen.stamp_box is not None:  # a crop keeps the shown time
        box = _union(box, screen.stamp_box)
    return _crop_around(screen.img, box, rng) if spec.crop else screen.img


def stamp(spec: RenderSpec) -> Stamp:
    """The time texts that `spec` puts on its screen."""
    lines = () if spec.shown_time is None else format_shown_time(spec.shown_time, spec.time_format)
    return Stamp(lines, spec.time_position == "above", spec.status_clock)


def _union(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, ...]:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _base(spec: RenderSpec, rng: random.Random) -> Image.Image:
    size = (spec.width, spec.height)
    if spec.photo:  # a camera sees the screen at a lower resolution: draw it there (it is in dp)
        scale = min(1.0, rng.randint(700, 1300) / max(size))
        size = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
    if spec.kind in LAYOUT_KINDS:
        return _screen(spec, size, rng)
    if spec.kind in _PHONE_PAGES:
        return _PHONE_PAGES[spec.kind](size, rng, spec.dark, stamp(spec))
    if spec.kind == "document":
        return document(size, rng)
    if spec.kind in _NO_EFFECTS:  # blank and tiny images are one flat colour
        return Image.new("RGB", size, random_colour(rng))
    return scene(size, rng)


def draw(spec: RenderSpec, rng: random.Random) -> Image.Image:
    """Draw the RGB image that `spec` describes, taking the details from `rng`."""
    return draw_with_map(spec, rng, None)[0]


def draw_with_map(
    spec: RenderSpec,
    rng: random.Random,
    mapping: Callable[[Image.Image], Image.Image] | None,
) -> tuple[Image.Image, Image.Image | None]:
    """draw(), and with `mapping` a map of the page before any capture effect (an 'L' image of its
    size: what is where, e.g. where text is) carried through the photo's or the rotation's
    geometry to where the image shows it. The map takes nothing from `rng`: the image is draw()'s.
    """
    img = _base(spec, rng)
    marks = None if mapping is None else mapping(img)
    if spec.kind in _NO_EFFECTS:
        return img, marks
    # Moiré comes from the screen's pixel grid: drawn before the photo, it bends with the phone.
    if spec.moire:
        img = capture.moire(img, spec.moire, rng)
    if spec.photo:
        if marks is None:
            img = capture.photograph(img, rng, spec.rotation)
        else:
            img, marks = capture.photograph(img, rng, spec.rotation, companion=marks)
    elif spec.rotation:
        img = capture.rotate(img, spec.rotation, rng)
        if marks is not None:
            marks = marks.rotate(spec.rotation, Image.Resampling.BILINEAR, expand=True)
    if spec.glare:
        img = capture.glare(img, spec.glare, rng)
    if spec.blur:
        img = capture.blur(img, spec.blur)
    if spec.noise:
        img = capture.noise(img, spec.noise, rng)
    if spec.chat:
        img = capture.chat_recompress(img, rng)
    if marks is not None:
        marks = marks.resize(img.size, Image.Resampling.BILINEAR)  # a chat app's shrink
    return img, marks


def encode(img: Image.Image, spec: RenderSpec) -> bytes:
    """Encode `img` as the JPEG or PNG that `spec` asks for."""
    buf = io.BytesIO()
    if spec.fmt == "png":
        img.save(buf, "PNG", compress_level=1)  # lossless whatever the level: favour speed
    else:
        img.save(buf, "JPEG", quality=spec.quality)
    return buf.getvalue()


def render_sample(
    label: str, seed: int, layouts: tuple[str, ...] = tuple(LAYOUTS), **factors: object
) -> tuple[RenderSpec, bytes]:
    """Render one image of `label` from `seed`; return its spec and its encoded bytes."""
    rng = random.Random(seed)
    spec = sample_spec(label, rng, layouts, **factors)
    return spec, encode(draw(spec, rng), spec)


def render(label: str, seed: int = 0, **factors: object) -> bytes:
    """Render one image of `label` ("green", "yellow", "red" or "invalid") as JPEG or PNG bytes.

    The same label, seed and factors always give the same bytes. `factors` pin RenderSpec fields,
    e.g. fmt="png", quality=60, dark=True, layout="hero", photo=True, kind="document" (invalid).
    """
    return render_sample(label, seed, **factors)[1]
