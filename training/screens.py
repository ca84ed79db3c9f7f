"""Drawing kit for phone screenshots: colour themes, QR modules, app chrome in dp."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import segno
from PIL import Image, ImageDraw

from training import standins
from training.colours import RGB, UI_COLORS, ink_on
from training.fonts import APP_NAMES, APP_NAMES_CJK, BOLD, font_for, random_text
from training.timestamps import Stamp, draw_stamp

Box = tuple[int, int, int, int]


def qr_modules(rng: random.Random, with_logo: bool) -> np.ndarray:
    """Return a random QR code's modules, True where dark, with a 2-module border."""
    # Apps encode anything from a short token (QR version 1-2: 21-25 modules a side) to a long
    # signed URL (up to version 18 here). Drawing URLs only, the renderer never made a code
    # coarser than version 3, and iteration 2 refused 11 of 42 version 1-2 codes in home-page
    # cards on independent screenshots (benchmarks.recognition): every density.
    pick = rng.random()
    if pick < 0.3:
        payload = "".join(rng.choices("ABCDEFGHJKMNPQRSTUVWXYZ0123456789", k=rng.randint(6, 24)))
    else:
        bits = rng.choice((32, 64, 128, 256) if pick < 0.85 else (512, 768, 1024))
        payload = f"https://hc.example.cn/v?id={rng.getrandbits(bits):x}"
    # A fixed random mask pattern: segno's search for the best of eight costs more than the drawing.
    qr = segno.make(payload, error="h" if with_logo else "m", micro=False, mask=rng.randrange(8))
    return np.array(list(qr.matrix_iter(border=2)), dtype=bool)


def qr_mask(rng: random.Random, size: int, with_logo: bool) -> Image.Image:
    """A QR code's mask at `size` px: square or dotted modules, crisp or resampled edges."""
    modules = qr_modules(rng, with_logo)
    if rng.random() < 0.15:  # some apps draw round dots: draw them at 8 px per module, then scale
        n, k = len(modules), 8
        big = Image.new("L", (n * k, n * k), 0)
        d = ImageDraw.Draw(big)
        for y, x in zip(*np.nonzero(modules), strict=True):
            d.ellipse((x * k, y * k, x * k + k - 1, y * k + k - 1), fill=255)
        return big.resize((size, size), Image.BILINEAR)
    resample = Image.NEAREST if rng.random() < 0.7 else Image.BILINEAR
    return Image.fromarray(modules.astype(np.uint8) * 255).resize((size, size), resample)


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
        g = rng.randint(232, 255)
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
        inks: tuple[RGB, RGB],
        paper: RGB,
        banner: tuple[str, RGB] | None,
        stand_in: str = "",
        stamp: Stamp | None = None,
    ) -> None:
        self.img = Image.new("RGB", size, theme.bg)
        self.inks, self.paper, self.banner = inks, paper, banner
        self.stand_in = stand_in  # "badge" or "placeholder" in place of the code, or ""
        self.stamp = stamp or Stamp()
        self.stamp_box: Box | None = None  # where draw_stamp put the shown time
        self.draw = ImageDraw.Draw(self.img)
        self.theme, self.rng = theme, rng
        self.w, self.h = size
        self.unit = self.w / 360
        self.font_index = rng.randrange(3)  # one sans family per screenshot, as in real apps
        self.cjk = rng.random() < 0.6  # Chinese text where a CJK font is installed

    def words(self, n: int) -> str:
        return random_text(self.rng, n, self.cjk)

    def app_name(self) -> str:
        return self.rng.choice(APP_NAMES_CJK if self.cjk else APP_NAMES)

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
        f = font_for(s, BOLD if bold else self.font_index, max(6, self.dp(size)))
        self.draw.text(xy, s, fill=fill, font=f, anchor=anchor)

    def lines(self, x: int, y: int, n: int, size: float, fill: RGB) -> int:
        """Draw n lines of random text from (x, y); return the y below them."""
        for _ in range(n):
            self.text((x, y), self.words(self.rng.randint(2, 5)), size, fill)
            y += self.dp(size * 1.6)
        return y

    def status_bar(self, fill: RGB | None, fg: RGB) -> int:
        """Draw the phone's status bar (time, signal, battery); return its height."""
        h = self.dp(24)
        if fill is not None:
            self.draw.rectangle((0, 0, self.w, h), fill=fill)
        if self.stamp.clock:
            self.text((self.dp(16), h // 2), self.stamp.clock, 12, fg, bold=True, anchor="lm")
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
                    self.words(1)[:7],
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
            self.text((cx, self.h - self.dp(14)), self.words(1)[:6], 10, fill, anchor="mm")

    def code(self, center: tuple[int, int], size: int) -> Box:
        """Draw the screen's code (a QR code or a non-QR badge) of `size` px; return its box."""
        x0, y0 = center[0] - size // 2, center[1] - size // 2
        box = (x0, y0, x0 + size, y0 + size)
        self.stamp_box = draw_stamp(self, box)
        ink = self.inks[0]
        if self.stand_in == "badge":  # a coloured shape: the colour, not the QR texture
            standins.badge(self, box, ink)
            return box
        if self.stand_in == "placeholder":
            standins.placeholder(self, box)
            return box
        with_logo = self.rng.random() < 0.3
        mask = qr_mask(self.rng, size, with_logo)
        self.img.paste(self.paper, box)
        if self.inks[0] == self.inks[1]:
            self.img.paste(ink, box, mask)
        else:  # a few apps shade the code from one tone of its colour to another
            ramp = np.linspace(0, 1, size)[:, None, None]
            a, b = (np.array(c, float) for c in self.inks)
            shade = np.broadcast_to(a + ramp * (b - a), (size, size, 3)).astype(np.uint8)
            self.img.paste(Image.fromarray(shade), box, mask)
        if with_logo:  # many apps put an emblem or the holder's photo in the middle
            r, (cx, cy) = size // 9, center
            self.draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), r // 4, fill=self.paper)
            self.draw.ellipse(
                (cx - r * 3 // 4, cy - r * 3 // 4, cx + r * 3 // 4, cy + r * 3 // 4),
                fill=self.rng.choice((ink, *UI_COLORS)),
            )
        return box
