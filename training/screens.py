"""Drawing kit for phone screenshots: fonts, colours, random text, QR modules, app chrome in dp."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]


def hex_rgb(code: str) -> RGB:
    """Parse "22c55e" into (34, 197, 94)."""
    return int(code[:2], 16), int(code[2:4], 16), int(code[4:], 16)


# App bar, hero, tile and button colours, drawn independently of the status: neutrals, blues,
# purples, teals and the status greens, ambers and reds themselves, so no UI colour gives the
# label away.
_UI_HEX = (
    "ffffff f5f5f5 282828 000000 787882 1677ff 2563eb 0052cc 0ea5e9 6366f1 7c3aed "
    "0d9488 009688 07c160 22c55e f5b700 ffcc00 f97316 dc2626 ff3b30"
)
UI_COLORS: tuple[RGB, ...] = tuple(hex_rgb(c) for c in _UI_HEX.split())


def ink_on(fill: RGB) -> RGB:
    """Return a text colour that reads on `fill`."""
    return (20, 20, 20) if sum(fill) > 500 else (255, 255, 255)


NEUTRAL_WORDS = ("Health code", "Pass", "Valid", "Verified")
APP_NAMES = (
    "Guangdong Health",
    "Suzhou Health Code",
    "Shanghai Pass",
    "Beijing Health Kit",
    "Health Code",
    "Zhejiang Health",
    "Travel Card",
    "Sichuan Tianfu Code",
)
# Indices into this tuple name fonts; BOLD is the bold sans.
_FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
)
BOLD = 1
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")


@lru_cache(maxsize=1)
def font_files() -> tuple[str, ...]:
    """Return the TrueType fonts found on this machine, in a fixed order (may be empty)."""
    found = {p.name: str(p) for d in _FONT_DIRS if Path(d).is_dir() for p in Path(d).rglob("*.ttf")}
    return tuple(found[name] for name in _FONT_NAMES if name in found)


@lru_cache(maxsize=512)
def font(index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return font number `index` (modulo those found) at `size` px; Pillow's own without any."""
    files = font_files()
    if not files:
        return ImageFont.load_default(size)
    return ImageFont.truetype(files[index % len(files)], size)


def random_text(rng: random.Random, words: int) -> str:
    """Return a line of pseudo-words."""
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))).capitalize()
        for _ in range(words)
    )


def qr_modules(rng: random.Random, with_logo: bool) -> np.ndarray:
    """Return a random QR code's modules, True where dark, with a 2-module border."""
    payload = f"https://hc.example.cn/v?id={rng.getrandbits(rng.choice((32, 64, 128, 256))):x}"
    qr = segno.make(payload, error="h" if with_logo else "m", micro=False)
    return np.array(list(qr.matrix_iter(border=2)), dtype=bool)


@dataclass
class Theme:
    """The colours of one screenshot."""

    bg: RGB
    fg: RGB
    muted: RGB
    card: RGB
    accent: RGB
    dark: bool


def sample_theme(rng: random.Random, dark: bool) -> Theme:
    """Draw a light or dark colour theme; the accent is any UI colour, status colours included."""
    if dark:
        g = rng.randint(0, 40)
        bg, card = (g, g, g + rng.randint(0, 8)), (g + 18, g + 18, g + 20)
        fg, muted = (235, 235, 235), (150, 150, 155)
    else:
        g = rng.randint(235, 255)
        bg, card = (g, g, g), (255, 255, 255)
        fg, muted = (rng.randint(0, 50),) * 3, (130, 130, 140)
    return Theme(bg, fg, muted, card, rng.choice(UI_COLORS), dark)


