"""Scores -> the answer: labelled probabilities, the status, and the safe decision rule.

A false colour is worse than "not recognised, show it again": a colour is answered only when its
calibrated probability reaches `min_colour_probability`; below it the status is "invalid" and
`decided_by` says "threshold" rather than "model". `scores` stay the model's probabilities.

A page refused at the whole page's resolution may get a closer look (the page around its code,
classified again: health_code_closer); a colour that clears the closer look's own bar there is
the answer, with the closer look's scores and `decided_by` "closer_look".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

INVALID = "invalid"  # the label that is not a colour: not a health code, or not one we can read


@dataclass(frozen=True, slots=True)
class Classification:
    status: str
    confidence: float  # the probability of `status`
    scores: dict[str, float]
    model_version: str
    # "model": the most probable class; "threshold": the decision rule refused a colour;
    # "closer_look": a colour the rule accepted in the page around its code
    decided_by: str


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


def closer_look(
    row: NDArray[np.float32],
    labels: tuple[str, ...],
    version: str,
    min_colour_probability: float,
) -> Classification | None:
    """The closer look's SCORES row -> a colour at or above its bar, or None (the first answer
    stands: a closer look may turn "show it again" into a colour, never a colour into anything).

    The bar is the classifier's `closer_look_min_colour_probability`, chosen on the calibration
    split with the floor that decides which pages get a closer look: every extra look is another
    chance of a false colour (training/MODEL_CARD.md, the closer look).
    """
    answer = classify(row, labels, version, min_colour_probability)
    return None if answer.status == INVALID else replace(answer, decided_by="closer_look")
