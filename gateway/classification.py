"""Scores -> the answer: labelled probabilities, the status, and the safe decision rule.

A false colour is worse than "not recognised, show it again": a colour is answered only when its
calibrated probability reaches `min_colour_probability`; below it the status is "invalid" and
`decided_by` says "threshold" rather than "model". `scores` stay the model's probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

INVALID = "invalid"  # the label that is not a colour: not a health code, or not one we can read


@dataclass(frozen=True, slots=True)
class Classification:
    status: str
    confidence: float  # the probability of `status`
    scores: dict[str, float]
    model_version: str
    decided_by: str  # "model": the most probable class; "threshold": the decision rule


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
