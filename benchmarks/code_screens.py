"""Health-code screens and look-alikes with a known status, drawn without training/.

An independent check of the classifier (issue 11: "checked again on independent screenshots and
photos never shown here"): its own page layouts, fonts (those of benchmarks.time_screens, not the
renderer's), status shades and look-alikes, so that accuracy here measures generalisation rather
than the renderer's test split:

    page = status_page(random.Random(7))          # a Page: image, label, what was drawn
    jpeg = time_screens.encode(page.image, "photo", random.Random(7))

Colour pages (green, yellow, red) carry a QR code drawn in the status colour, either large in the
middle of the page or small inside a home-page card beside text, above a grid of service icons.
Invalid pages carry no health code: a black QR code under a header in a status colour (a venue,
sampling or payment code), a trip card (a large arrow or tick in a circle, no QR code), a status
badge (a shield or circle in a status colour, no QR code) or a news list. `wider_page` draws a
second set with other layouts and look-alikes (see its comment below), `symbol_page` a third whose
invalid pages are status-coloured 2D symbols that are not QR codes.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import numpy as np
import segno
import zxingcpp
from PIL import Image, ImageDraw

from benchmarks.time_screens import NAMES, NOTICES, SIZES, _needs_cjk, _text, cjk_available

LABELS = ("green", "yellow", "red", "invalid")
# Several shades a status: apps do not agree on their greens.
SHADES = {
    "green": ((22, 160, 80), (0, 180, 90), (46, 184, 100), (0, 140, 60), (60, 170, 60)),
    "yellow": ((230, 170, 20), (245, 190, 0), (250, 200, 40), (225, 160, 0), (240, 180, 30)),
    "red": ((210, 40, 40), (230, 50, 50), (190, 20, 30), (235, 70, 60), (220, 30, 60)),
}
STATUS_TEXT = {
    "green": ("绿码", "Green code", "健康码正常", "Normal"),
    "yellow": ("黄码", "Yellow code", "请尽快核酸检测", "Caution"),
    "red": ("红码", "Red code", "请配合管控", "Restricted"),
}
COLOUR_LAYOUTS = ("centred", "home")
INVALID_KINDS = ("black_code", "trip", "badge", "news")


@dataclass(frozen=True)
class Page:
    image: Image.Image
    label: str  # one of LABELS
    drawn: str  # e.g. "green/home" or "invalid/trip"
    modules: int = 0  # the QR code's modules a side (21: version 1), 0 where none is drawn


def status_page(rng: random.Random, label: str | None = None) -> Page:
    """One screenshot: a health code in a status colour, or a page that is not one."""
    label = label or rng.choice(LABELS)
    if label == "invalid":
        kind = rng.choice(INVALID_KINDS)
        if kind == "black_code":
            ink = rng.choice(((20, 20, 20), (40, 40, 40), (10, 30, 70)))
            layout = rng.choice(COLOUR_LAYOUTS)
            header = rng.choice([*SHADES[rng.choice(("green", "yellow", "red"))], (40, 110, 220)])
            img, modules = _code_page(rng, layout, ink, header, None)
            return Page(img, label, f"invalid/{kind}", modules)
        draw = {"trip": _trip_card, "badge": _badge, "news": _news}[kind]
        return Page(draw(rng), label, f"invalid/{kind}")
    layout = rng.choice(COLOUR_LAYOUTS)
    shade = rng.choice(SHADES[label])
    header = shade if rng.random() < 0.5 else _accent(rng)
    img, modules = _code_page(rng, layout, shade, header, label)
    return Page(img, label, f"{label}/{layout}", modules)


def _accent(rng: random.Random) -> tuple[int, int, int]:
    return rng.choice(((40, 110, 220), (20, 120, 200), (90, 60, 200), (30, 150, 160), (60, 60, 70)))


def _canvas(rng: random.Random) -> tuple[Image.Image, ImageDraw.ImageDraw, float, bool]:
    width, height = rng.choice(SIZES)
    dark = rng.random() < 0.2
    img = Image.new("RGB", (width, height), (20, 20, 24) if dark else (244, 245, 247))
    return img, ImageDraw.Draw(img), width / 390, dark


def _card(dark: bool) -> tuple[int, int, int]:
    """The fill of a card that holds a code, on a light or a dark page."""
    return (40, 40, 46) if dark else (255, 255, 255)


def _say(draw, xy, text, size, fill, rng, anchor="ma"):
    if _needs_cjk(text) and not cjk_available():
        text = "Status"
    return _text(draw, xy, text, size, fill, rng, anchor)


def _modules_image(matrix: np.ndarray, side: int, ink) -> Image.Image:
    """Dark modules (True) in `ink` on white, whole pixels a module, the long side <= `side`."""
    pixels = np.where(matrix[..., None], np.array(ink, np.uint8), np.uint8(255)).astype(np.uint8)
    scale = max(1, side // max(matrix.shape))
    size = (matrix.shape[1] * scale, matrix.shape[0] * scale)
    return Image.fromarray(pixels).resize(size, Image.Resampling.NEAREST)


def _qr(rng: random.Random, side: int, ink: tuple[int, int, int]) -> tuple[Image.Image, int]:
    # A token or a URL of 6 to 120 characters: QR versions 1 (21 modules a side) to 7 (45).
    payload = "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=rng.randint(6, 120)))
    matrix = np.pad(np.array(segno.make(payload, error="m", micro=False).matrix, bool), 2)
    return _modules_image(matrix, side, ink), len(matrix) - 4


def _code_page(rng, layout, ink, header, label) -> tuple[Image.Image, int]:
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    bar = round(rng.uniform(90, 130) * dp)
    draw.rectangle((0, 0, width, bar), fill=header)
    _say(draw, (round(16 * dp), round(14 * dp)), f"{rng.randrange(24):02d}:{rng.randrange(60):02d}",
         round(13 * dp), "white", rng, "la")  # fmt: skip
    _say(draw, (width // 2, round(bar * 0.55)), rng.choice(("健康码", "Health Pass", "场所码")),
         round(19 * dp), "white", rng)  # fmt: skip
    if layout == "centred":
        y = bar + round(24 * dp)
        _say(draw, (width // 2, y), rng.choice(NAMES), round(18 * dp), fg, rng)
        y += round(40 * dp)
        code, modules = _qr(rng, round(rng.uniform(0.45, 0.7) * width), ink)
        img.paste(code, ((width - code.width) // 2, y))
        y += code.height + round(16 * dp)
        if label:
            _say(draw, (width // 2, y), rng.choice(STATUS_TEXT[label]), round(22 * dp), ink, rng)
        y += round(48 * dp)
    else:  # a home page: the code small inside a card, beside text, above a service grid
        y = bar + round(12 * dp)
        card_h = round(rng.uniform(130, 170) * dp)
        card_bg = _card(dark)
        draw.rounded_rectangle((round(12 * dp), y, width - round(12 * dp), y + card_h),
                               round(12 * dp), fill=card_bg)  # fmt: skip
        code, modules = _qr(rng, round(rng.uniform(0.22, 0.36) * width), ink)
        left = rng.random() < 0.5
        cx = round(24 * dp) if left else width - round(24 * dp) - code.width
        img.paste(code, (cx, y + (card_h - code.height) // 2))
        tx = cx + code.width + round(16 * dp) if left else round(28 * dp)
        _say(draw, (tx, y + round(30 * dp)), rng.choice(NAMES), round(17 * dp), fg, rng, "la")
        if label:
            _say(draw, (tx, y + round(62 * dp)), rng.choice(STATUS_TEXT[label]), round(18 * dp),
                 ink, rng, "la")  # fmt: skip
        y += card_h + round(20 * dp)
        y = _icon_grid(draw, rng, y, width, dp, fg)
    _notices(draw, rng, y, width, height, dp, fg)
    _tab_bar(draw, rng, width, height, dp, dark)
    return img, modules


def _icon_grid(draw, rng, y, width, dp, fg) -> int:
    cols = rng.choice((4, 5))
    cell = (width - round(24 * dp)) // cols
    for row in range(rng.choice((1, 2, 3))):
        for col in range(cols):
            cx, cy = round(12 * dp) + col * cell + cell // 2, y + row * round(78 * dp)
            colour = tuple(rng.randrange(30, 240) for _ in range(3))
            r = round(18 * dp)
            if rng.random() < 0.5:
                draw.ellipse((cx - r, cy, cx + r, cy + 2 * r), fill=colour)
            else:
                draw.rounded_rectangle((cx - r, cy, cx + r, cy + 2 * r), round(8 * dp), fill=colour)
            _say(draw, (cx, cy + 2 * r + round(6 * dp)), rng.choice(("核酸", "疫苗", "行程", "Pass",
                 "Map", "Help")), round(11 * dp), fg, rng)  # fmt: skip
    return y + (row + 1) * round(78 * dp) + round(10 * dp)


def _notices(draw, rng, y, width, height, dp, fg) -> None:
    for _ in range(rng.randint(1, 3)):
        if y > height - round(120 * dp):
            return
        _say(draw, (round(20 * dp), y), rng.choice(NOTICES), round(14 * dp), fg, rng, "la")
        y += round(36 * dp)


def _tab_bar(draw, rng, width, height, dp, dark) -> None:
    if rng.random() < 0.3:
        return
    top = height - round(56 * dp)
    draw.rectangle((0, top, width, height), fill=(34, 34, 38) if dark else (255, 255, 255))
    for i in range(4):
        cx = width * (2 * i + 1) // 8
        draw.ellipse((cx - round(10 * dp), top + round(10 * dp), cx + round(10 * dp),
                      top + round(30 * dp)), fill=(150, 150, 150))  # fmt: skip


def _trip_card(rng: random.Random) -> Image.Image:
    """A trip card: a large arrow or tick in a circle, in any status colour; no QR code."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    shade = rng.choice(SHADES[rng.choice(("green", "green", "yellow", "red"))])
    _say(draw, (width // 2, round(60 * dp)), rng.choice(("通信大数据行程卡", "Trip card")),
         round(20 * dp), fg, rng)  # fmt: skip
    phone = f"{rng.randrange(130, 199)}****{rng.randrange(9999):04d}"
    _say(draw, (width // 2, round(100 * dp)), phone, round(15 * dp), fg, rng)
    r = round(rng.uniform(0.18, 0.3) * width)
    cx, cy = width // 2, round(150 * dp) + r
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
    white, t = (255, 255, 255), max(3, r // 6)
    if rng.random() < 0.5:  # a tick
        draw.line([(cx - r // 2, cy), (cx - r // 8, cy + r // 3), (cx + r // 2, cy - r // 3)],
                  fill=white, width=t, joint="curve")  # fmt: skip
    else:  # an arrow
        draw.polygon([(cx - r // 2, cy + r // 2), (cx + r // 2, cy - r // 8), (cx, cy - r // 2),
                      (cx + r // 2, cy - r // 2), (cx + r // 2, cy)], fill=white)  # fmt: skip
    y = cy + r + round(30 * dp)
    _say(draw, (round(20 * dp), y), rng.choice(("您于前14天内到达或途经：", "Visited in 14 days:")),  # noqa: RUF001
         round(15 * dp), fg, rng, "la")  # fmt: skip
    _notices(draw, rng, y + round(40 * dp), width, height, dp, fg)
    return img


def _badge(rng: random.Random) -> Image.Image:
    """A status badge: a shield or a ring in a status colour, with a word; no QR code."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    label = rng.choice(("green", "yellow", "red"))
    shade = rng.choice(SHADES[label])
    draw.rectangle((0, 0, width, round(110 * dp)), fill=rng.choice((shade, _accent(rng))))
    side = round(rng.uniform(0.35, 0.6) * width)
    x0, y0 = (width - side) // 2, round(rng.uniform(160, 260) * dp)
    if rng.random() < 0.5:  # a shield
        draw.polygon([(x0, y0), (x0 + side, y0), (x0 + side, y0 + side * 0.6),
                      (x0 + side // 2, y0 + side), (x0, y0 + side * 0.6)], fill=shade)  # fmt: skip
    else:  # a ring
        draw.ellipse((x0, y0, x0 + side, y0 + side), outline=shade, width=max(4, side // 10))
    _say(draw, (width // 2, y0 + side + round(24 * dp)), rng.choice(STATUS_TEXT[label]),
         round(24 * dp), shade, rng)  # fmt: skip
    _notices(draw, rng, y0 + side + round(80 * dp), width, height, dp, fg)
    return img


def _news(rng: random.Random) -> Image.Image:
    """A news list: headlines beside coloured thumbnails."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    draw.rectangle((0, 0, width, round(90 * dp)), fill=_accent(rng))
    y = round(110 * dp)
    while y < height - round(120 * dp):
        thumb = tuple(rng.randrange(20, 240) for _ in range(3))
        draw.rectangle((width - round(120 * dp), y, width - round(16 * dp), y + round(70 * dp)),
                       fill=thumb)  # fmt: skip
        _say(draw, (round(16 * dp), y + round(8 * dp)), rng.choice(NOTICES), round(15 * dp),
             fg, rng, "la")  # fmt: skip
        y += round(90 * dp)
    return img


# The wider set: layouts and look-alikes that neither the set above nor training/ draws the same
# way, for a second independent check (`benchmarks.recognition --screens wider`).
WIDER_COLOUR_LAYOUTS = ("anywhere", "emblem", "tinted")
WIDER_INVALID_KINDS = ("payment", "other_ink", "heatmap")
PAY_PAGES = ((7, 193, 96), (26, 173, 25), (22, 119, 255))  # payment apps' green and blue
OTHER_INKS = ((40, 110, 220), (110, 60, 200), (20, 40, 110))  # codes in no status colour


def wider_page(rng: random.Random, label: str | None = None) -> Page:
    """One screenshot of the wider set: the same labels as status_page, other drawings."""
    label = label or rng.choice(LABELS)
    if label == "invalid":
        kind = rng.choice(WIDER_INVALID_KINDS)
        if kind == "heatmap":
            return Page(_heatmap(rng), label, "invalid/heatmap")
        if kind == "payment":
            img, modules = _payment(rng)
        else:  # a venue or sign-in code in a colour no health code uses, under any header
            header = rng.choice([*SHADES[rng.choice(("green", "yellow", "red"))], _accent(rng)])
            img, modules = _free_code_page(rng, rng.choice(OTHER_INKS), header, None)
        return Page(img, label, f"invalid/{kind}", modules)
    layout = rng.choice(WIDER_COLOUR_LAYOUTS)
    shade = rng.choice(SHADES[label])
    header = shade if rng.random() < 0.5 else _accent(rng)
    if layout == "anywhere":
        img, modules = _free_code_page(rng, shade, header, label)
    else:
        img, modules = _centred_card(rng, shade, header, label, emblem=layout == "emblem")
    return Page(img, label, f"{label}/{layout}", modules)


def _header(draw, rng, width, dp, fill) -> int:
    bar = round(rng.uniform(70, 130) * dp)
    draw.rectangle((0, 0, width, bar), fill=fill)
    title = rng.choice(("健康码", "Health Pass", "场所码", "扫码登记"))
    _say(draw, (width // 2, round(bar * 0.5)), title, round(18 * dp), "white", rng)
    return bar


def _free_code_page(rng, ink, header, label, draw_code=_qr) -> tuple[Image.Image, int]:
    """A code 20-80% of the width anywhere below the header, text above or below it; `draw_code`
    (called as `_qr` is) puts something else in its place."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    bar = _header(draw, rng, width, dp, header)
    code, modules = draw_code(rng, round(rng.uniform(0.2, 0.8) * width), ink)
    x = rng.randint(round(8 * dp), max(round(8 * dp), width - code.width - round(8 * dp)))
    y = rng.randint(
        bar + round(60 * dp), max(bar + round(60 * dp), height - code.height - round(120 * dp))
    )
    if rng.random() < 0.6:  # a card behind the code
        pad = round(rng.uniform(8, 20) * dp)
        card = _card(dark)
        box = (max(0, x - pad), y - pad, min(width, x + code.width + pad), y + code.height + pad)
        draw.rounded_rectangle(box, round(10 * dp), fill=card)
    img.paste(code, (x, y))
    _say(
        draw,
        (round(20 * dp), bar + round(16 * dp)),
        rng.choice(NAMES),
        round(17 * dp),
        fg,
        rng,
        "la",
    )
    below = y + code.height + round(24 * dp)
    if label and below < height - round(80 * dp):
        _say(draw, (width // 2, below), rng.choice(STATUS_TEXT[label]), round(20 * dp), ink, rng)
    _notices(draw, rng, below + round(50 * dp), width, height, dp, fg)
    _tab_bar(draw, rng, width, height, dp, dark)
    return img, modules


def _centred_card(rng, ink, header, label, emblem: bool) -> tuple[Image.Image, int]:
    """A code on a white card; the page tinted with the status colour, or an emblem in the code."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    if not emblem:  # the whole page a light tint of the status colour
        tint = tuple(round(c + (255 - c) * rng.uniform(0.75, 0.9)) for c in ink)
        draw.rectangle((0, 0, width, height), fill=tint)
        dark = False
    fg = (235, 235, 235) if dark else (30, 30, 30)
    bar = _header(draw, rng, width, dp, header)
    code, modules = _qr(rng, round(rng.uniform(0.45, 0.75) * width), ink)
    x, y = (width - code.width) // 2, bar + round(rng.uniform(60, 140) * dp)
    pad, card = round(16 * dp), _card(dark)
    draw.rounded_rectangle((x - pad, y - pad, x + code.width + pad, y + code.height + pad),
                           round(12 * dp), fill=card)  # fmt: skip
    img.paste(code, (x, y))
    if emblem:  # an emblem over the code's middle (a seventh of its side: the code still reads)
        r = code.width // 14
        cx, cy = x + code.width // 2, y + code.height // 2
        draw.rectangle((cx - r - 3, cy - r - 3, cx + r + 3, cy + r + 3), fill="white")
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r), fill=rng.choice((ink, _accent(rng), (200, 30, 30)))
        )
    below = y + code.height + pad + round(20 * dp)
    _say(draw, (width // 2, below), rng.choice(STATUS_TEXT[label]), round(22 * dp), ink, rng)
    _notices(draw, rng, below + round(50 * dp), width, height, dp, fg)
    _tab_bar(draw, rng, width, height, dp, dark)
    return img, modules


def _payment(rng) -> tuple[Image.Image, int]:
    """A 'pay the merchant' page: a green or blue page, a white card, a barcode, a black code."""
    img, draw, dp, _ = _canvas(rng)
    width, height = img.size
    draw.rectangle((0, 0, width, height), fill=rng.choice(PAY_PAGES))
    top = round(rng.uniform(90, 140) * dp)
    draw.rounded_rectangle((round(14 * dp), top, width - round(14 * dp), top + round(470 * dp)),
                           round(10 * dp), fill="white")  # fmt: skip
    _say(draw, (width // 2, top + round(16 * dp)), rng.choice(("向商家付款", "Pay", "收付款")),
         round(16 * dp), (30, 30, 30), rng)  # fmt: skip
    x, bars_top = round(40 * dp), top + round(50 * dp)
    while x < width - round(40 * dp):  # a 1D barcode
        step = max(1, round(rng.choice((1, 1, 2, 3)) * dp))
        if rng.random() < 0.55:
            draw.rectangle((x, bars_top, x + step - 1, bars_top + round(60 * dp)), fill="black")
        x += step
    code, modules = _qr(rng, round(rng.uniform(0.4, 0.55) * width), (0, 0, 0))
    img.paste(code, ((width - code.width) // 2, bars_top + round(80 * dp)))
    return img, modules


def _heatmap(rng) -> Image.Image:
    """A calendar of days in status colours (a step counter's or a check-in streak's): a grid
    of coloured squares with no QR code."""
    img, draw, dp, dark = _canvas(rng)
    width, height = img.size
    fg = (235, 235, 235) if dark else (30, 30, 30)
    bar = _header(draw, rng, width, dp, _accent(rng))
    shades = SHADES[rng.choice(("green", "green", "yellow", "red"))]
    cols = rng.choice((7, 10, 14, 20))
    cell = (width - round(40 * dp)) // cols
    y0 = bar + round(rng.uniform(40, 120) * dp)
    for row in range(rng.randint(5, 12)):
        for col in range(cols):
            if rng.random() < 0.2:
                continue
            c = rng.choice(shades)
            c = tuple(round(v + (255 - v) * rng.uniform(0, 0.7)) for v in c)
            x, y = round(20 * dp) + col * cell, y0 + row * cell
            draw.rectangle((x + 2, y + 2, x + cell - 2, y + cell - 2), fill=c)
    _notices(draw, rng, y0 + 13 * cell + round(20 * dp), width, height, dp, fg)
    return img


# The third set: status-coloured 2D symbols that are not QR codes, where a health code would be.
# Iteration 12 answered 211 of 300 of them a colour (NOTES 2026-12-06, 20:30): it has learnt "a
# square of status-coloured texture", not "a QR code". The renderer draws none of them.
SYMBOLS = ("data_matrix", "aztec", "finderless_qr", "grid", "maze", "pdf417", "sun", "checker")


def _noise(rng: random.Random, rows: int, cols: int) -> np.ndarray:
    return np.array([[rng.random() < 0.5 for _ in range(cols)] for _ in range(rows)])


def _symbol_modules(rng: random.Random, kind: str) -> np.ndarray:
    n = rng.randint(12, 40)
    m = _noise(rng, n, n)  # "grid" is this noise alone
    if kind == "data_matrix":  # solid left and bottom edges, a dotted top and right
        m[:, 0] = m[n - 1, :] = True
        m[0, :] = np.arange(n) % 2 == 0
        m[:, n - 1] = np.arange(n) % 2 == 1
    elif kind == "aztec":  # concentric squares in the middle
        c = n // 2
        for r in range(min(c, rng.randint(3, 6)), -1, -1):
            m[c - r : c + r + 1, c - r : c + r + 1] = r % 2 == 0
    elif kind == "finderless_qr":
        m = np.array(segno.make(str(rng.getrandbits(64)), error="m", micro=False).matrix, bool)
        k = len(m)
        for y, x in ((0, 0), (0, k - 7), (k - 7, 0)):  # the finder squares hidden by noise
            m[y : y + 7, x : x + 7] = _noise(rng, 7, 7)
    elif kind == "pdf417":  # stacked rows of bars between fixed start and stop columns
        rows = _noise(rng, rng.randint(6, 20), n + 16)
        rows[:, :8], rows[:, -8:] = [1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 1, 0, 0, 1]
        m = np.repeat(rows, 3, axis=0)
    elif kind == "checker":
        k = rng.randint(6, 14)
        m = (np.add.outer(np.arange(k), np.arange(k)) % 2).astype(bool)
    return np.pad(m, 2)


def _drawn_symbol(rng: random.Random, kind: str, side: int, ink) -> Image.Image:
    """The symbols that are strokes, not modules: a maze and a mini-program code."""
    img = Image.new("RGB", (side, side), "white")
    draw = ImageDraw.Draw(img)
    if kind == "maze":  # short bars on a grid, across and down
        step = max(4, side // rng.randint(14, 30))
        bar = max(1, step // 3)
        for _ in range((side // step) ** 2 // 2):
            x, y = rng.randrange(0, side - step, step), rng.randrange(0, side - step, step)
            across = rng.random() < 0.5
            draw.rectangle(
                (x, y, x + (3 * step if across else bar), y + (bar if across else 3 * step)),
                fill=ink,
            )
        return img
    c = side / 2  # a mini-program code: radial strokes round a disc, three ringed eyes
    for i in range(90):
        a, r0 = 2 * np.pi * i / 90, c * rng.choice((0.42, 0.58, 0.74))
        r1 = r0 + c * rng.uniform(0.06, 0.16)
        if rng.random() < 0.6:
            draw.line((c + r0 * np.cos(a), c + r0 * np.sin(a), c + r1 * np.cos(a),
                       c + r1 * np.sin(a)), fill=ink, width=max(2, side // 60))  # fmt: skip
    draw.ellipse((c * 0.7, c * 0.7, c * 1.3, c * 1.3), fill=ink)
    r = c * 0.13
    for ex, ey in ((0.3, 0.3), (1.7, 0.3), (0.3, 1.7)):
        draw.ellipse((c * ex - r, c * ey - r, c * ex + r, c * ey + r), outline=ink,
                     width=max(2, side // 50))  # fmt: skip
    return img


def _symbol(kind: str):
    """A drawer, as `_qr` is, of a status-coloured symbol of that kind: 0 QR modules."""

    def draw(rng: random.Random, side: int, ink) -> tuple[Image.Image, int]:
        if kind in ("maze", "sun"):
            return _drawn_symbol(rng, kind, side, ink), 0
        return _modules_image(_symbol_modules(rng, kind), side, ink), 0

    return draw


def symbol_page(rng: random.Random, label: str | None = None) -> Page:
    """One screenshot of the symbols set: a colour page as the wider set's code anywhere on the
    page; an invalid page a status-coloured 2D symbol that is not a QR code in the code's place."""
    return _symbol_set_page(rng, label, SYMBOLS, _symbol)


# The fourth set: the symbols zxing-cpp's writer makes, real Aztec, Data Matrix and PDF417 codes
# (an Aztec code's bullseye passes for a Micro QR code's finder with the QR reader: NOTES
# 2026-12-07, 06:40), drawn square in the code's place as the symbols set's are.
WRITTEN = ("Aztec", "DataMatrix", "PDF417")


def _written(kind: str):
    """A drawer, as `_qr` is, of a status-coloured symbol zxing-cpp writes: 0 QR modules."""

    def draw(rng: random.Random, side: int, ink) -> tuple[Image.Image, int]:
        text = "".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randint(10, 120)))
        made = zxingcpp.create_barcode(text, zxingcpp.barcode_format_from_str(kind))
        dark = np.asarray(zxingcpp.write_barcode_to_image(made, add_quiet_zones=False)) < 128
        return _modules_image(np.pad(dark, 2), side, ink), 0

    return draw


def written_page(rng: random.Random, label: str | None = None) -> Page:
    """One screenshot of the written set: as the symbols set's, with a symbol zxing-cpp wrote."""
    return _symbol_set_page(rng, label, WRITTEN, _written)


def _symbol_set_page(rng: random.Random, label: str | None, kinds: tuple[str, ...], drawer) -> Page:
    label = label or rng.choice(LABELS)
    shade = rng.choice(
        SHADES[rng.choice(("green", "yellow", "red")) if label == "invalid" else label]
    )
    header = shade if rng.random() < 0.5 else _accent(rng)
    if label == "invalid":
        kind = rng.choice(kinds)
        img, _ = _free_code_page(rng, shade, header, None, draw_code=drawer(kind))
        return Page(img, label, f"invalid/{kind}")
    img, modules = _free_code_page(rng, shade, header, label)
    return Page(img, label, f"{label}/anywhere", modules)