class Screen:
    """A canvas with drawing helpers in dp: layouts are written for a 360 dp wide phone."""

    def __init__(
        self,
        size: tuple[int, int],
        theme: Theme,
        rng: random.Random,
        ink: RGB,
        paper: RGB,
        banner: tuple[str, RGB] | None,
        badge: bool,
    ) -> None:
        self.img = Image.new("RGB", size, theme.bg)
        self.ink, self.paper, self.banner, self.badge = ink, paper, banner, badge
        self.draw = ImageDraw.Draw(self.img)
        self.theme, self.rng = theme, rng
        self.w, self.h = size
        self.unit = self.w / 360
        self.font_index = rng.randrange(3)  # one sans family per screenshot, as in real apps

    def dp(self, v: float) -> int:
        return round(v * self.unit)

    def text(
        self,
        xy: tuple[int, int],
        s: str,
        size: float,
        fill: RGB,
        bold: bool = False,
        anchor: str = "la",
    ) -> None:
        f = font(BOLD if bold else self.font_index, max(6, self.dp(size)))
        self.draw.text(xy, s, fill=fill, font=f, anchor=anchor)

    def lines(self, x: int, y: int, n: int, size: float, fill: RGB) -> int:
        """Draw n lines of random text from (x, y); return the y below them."""
        for _ in range(n):
            self.text((x, y), random_text(self.rng, self.rng.randint(2, 5)), size, fill)
            y += self.dp(size * 1.6)
        return y

    def status_bar(self, fill: RGB | None, fg: RGB) -> int:
        """Draw the phone's status bar (time, signal, battery); return its height."""
        h = self.dp(24)
        if fill is not None:
            self.draw.rectangle((0, 0, self.w, h), fill=fill)
        self.text(
            (self.dp(16), h // 2),
            f"{self.rng.randint(0, 23)}:{self.rng.randint(0, 59):02d}",
            12,
            fg,
            bold=True,
            anchor="lm",
        )
        x = self.w - self.dp(16)
        self.draw.rounded_rectangle(
            (x - self.dp(22), h // 2 - self.dp(5), x, h // 2 + self.dp(5)),
            self.dp(2),
            outline=fg,
            width=max(1, self.dp(1)),
        )
        level = self.rng.uniform(0.1, 1)
        self.draw.rectangle(
            (
                x - self.dp(21),
                h // 2 - self.dp(4),
                x - self.dp(21) + round(self.dp(20) * level),
                h // 2 + self.dp(4),
            ),
            fill=fg,
        )
        for i in range(4):
            bx = x - self.dp(50) + i * self.dp(5)
            self.draw.rectangle(
                (bx, h // 2 + self.dp(4 - 2 * i), bx + self.dp(3), h // 2 + self.dp(5)), fill=fg
            )
        return h

    def header(self, y: int, fill: RGB, title: str) -> int:
        """Draw an app bar with a centred title on `fill`; return the y below it."""
        h = self.dp(self.rng.uniform(44, 60))
        self.draw.rectangle((0, y, self.w, y + h), fill=fill)
        ink = ink_on(fill)
        self.text((self.w // 2, y + h // 2), title, 17, ink, bold=True, anchor="mm")
        self.text((self.dp(16), y + h // 2), "<", 20, ink, anchor="lm")
        return y + h

    def button(self, box: Box, fill: RGB, label: str) -> None:
        self.draw.rounded_rectangle(box, self.dp(self.rng.choice((4, 8, 22))), fill=fill)
        ink = ink_on(fill)
        self.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), label, 14, ink, anchor="mm")

    def tiles(self, y: int, rows: int) -> int:
        """Draw rows of four icon tiles in random UI colours; return the y below them."""
        size, gap = self.dp(44), (self.w - 4 * self.dp(44)) // 5
        for r in range(rows):
            for c in range(4):
                x0, y0 = gap + c * (size + gap), y + r * self.dp(76)
                self.draw.rounded_rectangle(
                    (x0, y0, x0 + size, y0 + size), self.dp(10), fill=self.rng.choice(UI_COLORS)
                )
                self.text(
                    (x0 + size // 2, y0 + size + self.dp(6)),
                    random_text(self.rng, 1)[:7],
                    10,
                    self.theme.muted,
                    anchor="ma",
                )
        return y + rows * self.dp(76)

    def nav_bar(self) -> None:
        """Draw a bottom navigation bar with four icons."""
        h = self.dp(56)
        self.draw.rectangle((0, self.h - h, self.w, self.h), fill=self.theme.card)
        self.draw.line((0, self.h - h, self.w, self.h - h), fill=self.theme.muted, width=1)
        for i in range(4):
            cx = self.w * (2 * i + 1) // 8
            fill = self.theme.accent if i == 0 else self.theme.muted
            self.draw.ellipse(
                (
                    cx - self.dp(9),
                    self.h - h + self.dp(8),
                    cx + self.dp(9),
                    self.h - h + self.dp(26),
                ),
                outline=fill,
                width=max(1, self.dp(2)),
            )
            self.text(
                (cx, self.h - self.dp(14)), random_text(self.rng, 1)[:6], 10, fill, anchor="mm"
            )

    def code(self, center: tuple[int, int], size: int) -> Box:
        """Draw the screen's code (a QR code or a non-QR badge) of `size` px; return its box."""
        x0, y0 = center[0] - size // 2, center[1] - size // 2
        box = (x0, y0, x0 + size, y0 + size)
        if self.badge:  # a coloured badge where the code would be: the colour, not the QR texture
            self.draw.rounded_rectangle(box, self.rng.randint(0, size // 4), fill=self.ink)
            return box
        with_logo = self.rng.random() < 0.3
        modules = qr_modules(self.rng, with_logo)
        mask = Image.fromarray(modules.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)
        self.img.paste(self.paper, box)
        self.img.paste(self.ink, box, mask)
        if with_logo:  # many apps put an emblem or the holder's photo in the middle
            r, (cx, cy) = size // 9, center
            self.draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), r // 4, fill=self.paper)
            self.draw.ellipse(
                (cx - r * 3 // 4, cy - r * 3 // 4, cx + r * 3 // 4, cy + r * 3 // 4),
                fill=self.rng.choice((self.ink, *UI_COLORS)),
            )
        return box
