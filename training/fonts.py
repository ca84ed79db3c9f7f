"""Fonts and text: Latin fonts, a CJK font where one is installed, random pseudo-words and hanzi."""

from __future__ import annotations

import random
import string
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

# Indices into this tuple name fonts; BOLD is the bold sans.
_FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSansMono.ttf",
)
BOLD = 1
# Debian's fonts-wqy-microhei or fonts-noto-cjk; the renderer works (Latin text only) without them.
_CJK_NAMES = ("wqy-microhei.ttc", "NotoSansCJK-Regular.ttc", "wqy-zenhei.ttc")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/Library/Fonts", "C:/Windows/Fonts")

# Common hanzi for names, app titles and notices: text texture, not meaning.
HANZI = (
    "健康码绿黄红行程卡通信大数据核酸检测阴性小时内疫苗接种姓名证件号码出示更新时间防疫"
    "粤康苏随申渝北京宝浙江四川天府广东上海重庆个人信息查询服务中心办理扫一扫付款商家"
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
)
APP_NAMES = (
    "Guangdong Health",
    "Suzhou Health Code",
    "Shanghai Pass",
    "Beijing Health Kit",
    "Health Code",
    "Zhejiang Health",
    "Chongqing Health",
    "Sichuan Tianfu Code",
)
APP_NAMES_CJK = ("粤康码", "苏康码", "随申码", "渝康码", "北京健康宝", "浙江健康码", "天府健康通")
NEUTRAL_WORDS = ("Health code", "Pass", "Valid", "Verified", "健康码", "未见异常", "通行")
STATUS_WORDS = {"green": ("GREEN CODE", "绿码"), "yellow": ("YELLOW CODE", "黄码"),
                "red": ("RED CODE", "红码")}  # fmt: skip


@lru_cache(maxsize=1)
def _found() -> dict[str, str]:
    return {
        p.name: str(p)
        for d in _FONT_DIRS
        if Path(d).is_dir()
        for p in sorted(Path(d).rglob("*"))
        if p.suffix in (".ttf", ".ttc", ".otf")
    }


def font_files() -> tuple[str, ...]:
    """Return the Latin TrueType fonts found on this machine, in a fixed order (may be empty)."""
    return tuple(_found()[name] for name in _FONT_NAMES if name in _found())


def cjk_font_file() -> str | None:
    """Return the CJK font this machine has, if any."""
    return next((_found()[n] for n in _CJK_NAMES if n in _found()), None)


@lru_cache(maxsize=512)
def font(index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return font number `index` (modulo those found) at `size` px; Pillow's own without any."""
    files = font_files()
    if not files:
        return ImageFont.load_default(size)
    return ImageFont.truetype(files[index % len(files)], size)


@lru_cache(maxsize=128)
def cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    path = cjk_font_file()
    return ImageFont.truetype(path, size) if path else None


def font_for(text: str, index: int, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font that can draw `text`: the CJK font for hanzi, else Latin font `index`."""
    if not text.isascii() and (f := cjk_font(size)) is not None:
        return f
    return font(index, size)


def random_text(rng: random.Random, words: int, cjk: bool = False) -> str:
    """Return a line of pseudo-words, or of hanzi when `cjk` (and a CJK font is installed)."""
    if cjk and cjk_font_file():
        return "".join(rng.choices(HANZI, k=rng.randint(2, 4) * words))
    return " ".join(
        "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))).capitalize()
        for _ in range(words)
    )
