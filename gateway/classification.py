"""Scores -> the answer: labelled probabilities, the status, and the safe decision rule.

A false colour is worse than "not recognised, show it again": a colour is answered only when its
calibrated probability reaches `min_colour_probability`; below it the status is "invalid" and
`decided_by` says "threshold" rather than "model". `scores` stay the model's probabilities.

The closer look (health_code_closer: the page's code found, the page around it classified
again) serves two pages. A page refused at the whole page's resolution: a colour that clears the
closer look's own bar there is the answer, with the closer look's scores and `decided_by`
"closer_look". And a colour answered with less than near-certainty: a health code page shows a
code, so where the closer look finds none the colour is withdrawn (`invalid`, `decided_by`
"no_code"): a page of coloured thumbnails or icons is not a health code, however it looks.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

INVALID = "invalid"  # the label that is not a colour: not a health code, or not one we can read
# The decision rule's parameters in a classifier's config.pbtxt: `make train` writes them
# (training/export.py), the gateway reads them (triton_client.py).
THRESHOLD_PARAMETER = "min_colour_probability"
CLOSER_BAR_PARAMETER = "closer_look_min_colour_probability"
CLOSER_FLOOR_PARAMETER = "closer_look_min_first_colour"
CLOSER_UNSEEN_PARAMETER = "closer_look_min_colour_probability_unseen"
CLOSER_CHECK_PARAMETER = "closer_look_check_colours_below"
CLOSER_FINDER_PARAMETER = "closer_look_min_sharpness_without_finder"
CLOSER_FINDER_BAR_PARAMETER = "closer_look_min_colour_probability_with_finder"


@dataclass(frozen=True, slots=True)
class Classification:
    status: str
    confidence: float  # the probability of `status`
    scores: dict[str, float]
    model_version: str
    # "model": the most probable class; "threshold": the decision rule refused a colour;
    # "closer_look": a colour the rule accepted in the page around its code; "no_code": a colour
    # withdrawn because the page has no code the closer look could find; "no_finder": a colour
    # withdrawn because its code, seen sharp, shows no QR finder squares; "code_colour": a refused
    # page answered with the colour its first look saw most, which its decoded QR code is inked in
    decided_by: str


@dataclass(frozen=True, slots=True)
class CloserLookRule:
    """When the closer look is taken and what it decides; chosen on the calibration split by
    `make train` (training/closer_look.py) and read from the classifier's config."""

    min_colour_probability: float  # the view's colour probability that makes it the answer
    min_first_colour: float  # ... of a refused page whose first look saw this much colour
    # The view's colour probability that makes it the answer of a refused page whose first look
    # saw less colour than that (a small code in a photo can look like no code at all); None:
    # such pages get no closer look.
    min_colour_probability_unseen: float | None = None
    # A colour answered below this probability is looked at for a code (0: never).
    check_colours_below: float = 0.0
    # The finder check: a colour whose view is at least this sharp needs QR finder squares in
    # the first look or the view (None: no finder check; training/metrics.py FINDER_SHARPNESS_BAR).
    min_sharpness_without_finder: float | None = None
    # The view's colour probability that answers a refused page whose first look saw colour at
    # the floor or more, where the closer look saw QR finder squares (a QR code's, not a symbol
    # that looks like one); None: min_colour_probability, as where it saw none, and also where
    # that is over 1 (the closer look answers no colour).
    min_colour_probability_with_finder: float | None = None

    def applies(self, first: Classification, finder: bool | None) -> bool:
        """Whether the first answer gets a closer look under this rule; `finder`: whether the
        first look's tensor shows QR finder squares (None: not known)."""
        if first.status == INVALID:
            return self.bar(first) is not None
        if self.min_sharpness_without_finder is not None and finder is not None:
            # finder squares seen are a code found: nothing to check; none seen: look closer
            return not finder
        return first.confidence < self.check_colours_below

    def finderless(self, view: Look) -> bool:
        """Whether the view is sharp enough to show finder squares and shows none."""
        bar = self.min_sharpness_without_finder
        return self.unproven(view) and bar is not None and view.sharpness >= bar

    def unproven(self, view: Look) -> bool:
        """Whether the finder check is on (a bar of 1 or less) and the closer look saw no finder
        squares, however soft its view. Such a view answers no refused page: the classifier
        takes a soft view of a small PDF417 or Aztec code for a code's colour, and nearly every
        soft view of a real QR code it answers shows finder squares somewhere (benchmarks/
        NOTES.md, stop 58)."""
        bar = self.min_sharpness_without_finder
        return bar is not None and bar <= 1 and view.finder is False

    def needs_ink(self, first: Classification) -> bool:
        """Whether the closer look is asked for the ink of the page's code whatever it sees: a
        colour's (the ink keeps the colour), or a refused page's that its ink may answer. Any other
        look reads it only where it sees finder squares (code_locator.look_closer_checked): there
        the ink can only confirm a view's colour (CloserLookRule.bar's `inked`)."""
        return first.status != INVALID or self.ink_may_answer(first)

    def ink_may_answer(self, refused: Classification) -> bool:
        """Whether a refused page may be answered with its code's ink: its first look saw a
        colour at the floor or more, and the closer look may answer one (a bar over 1: never)."""
        seen = most_seen(refused)[1] >= self.min_first_colour
        return seen and self.min_colour_probability <= 1

    def bar(
        self, refused: Classification, finder: bool | None = None, inked: bool = False
    ) -> float | None:
        """The view's colour probability that answers a refused page (None: no closer look);
        `finder`: whether the closer look saw QR finder squares (None: not known); `inked`:
        whether the view's colour is the ink of a QR code decoded in the page. A page whose first
        look saw less colour than the floor needs the unseen bar, unless its closer look found a
        QR code (finder squares) inked in the view's colour: two reads of the code itself agree,
        and no badge, symbol or black code under a coloured header is such a code (benchmarks/
        NOTES.md, stop 63)."""
        if most_seen(refused)[1] < self.min_first_colour and not (finder and inked):
            return self.min_colour_probability_unseen
        with_finder = self.min_colour_probability_with_finder
        # A rule's bar over 1 answers no colour, finder squares seen or not.
        if finder and with_finder is not None and self.min_colour_probability <= 1:
            return min(self.min_colour_probability, with_finder)
        return self.min_colour_probability


