"""Capture effects: a phone photographing a screen, and what cameras and chat apps do to images.

Each effect takes its strength from the RenderSpec and its details from the seeded `rng`, so every
factor can be switched on alone for a per-factor evaluation. Strengths are in model-input units
where that matters (blur is in pixels of the letterboxed model input) so that they mean the same
on a 720 px and a 1440 px wide image.
"""

from __future__ import annotations

import io
import math
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from training.preprocessing import INPUT_HEIGHT
from training.scenes import scene


def _coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """PIL's perspective coefficients that map output points `dst` to input points `src`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return list(np.linalg.solve(np.array(rows, float), np.array(rhs, float)))


def fit_long_side(img: Image.Image, long_side: int) -> Image.Image:
    """Shrink `img` so that its long side is at most `long_side`."""
    scale = long_side / max(img.size)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.BILINEAR, reducing_gap=2.0)  # reduce() first: 3x faster


def moire(img: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """Coloured interference bands, as a camera sampling a screen's pixel grid makes."""
    gen = np.random.default_rng(rng.getrandbits(64))
    w, h = fit_long_side(img, 1000).size  # the bands are smooth: compute them small, scale up
    period = rng.uniform(4, 40) * max(w, h) / 1000
    angle = rng.uniform(0, math.pi)
    yy, xx = (g.astype(np.float32) for g in np.ogrid[0:h, 0:w])
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
    phase = phase + np.float32(rng.uniform(0.5, 3)) * np.sin(yy / (h / rng.uniform(1, 4)))
    shifts = gen.uniform(0, 2 * math.pi, 3).astype(np.float32)  # per channel: rainbow bands
    bands = np.stack([np.sin(phase + s) for s in shifts], axis=2) * strength
    gain = Image.fromarray(((bands + 1) * 127.5).astype(np.uint8)).resize(img.size, Image.BILINEAR)
    factor = np.asarray(gain, np.float32) / np.float32(127.5)  # back to 1 +- strength
    out = np.asarray(img, np.float32) * factor
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def photograph(
    screen: Image.Image,
    rng: random.Random,
    rotation: float,
    companion: Image.Image | None = None,
) -> Image.Image | tuple[Image.Image, Image.Image]:
    """The screen on a phone, photographed in perspective on a background, turned `rotation` deg.

    With a `companion` (an 'L' image the size of the screen: a map of what is where on it), also
    that map where the photo shows the screen, 0 elsewhere: (photo, map).
    """
    if companion is not None:
        companion = fit_long_side(companion, 1100)
    screen = fit_long_side(screen, 1100)  # the camera sees the screen at about this resolution
    sw, sh = screen.size
    bezel = max(2, round(min(sw, sh) * rng.uniform(0.02, 0.06)))
    phone = Image.new("RGBA", (sw + 2 * bezel, sh + 3 * bezel), (0, 0, 0, 0))
    body = rng.choice(((10, 10, 12), (40, 40, 45), (200, 200, 205), (235, 225, 210)))
    ImageDraw.Draw(phone).rounded_rectangle(
        (0, 0, *phone.size), radius=bezel * 3, fill=(*body, 255)
    )
    phone.paste(screen, (bezel, bezel * 3 // 2))
    pw, ph = phone.size
    long_side = rng.randint(800, 1600)
    size = (round(long_side * rng.choice((0.75, 0.5625, 0.8))), long_side)
    # how much of the frame the phone takes: mostly close up, sometimes from across a desk
    fill = rng.choice((rng.uniform(0.75, 0.98), rng.uniform(0.75, 0.98), rng.uniform(0.45, 0.75)))
    if rng.random() < 0.1:  # most people hold the camera upright to shoot a phone; a few do not
        size, fill = size[::-1], rng.uniform(0.85, 0.98)
    scale = min(size[0] / pw, size[1] / ph) * fill
    cx = size[0] / 2 + rng.uniform(-0.1, 0.1) * size[0]
    cy = size[1] / 2 + rng.uniform(-0.1, 0.1) * size[1]
    a = math.radians(rotation)
    jitter = rng.uniform(0.02, 0.12) * pw * scale  # the camera's angle to the screen
    dst = []
    for x, y in ((0, 0), (pw, 0), (pw, ph), (0, ph)):
        dx, dy = (x - pw / 2) * scale, (y - ph / 2) * scale
        dst.append((
            cx + dx * math.cos(a) - dy * math.sin(a) + rng.uniform(-jitter, jitter),
            cy + dx * math.sin(a) + dy * math.cos(a) + rng.uniform(-jitter, jitter),
        ))  # fmt: skip
    coeffs = _coeffs(dst, [(0, 0), (pw, 0), (pw, ph), (0, ph)])
    warped = phone.transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR)
    # the background: a desk, a hand, a room — a blurry scene at low resolution, scaled up
    back = scene((size[0] // 8, size[1] // 8), rng).resize(size, Image.BILINEAR)
    if rng.random() < 0.6:  # most desks, hands and rooms are duller than a random scene
        neutral = Image.new("RGB", size, (rng.randint(60, 230),) * 3)
        back = Image.blend(back, neutral, rng.uniform(0.4, 0.9))
    back.paste(warped, (0, 0), warped)
    if rng.random() < 0.4:
        back = vignette(back, rng.uniform(0.15, 0.5))
    # the camera's white balance and exposure (dim rooms too): mild in hue, so a status colour
    # stays in its class
    gains = [rng.uniform(0.9, 1.1) * exposure for exposure in [rng.uniform(0.6, 1.12)] * 3]
    photo = back.point([min(255, round(i * g)) for g in gains for i in range(256)])
    if companion is None:
        return photo
    on_phone = Image.new("L", phone.size)
    on_phone.paste(companion, (bezel, bezel * 3 // 2))
    return photo, on_phone.transform(size, Image.PERSPECTIVE, coeffs, Image.BILINEAR)


def vignette(img: Image.Image, strength: float) -> Image.Image:
    """Darker corners, as a phone camera's lens gives under room light."""
    yy, xx = np.mgrid[-1:1:32j, -1:1:32j].astype(np.float32)
    gain = 1 - strength * np.clip((xx**2 + yy**2) / 2, 0, 1)
    mask = Image.fromarray((gain * 255).astype(np.uint8)).resize(img.size, Image.BILINEAR)
    return Image.composite(img, Image.new("RGB", img.size), mask)


def rotate(img: Image.Image, degrees: float, rng: random.Random) -> Image.Image:
    """Turn the whole image, filling the corners with a flat colour."""
    fill = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
    return img.rotate(degrees, Image.BILINEAR, expand=True, fillcolor=fill)


def glare(img: Image.Image, strength: float, rng: random.Random) -> Image.Image:
    """A soft bright reflection somewhere on the image."""
    small = 64
    yy, xx = np.mgrid[0:small, 0:small].astype(np.float32) / small
    cx, cy = rng.uniform(0, 1), rng.uniform(0, 1)
    sx, sy = rng.uniform(0.08, 0.4), rng.uniform(0.08, 0.4)
    blob = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2) * strength
    alpha = Image.fromarray((blob * 255).astype(np.uint8)).resize(img.size, Image.BILINEAR)
    return Image.composite(Image.new("RGB", img.size, (255, 255, 250)), img, alpha)


def blur(img: Image.Image, radius: float) -> Image.Image:
    """Gaussian blur of `radius` pixels of the model input (defocus, motion, a smudged lens)."""
    pixels = radius * max(img.size) / INPUT_HEIGHT
    factor = int(pixels // 2)
    if factor < 2:
        return img.filter(ImageFilter.GaussianBlur(pixels))
    # A wide blur removes the detail a smaller copy loses: blur that copy (5x faster), scale up.
    small = img.reduce(factor).filter(ImageFilter.GaussianBlur(pixels / factor))
    return small.resize(img.size, Image.BILINEAR)


def noise(img: Image.Image, sigma: float, rng: random.Random) -> Image.Image:
    """Sensor noise of `sigma` grey levels, in grains of a camera-sized pixel grid."""
    gen = np.random.default_rng(rng.getrandbits(64))
    w, h = fit_long_side(img, 900).size
    grain = gen.standard_normal((h, w, 3), dtype=np.float32) * np.float32(sigma / 2) + 128
    grain = Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8))
    pixels = np.asarray(img, np.int16) + np.asarray(grain.resize(img.size), np.int16) * 2 - 256
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def chat_recompress(img: Image.Image, rng: random.Random) -> Image.Image:
    """What a chat app does before forwarding: shrink to its size limit and re-encode as JPEG."""
    img = fit_long_side(img, rng.choice((960, 1080, 1280, 1600)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rng.randint(50, 85))
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
