"""What an app shows where the code would be when there is no code: badges and placeholders.

Both are negatives (`invalid`) drawn in the very same layouts as the codes: a status-coloured
shape (a tick in a circle, a shield, a big word) with no QR texture, or a page still waiting for
its code (a QR-shaped icon, a spinner, a refresh button).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.colours import RGB, UI_COLORS, ink_on, status_color

if TYPE_CHECKING:  # screens.py imports this module
    from training.screens import Box, Screen


def tick(s: Screen, box: Box, fill: RGB, width: int) -> None:
    """A check mark inside `box`."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    pts = [
        (x0 + w * 0.22, y0 + h * 0.52),
        (x0 + w * 0.42, y0 + h * 0.72),
        (x0 + w * 0.78, y0 + h * 0.3),
    ]
    s.draw.line(pts, fill=fill, width=max(1, width), joint="curve")


def shield(s: Screen, box: Box, fill: RGB) -> None:
    """A shield: a flat top narrowing to a point."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    pts = [(x0 + w * 0.5, y0), (x1, y0 + h * 0.15), (x1 - w * 0.05, y0 + h * 0.6),
           (x0 + w * 0.5, y1), (x0 + w * 0.05, y0 + h * 0.6), (x0, y0 + h * 0.15)]  # fmt: skip
    s.draw.polygon(pts, fill=fill)


def badge(s: Screen, box: Box, fill: RGB) -> None:
    """A solid status shape of the code's size: a tile, a ticked disc or shield, a big word."""
    size = box[2] - box[0]
    style = s.rng.choice(("tile", "disc", "shield", "ring", "word"))
    if style == "tile":
        s.draw.rounded_rectangle(box, s.rng.randint(0, size // 4), fill=fill)
    elif style == "disc":
        s.draw.ellipse(box, fill=fill)
        tick(s, box, ink_on(fill), size // 12)
    elif style == "shield":
        shield(s, box, fill)
        tick(s, box, ink_on(fill), size // 12)
    elif style == "ring":
        s.draw.ellipse(box, outline=fill, width=max(2, size // 14))
        tick(s, box, fill, size // 12)
    else:
        word = s.rng.choice(("绿码", "黄码", "红码", "PASS", "OK", "通行", "正常"))
        px = size * 0.45 / s.unit  # dp for a word filling about half the box
        s.text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), word, px, fill, bold=True,
               anchor="mm")  # fmt: skip


def qr_icon(s: Screen, box: Box, fill: RGB) -> None:
    """A QR-shaped icon: three finder squares and a few blocks, nothing like a code's texture."""
    x0, y0, x1, y1 = box
    q = (x1 - x0) // 7
    for fx, fy in ((x0, y0), (x1 - 3 * q, y0), (x0, y1 - 3 * q)):
        s.draw.rectangle((fx, fy, fx + 3 * q, fy + 3 * q), outline=fill, width=max(1, q // 2))
        s.draw.rectangle((fx + q, fy + q, fx + 2 * q, fy + 2 * q), fill=fill)
    for _ in range(s.rng.randint(0, 4)):
        bx, by = x0 + s.rng.randint(4, 6) * q, y0 + s.rng.randint(4, 6) * q
        s.draw.rectangle((bx, by, bx + q, by + q), fill=fill)


def placeholder(s: Screen, box: Box) -> None:
    """What a page shows before its code has loaded: an icon, a spinner or a refresh button."""
    x0, y0, x1, y1 = box
    cx, cy, size = (x0 + x1) // 2, (y0 + y1) // 2, x1 - x0
    if s.rng.random() < 0.5:
        s.draw.rounded_rectangle(box, s.dp(8), fill=s.rng.choice((s.paper, (238, 238, 238))))
    colour = s.rng.choice(
        (*UI_COLORS, status_color(s.rng.choice(("green", "yellow", "red")), s.rng))
    )
    style = s.rng.choice(("icon", "spinner", "button"))
    half = round(size * s.rng.uniform(0.15, 0.3))
    if style == "icon":
        qr_icon(s, (cx - half, cy - half, cx + half, cy + half), colour)
    elif style == "spinner":
        s.draw.arc((cx - half, cy - half, cx + half, cy + half), s.rng.randint(0, 90),
                   s.rng.randint(200, 320), fill=colour, width=max(2, half // 5))  # fmt: skip
    else:
        s.button(
            (cx - size // 3, cy - s.dp(18), cx + size // 3, cy + s.dp(18)), colour, s.words(1)[:4]
        )
    s.text((cx, min(y1 - s.dp(4), cy + half + s.dp(18))), s.words(2)[:8], 13, s.theme.muted,
           anchor="ma")  # fmt: skip