def most_seen(answer: Classification) -> tuple[str, float]:
    """The colour an answer's scores give most probability, and that probability."""
    return max(
        ((label, p) for label, p in answer.scores.items() if label != INVALID), key=lambda c: c[1]
    )


def classify(
    row: NDArray[np.float32],
    labels: tuple[str, ...],
    version: str,
    min_colour_probability: float | None,
) -> Classification:
    """One SCORES row -> status, confidence and labelled scores, under the decision rule."""
    values = [round(float(x), 6) for x in row.tolist()]
    scores = dict(zip(labels, values, strict=True))
    best = max(scores, key=scores.__getitem__)
    if best != INVALID and min_colour_probability and scores[best] < min_colour_probability:
        return Classification(INVALID, scores[INVALID], scores, version, "threshold")
    return Classification(best, scores[best], scores, version, "model")


# The status a decoded QR code's ink shows (code_locator.code_ink: RGB in [0, 1], white-balanced):
# its hue in degrees within one of these ranges, and at least INK_MIN_CHROMA of colour (max - min
# channel). Wider than the renderer's shades (training/colours.py), narrow enough that no blue,
# purple, teal or black ink (the renderer's, and the independent pages', invalid codes) passes;
# orange (15-30) is neither yellow nor red (benchmarks/NOTES.md, the code's ink).
INK_HUES = {"green": (75.0, 175.0), "yellow": (30.0, 70.0), "red": (-25.0, 15.0)}
INK_MIN_CHROMA = 0.2


def ink_status(ink: NDArray[np.float32] | None) -> str | None:
    """The status whose ink `ink` is (RGB in [0, 1]), or None: no code read, or no status's."""
    if ink is None or float(ink.max() - ink.min()) < INK_MIN_CHROMA:
        return None
    hue = colorsys.rgb_to_hsv(*(float(c) for c in ink))[0] * 360
    return next(
        (s for s, (lo, hi) in INK_HUES.items() if lo <= hue <= hi or lo <= hue - 360 <= hi), None
    )


