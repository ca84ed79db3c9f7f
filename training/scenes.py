"""Images that are not health codes at all: documents, receipts and abstract scenes."""

from __future__ import annotations

import random

import numpy as np
from PIL import Image, ImageDraw

from training.colours import UI_COLORS
from training.fonts import BOLD, font, random_text
from training.screens import qr_modules


def random_colour(rng: random.Random) -> tuple[int, int, int]:
    """Half the time a UI colour (status greens, ambers and reds included), else any colour."""
    if rng.random() < 0.5:
        return rng.choice(UI_COLORS)
    return rng.randrange(256), rng.randrange(256), rng.randrange(256)


def document(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A page or receipt: lines of dark text, sometimes a table, a red stamp or a black QR code."""
    w, h = size
    img = Image.new("RGB", size, (rng.randint(235, 255),) * 3)
    draw = ImageDraw.Draw(img)
    unit, ink = w / 400, (rng.randint(0, 60),) * 3
    face = rng.choice((0, 2, 3, 4))
    margin, y = round(24 * unit), round(24 * unit)
    draw.text(
        (w // 2, y),
        random_text(rng, rng.randint(1, 4)).upper(),
        fill=ink,
        font=font(BOLD, max(6, round(18 * unit))),
        anchor="ma",
    )
    y += round(40 * unit)
    while y < h - margin:
        if rng.random() < 0.04:  # a table
            rows, cols = rng.randint(2, 6), rng.randint(2, 5)
            cell = round(22 * unit)
            for r in range(rows + 1):
                draw.line((margin, y + r * cell, w - margin, y + r * cell), fill=ink, width=1)
            for c in range(cols + 1):
                x = margin + c * (w - 2 * margin) // cols
                draw.line((x, y, x, y + rows * cell), fill=ink, width=1)
            y += rows * cell + round(12 * unit)
        draw.text(
            (margin, y),
            random_text(rng, rng.randint(2, 9)),
            fill=ink,
            font=font(face, max(6, round(11 * unit))),
        )
        y += round(rng.uniform(14, 22) * unit)
    if rng.random() < 0.3:  # an official red seal
        r, cx, cy = round(50 * unit), rng.randint(w // 3, w), rng.randint(h // 3, h)
        red = (rng.randint(190, 240), rng.randint(0, 50), rng.randint(0, 50))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=red, width=max(1, round(4 * unit)))
        draw.text((cx, cy), "*", fill=red, font=font(BOLD, max(6, r)), anchor="mm")
    if rng.random() < 0.4:  # receipts and invoices carry black QR codes
        side = round(rng.uniform(0.2, 0.5) * min(w, h))
        mask = Image.fromarray(qr_modules(rng, False).astype(np.uint8) * 255).resize(
            (side, side), Image.NEAREST
        )
        x, y = rng.randint(0, w - side), rng.randint(0, h - side)
        img.paste((255, 255, 255), (x, y, x + side, y + side))
        img.paste(ink, (x, y, x + side, y + side), mask)
    return img


def scene(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A gradient or blurry 'photo' with random shapes in random colours, sometimes noisy."""
    w, h = size
    gen = np.random.default_rng(rng.getrandbits(64))
    if rng.random() < 0.5:
        a, b = np.array(random_colour(rng), float), np.array(random_colour(rng), float)
        vertical = rng.random() < 0.5
        ramp = a + np.linspace(0, 1, h if vertical else w)[:, None] * (b - a)
        pixels = np.broadcast_to(ramp[:, None] if vertical else ramp[None], (h, w, 3))
        img = Image.fromarray(pixels.astype(np.uint8))
    else:  # low-frequency colour blobs, like an out-of-focus photo
        small = gen.integers(0, 256, (rng.randint(2, 6), rng.randint(2, 6), 3), dtype=np.uint8)
        img = Image.fromarray(small).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 12)):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = (x0, y0, x0 + rng.randint(1, w), y0 + rng.randint(1, h))
        shape = rng.choice(("rect", "ellipse", "line"))
        if shape == "rect":
            draw.rectangle(box, fill=random_colour(rng))
        elif shape == "ellipse":
            draw.ellipse(box, fill=random_colour(rng))
        else:
            draw.line(box, fill=random_colour(rng), width=rng.randint(1, max(1, w // 20)))
    if rng.random() < 0.3:
        noise = gen.normal(0, rng.uniform(5, 40), (h, w, 3))
        img = Image.fromarray(np.clip(np.asarray(img, float) + noise, 0, 255).astype(np.uint8))
    return img
