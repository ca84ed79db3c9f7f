"""Greedy CTC decoding of the text recogniser's per-step class probabilities.

The recogniser (PP-OCRv6 small) answers, for each of T horizontal steps, probabilities over
[blank, the dictionary's characters in order, space]. The text is the best class of each step,
repeats merged, blanks dropped; each character keeps its probability so that a reader can refuse
characters it is unsure of. Where the digits of a line do not spell a date or time, the same
probabilities are searched again for one (time_shapes.py): a blurred separator lost between sure
digits is found there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from time_shapes import TimeShapes


class Line(NamedTuple):
    """One recognised line: its text and the probability of each of its characters."""

    text: str
    probabilities: tuple[float, ...]


class CtcDecoder:
    def __init__(self, characters: Sequence[str]) -> None:
        self.classes = ["", *characters, " "]  # blank first, space last (the model's layout)
        self.shapes = TimeShapes(self.classes)

    @classmethod
    def from_file(cls, path: str) -> CtcDecoder:
        """One character per line, as extracted from the recogniser's `character` metadata."""
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
        # Not splitlines(): it also splits on characters such as U+2028 that may be in a dictionary.
        return cls(text.removesuffix("\n").split("\n"))

    def decode(self, probabilities: np.ndarray) -> list[Line]:
        """(N, T, classes) probabilities -> N lines."""
        if probabilities.ndim != 3 or probabilities.shape[2] != len(self.classes):
            raise ValueError(
                f"recogniser output {probabilities.shape} does not fit a dictionary of "
                f"{len(self.classes)} classes"
            )
        best = probabilities.argmax(axis=2)
        score = np.take_along_axis(probabilities, best[..., None], axis=2)[..., 0]
        repeated = np.zeros_like(best, dtype=bool)
        repeated[:, 1:] = best[:, 1:] == best[:, :-1]
        keep = (best != 0) & ~repeated
        lines = []
        for n in range(best.shape[0]):
            steps = np.flatnonzero(keep[n])
            greedy = [
                (int(t), self.classes[best[n, t]], round(float(score[n, t]), 4)) for t in steps
            ]
            text, probs = self.shapes.reread(probabilities[n], greedy) or (
                "".join(c for _, c, _ in greedy),
                tuple(p for *_, p in greedy),
            )
            lines.append(Line(text, probs))
        return lines