@dataclass(frozen=True, slots=True)
class Look:
    """What the closer look saw: the view's scores, whether it found a code (a box), and the
    finder check of the view, or where no code was found of a coarse symbol's (finder None: the
    closer look model does not report it), the status its decoded QR code's ink shows (None:
    no code read, an ink of no status, or a closer look model that does not report it), and
    whether the code it found is a blurred code's (found only with a lower edge step)."""

    scores: NDArray[np.float32]
    found_code: bool
    finder: bool | None = None
    sharpness: float = 0.0
    ink: str | None = None
    blurred: bool = False


def after_closer_look(
    first: Classification, rule: CloserLookRule, look: Look, labels: tuple[str, ...]
) -> tuple[Classification, str]:
    """The answer after a closer look and the look's outcome (the metrics label).

    A refused page: the view's colour at or above the rule's bar for it ("colour"); else, where
    its ink may answer it (rule.ink_may_answer) and a QR code decoded in the page is inked in the
    colour its first look saw most, that colour ("code_colour": a decoded code is a QR code,
    and its modules' colour is the status); else the first answer ("invalid"; "no_code" where no
    code was found; "no_finder" where the view's colour cleared the bar but the closer look saw
    no finder squares, however sharp the view). Every extra look is another chance of a false
    colour, hence bars of its own (training/MODEL_CARD.md, the closer look), the stricter where
    the first look saw almost no colour. A colour: kept where a decoded code is inked in it
    ("confirmed"); else withdrawn where the view is sharp and shows no finder squares
    ("no_finder"); else kept where a code was found (a blurred code's: where its view sees that
    colour most) or the colour is at or over the code check's bar ("confirmed"), withdrawn where
    neither ("withdrawn"). A blurred code's view answers no refused page.
    """
    if first.status != INVALID:
        if look.ink == first.status:
            return first, "confirmed"
        if rule.finderless(look):
            return _withdrawn(first, "no_finder"), "no_finder"
        if _code_for(first.status, look, labels) or first.confidence >= rule.check_colours_below:
            return first, "confirmed"
        return _withdrawn(first, "no_code"), "withdrawn"
    answer, outcome = _from_view(first, rule, look, labels)
    if outcome == "colour":
        return answer, outcome
    seen, probability = most_seen(first)
    if look.ink != seen or not rule.ink_may_answer(first):
        return first, outcome
    answer = replace(first, status=seen, confidence=probability, decided_by="code_colour")
    return answer, "code_colour"


def _from_view(
    first: Classification, rule: CloserLookRule, look: Look, labels: tuple[str, ...]
) -> tuple[Classification, str]:
    """A refused page's answer from its view alone, and the outcome (after_closer_look). A
    blurred code's view answers none: the classifier calls some of the noise and flat squares
    that search frames a colour."""
    if not look.found_code or look.blurred:
        return first, "no_code"
    inked = look.ink is not None and look.ink == labels[int(np.argmax(look.scores))]
    bar = rule.bar(first, look.finder, inked)
    answer = classify(look.scores, labels, first.model_version, bar)
    if answer.status == INVALID:
        return first, "invalid"
    if rule.unproven(look):
        return first, "no_finder"
    return replace(answer, decided_by="closer_look"), "colour"


def _code_for(colour: str, look: Look, labels: tuple[str, ...]) -> bool:
    """Whether the look found a code that keeps `colour`: a located code, or a blurred code whose
    view's most probable class is that colour. The search for blurred codes also frames a photo's
    noise and flat squares (a placeholder's), whose views the classifier calls invalid
    (benchmarks/NOTES.md, stop 60)."""
    if not look.found_code:
        return False
    return not look.blurred or labels[int(np.argmax(look.scores))] == colour


def _withdrawn(colour: Classification, decided_by: str) -> Classification:
    """A colour answer turned invalid; its scores stay the model's."""
    return replace(colour, status=INVALID, confidence=colour.scores[INVALID], decided_by=decided_by)
