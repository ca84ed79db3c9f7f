"""Phone screenshots with a known shown time, drawn without training/ (an independent test set).

Own layouts, fonts (Liberation and WenQuanYi, not the renderer's DejaVu) and effects, so that
reading the time is checked on images the OCR pipeline was never tuned on by construction:

    shot = screen(random.Random(7))           # a Shot: image, expected reading, style
    jpeg = encode(shot.image, "screenshot")   # or "resaved", "photo"

Every page shows the time in one of the forms health-code apps use, plus distractors: the status
bar's clock (another time), a name, a masked ID, notices, sometimes a date without a time far
from the clock, and a QR code.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import segno
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
LATIN = ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationSansNarrow-Bold.ttf")
CJK = ("wqy-microhei.ttc", "NotoSansCJK-Regular.ttc", "wqy-zenhei.ttc")
SIZES = ((720, 1600), (1080, 2340), (1080, 1920), (1170, 2532), (1440, 3200), (828, 1792))
# style -> (lines drawn as a strftime pattern each, reading as a strftime pattern)
STYLES = {
    "ymd_hms": (("%Y-%m-%d %H:%M:%S",), "%Y-%m-%dT%H:%M:%S"),
    "md_cjk_split": (("%m月%d日", "%H:%M:%S"), "--%m-%dT%H:%M:%S"),
    "updated": (("更新于：%Y.%m.%d %H:%M:%S",), "%Y-%m-%dT%H:%M:%S"),  # noqa: RUF001
    "ymd_slash_hm": (("%Y/%m/%d %H:%M",), "%Y-%m-%dT%H:%M"),
    "hms_only": (("%H:%M:%S",), "T%H:%M:%S"),
    "md_dash_hms": (("%m-%d %H:%M:%S",), "--%m-%dT%H:%M:%S"),
    "ymd_cjk_hms": (("%Y年%m月%d日 %H:%M:%S",), "%Y-%m-%dT%H:%M:%S"),
}
CJK_STYLES = ("md_cjk_split", "updated", "ymd_cjk_hms")
NOTICES = (
    "请主动出示健康码",
    "核酸检测结果 阴性",
    "疫苗接种 已完成",
    "Show this code at entry",
    "Valid for today only",
    "本码仅用于防疫通行",
    "Health status normal",
)
NAMES = ("Li Wei", "Zhang Min", "Wang Fang", "Chen Jie", "刘洋", "王静", "赵磊")


@dataclass(frozen=True)
class Shot:
    image: Image.Image
    reading: str  # what health_code_time should answer in READING
    style: str
    shown: datetime


@lru_cache(maxsize=1)
def _fonts() -> dict[str, str]:
    found = {}
    for d in FONT_DIRS:
        if Path(d).is_dir():
            for p in sorted(Path(d).rglob("*")):
                found.setdefault(p.name, str(p))
    return found


def cjk_available() -> bool:
    return any(name in _fonts() for name in CJK)


def _font(size: int, cjk: bool, rng: random.Random) -> ImageFont.FreeTypeFont:
    names = [n for n in (CJK if cjk else LATIN) if n in _fonts()]
    if not names:
        raise RuntimeError("benchmarks.time_screens needs Liberation fonts (and a CJK font)")
    return ImageFont.truetype(_fonts()[rng.choice(names) if not cjk else names[0]], size)


def _needs_cjk(text: str) -> bool:
    return any(ord(c) > 0x2E80 for c in text)


def _text(draw, xy, text, size, fill, rng, anchor="ma") -> tuple[int, int, int, int]:
    font = _font(size, _needs_cjk(text), rng)
    draw.text(xy, text, fill=fill, font=font, anchor=anchor)
    return draw.textbbox(xy, text, font=font, anchor=anchor)


def random_time(rng: random.Random) -> datetime:
    start = datetime(2021, 1, 1)
    return start + timedelta(seconds=rng.randrange(int(timedelta(days=3 * 365).total_seconds())))


def screen(rng: random.Random, style: str | None = None, shown: datetime | None = None) -> Shot:
    """One screenshot of a made-up health-code app showing `shown` in `style`."""
    styles = [s for s in STYLES if cjk_available() or s not in CJK_STYLES]
    style = style or rng.choice(styles)
    shown = shown or random_time(rng)
    width, height = rng.choice(SIZES)
    dp = width / 390
    dark = rng.random() < 0.3
    bg, fg = ((18, 18, 22), (235, 235, 235)) if dark else ((246, 247, 249), (25, 25, 25))
    accent = tuple(rng.randrange(0, 200) for _ in range(3))
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    bar = round(44 * dp)
    draw.rectangle((0, 0, width, bar + round(56 * dp)), fill=accent)
    clock = (shown + timedelta(minutes=rng.randrange(-600, 600))).strftime("%H:%M")
    _text(draw, (round(18 * dp), round(12 * dp)), clock, round(14 * dp), "white", rng, "la")
    title = rng.choice(("健康码", "Health Pass", "Suikang"))
    _text(draw, (width // 2, bar + round(14 * dp)), title, round(20 * dp), "white", rng)
    y = bar + round(80 * dp)
    _text(draw, (width // 2, y), rng.choice(NAMES), round(18 * dp), fg, rng)
    y += round(30 * dp)
    masked = f"{rng.randrange(110000, 659999)}********{rng.randrange(10000):04d}"
    _text(draw, (width // 2, y), masked, round(13 * dp), (130, 130, 130), rng)
    y += round(36 * dp)
    lines, pattern = STYLES[style]
    size = round(rng.choice((16, 18, 22, 26, 30)) * dp)
    clock_first = rng.random() < 0.5
    if clock_first:
        y = _draw_clock(draw, y, lines, shown, size, fg, rng, width)
    code = _qr(rng, round(rng.uniform(0.5, 0.68) * width))
    img.paste(code, ((width - code.width) // 2, y + round(10 * dp)))
    y += code.height + round(24 * dp)
    if not clock_first:
        y = _draw_clock(draw, y, lines, shown, size, fg, rng, width)
    y += round(20 * dp)
    for _ in range(rng.randint(1, 3)):
        if y > height - round(60 * dp):
            break
        notice = rng.choice(NOTICES)
        if rng.random() < 0.2:  # a date without a time, well away from the clock
            notice += (shown - timedelta(days=rng.randrange(1, 30))).strftime(" %Y-%m-%d")
        if _needs_cjk(notice) and not cjk_available():
            continue
        _text(draw, (round(24 * dp), y), notice, round(14 * dp), fg, rng, "la")
        y += round(40 * dp)
    return Shot(img, shown.strftime(pattern), style, shown)


def _draw_clock(draw, y, lines, shown, size, fg, rng, width) -> int:
    for line in lines:
        box = _text(draw, (width // 2, y), shown.strftime(line), size, fg, rng)
        y = box[3] + round(size * 0.5)
    return y


def _qr(rng: random.Random, side: int) -> Image.Image:
    """A QR code in a status colour on white, about side pixels wide."""
    matrix = np.array(segno.make(f"HC{rng.randrange(10**12)}", error="m").matrix, dtype=bool)
    matrix = np.pad(matrix, 2)
    colour = rng.choice(((22, 160, 80), (230, 170, 20), (210, 40, 40), (20, 20, 20)))
    pixels = np.where(matrix[..., None], np.array(colour, np.uint8), np.uint8(255))
    scale = max(1, side // matrix.shape[0])
    return Image.fromarray(pixels.astype(np.uint8)).resize(
        (matrix.shape[1] * scale, matrix.shape[0] * scale), Image.Resampling.NEAREST
    )


def photograph(img: Image.Image, rng: random.Random) -> Image.Image:
    """A phone photo of the screen: perspective, a background, blur, noise, a colour cast."""
    w, h = img.size
    out_w, out_h = 1440, 1920
    scale = rng.uniform(0.65, 0.85) * out_h / h
    sw, sh = w * scale, h * scale
    cx, cy = out_w / 2 + rng.uniform(-60, 60), out_h / 2 + rng.uniform(-60, 60)
    angle = np.deg2rad(rng.uniform(-8, 8))
    corners = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = dx * sw / 2 * rng.uniform(0.94, 1.0), dy * sh / 2 * rng.uniform(0.94, 1.0)
        corners.append(
            (cx + x * np.cos(angle) - y * np.sin(angle), cy + x * np.sin(angle) + y * np.cos(angle))
        )
    background = Image.new("RGB", (out_w, out_h), tuple(rng.randrange(40, 160) for _ in range(3)))
    warped = img.transform(
        (out_w, out_h),
        Image.Transform.PERSPECTIVE,
        _perspective(corners, w, h),
        Image.Resampling.BILINEAR,
    )
    mask = Image.new("L", img.size, 255).transform(
        (out_w, out_h), Image.Transform.PERSPECTIVE, _perspective(corners, w, h)
    )
    background.paste(warped, (0, 0), mask)
    photo = background.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.6)))
    pixels = np.asarray(photo, dtype=np.float32)
    pixels = pixels * np.array([rng.uniform(0.85, 1.1) for _ in range(3)]) + rng.uniform(-20, 20)
    pixels += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(2, 7), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _perspective(corners, w: int, h: int) -> list[float]:
    """Coefficients mapping output pixels back to the screen's for Image.transform."""
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(corners, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.array(rows), np.array(rhs)).tolist()


def encode(img: Image.Image, kind: str, rng: random.Random | None = None) -> bytes:
    """As a screenshot (PNG or JPEG 90), a re-saved one (shrunk, JPEG 50-75) or a photo."""
    rng = rng or random.Random(0)
    out = io.BytesIO()
    if kind == "screenshot":
        if rng.random() < 0.5:
            img.save(out, "PNG")
        else:
            img.save(out, "JPEG", quality=90)
    elif kind == "resaved":
        scale = rng.uniform(0.6, 1.0)
        small = img.resize((round(img.width * scale), round(img.height * scale)))
        small.save(out, "JPEG", quality=rng.randint(50, 75))
    elif kind == "photo":
        photograph(img, rng).save(out, "JPEG", quality=rng.randint(70, 90))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return out.getvalue()
