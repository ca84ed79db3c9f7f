"""Evaluation factor families: each renders clean screenshots with one factor switched on.

Clean means no capture effect, JPEG quality 90, light mode, full screen; a family overrides only its
own factors, so its accuracy measures that factor alone. Layouts and kinds stay random.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from training.spec import INVALID_KINDS, PHONE_SIZES

# Whole app layouts never seen in training or calibration, each evaluated on its own: a code on
# a card under a row of tabs, and a city portal whose code sits in one of four feature tiles.
HOLDOUT_LAYOUTS = ("tabs", "portal")
CLEAN: dict[str, object] = {
    "photo": False,
    "rotation": 0.0,
    "blur": 0.0,
    "glare": 0.0,
    "moire": 0.0,
    "noise": 0.0,
    "crop": False,
    "dark": False,
    "fmt": "jpeg",
    "quality": 90,
    "chat": False,
}
_SMALL = [s for s in PHONE_SIZES if s[0] <= 750]
_BIG = [s for s in PHONE_SIZES if s[0] >= 1242]
Factors = Callable[[random.Random], dict[str, object]]


def _size(sizes: list[tuple[int, int]]) -> Factors:
    def pick(rng: random.Random) -> dict[str, object]:
        width, height = rng.choice(sizes)
        return {"width": width, "height": height}

    return pick


def _photo_all(rng: random.Random) -> dict[str, object]:
    return {
        "photo": True,
        "rotation": rng.uniform(-15, 15),
        "blur": rng.uniform(0.1, 1.2),
        "glare": rng.uniform(0.1, 0.6),
        "moire": rng.uniform(0.03, 0.15),
        "noise": rng.uniform(2, 12),
        "quality": rng.randint(30, 95),
    }


FAMILIES: dict[str, Factors] = {
    "clean": lambda rng: {},
    "photo of screen": lambda rng: {"photo": True},
    "photo, every effect": _photo_all,
    "rotation": lambda rng: {"rotation": rng.uniform(-15, 15)},
    "blur": lambda rng: {"blur": rng.uniform(0.1, 1.2)},
    "glare": lambda rng: {"glare": rng.uniform(0.1, 0.6)},
    "moire": lambda rng: {"moire": rng.uniform(0.03, 0.15)},
    "noise": lambda rng: {"noise": rng.uniform(2, 12)},
    "jpeg q30-95, chat apps": lambda rng: {"quality": rng.randint(30, 95), "chat": True},
    "png": lambda rng: {"fmt": "png"},
    "crop": lambda rng: {"crop": True},
    "dark mode": lambda rng: {"dark": True},
    "small phones": _size(_SMALL),
    "big phones": _size(_BIG),
}
# Blank and tiny images take no capture effect: they would only repeat the clean family.
_KINDS = {k: w for k, w in INVALID_KINDS.items() if k not in ("blank", "tiny")}


def family_factors(family: str, label: str, seed: int) -> dict[str, object]:
    """The pinned factors of image `seed` of `family`; invalid images are never blank or tiny."""
    rng = random.Random(f"{family}/{seed}")
    factors = {**CLEAN, **FAMILIES[family](rng)}
    if label == "invalid":
        factors["kind"] = rng.choices(list(_KINDS), list(_KINDS.values()))[0]
    return factors
