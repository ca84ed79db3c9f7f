"""Read a line again, held to the shapes a date or a time takes.

Greedy CTC decoding (ctc_decoding.py) takes the recogniser's best character at each step. On a
blurred photo it often gets every digit of `2020-04-25 22:52:32` and loses a separator
(`2020-0425 22:52:32`), or reads a blurred 5 as `s`; the parser then rightly finds no date. This
module finds the best path through the same per-step probabilities that spells one of the shapes
apps draw (`2022-04-12 09:31:07`, `2022/04/12 09:31`, `2022.04.12 ...`, `2022年04月12日 ...`,
`04月12日 09:31:07`, `04-12 09:31:07`, `09:31:07`, a date alone): a Viterbi search over CTC
alignments of a fixed sequence of character slots, each slot a set of allowed characters
(a month's first digit is 0 or 1, an hour's 0-2).

A shape always fits somewhat, so the reading it gives is only taken when the recogniser saw it:
every digit at MIN_CHAR_PROBABILITY (as for a greedy reading), at most one separator less sure
than MIN_SEPARATOR_PROBABILITY (a dropped `-` between sure digits), and the whole alignment at
most MAX_LIKELIHOOD_RATIO times less likely than the greedy one. A row of digits with no
separators (an ID number, `134653`) needs two or more and is not read as a time; a digit's run
is not split in two to make up a digit the shape wants.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from shown_time import MIN_CHAR_PROBABILITY, MIN_SEPARATOR_PROBABILITY

# Slot letters -> the characters allowed there; any other letter is itself (a separator).
_DIGITS = {
    "d": "0123456789",
    "2": "2",
    "0": "0",
    "m": "01",  # a month's first digit
    "D": "0123",  # a day's
    "h": "012",  # an hour's
    "s": "012345",  # a minute's or a second's
}
_YEAR_DATES = ("20dd-md-Dd", "20dd.md.Dd", "20dd/md/Dd", "20dd年md月Dd日")
_DATES = (*_YEAR_DATES, "md月Dd日")
# The shapes, a space where the text has one (the recogniser may drop it: it is not a slot).
SHAPES = (
    *(f"{date} hd:sd:sd" for date in (*_DATES, "md-Dd")),
    *(f"{date} hd:sd" for date in _YEAR_DATES),
    "hd:sd:sd",
    *_DATES,  # a date over its time, on a line of its own
)
# The shape's alignment may be at most this many times less likely than the greedy one (whose
# probability is the best of each step's): a separator lost in a blank, not a path that splits
# one digit's run in two ("202" as "2022") or makes digits of what the recogniser saw as blank.
MAX_LIKELIHOOD_RATIO = 50.0
# A shape is tried when its digits number within this of the greedy reading's.
DIGIT_SLACK = 2
# A step counts towards the line's digits when they hold this much of its probability; the
# search runs from the first such step to the last (what lies beyond is other text: 更新于).
DIGIT_STEP_MASS = 0.1
# A character no shape holds, read at this or more among the digits, makes the line no date or
# time to search for (an ID number's asterisks): a blurred 5 read as `s` is far less sure.
SURELY_OTHER = 0.9
_FLOOR = 1e-12
_NEVER = -1e30


class _Shape:
    """One shape compiled for the Viterbi search: a state per (slot, allowed class), one after
    each slot for the blanks between characters, and a start state."""

    def __init__(self, shape: str, classes_of: dict[str, list[int]]) -> None:
        self.shape = shape
        self.slots = [classes_of[c] for c in shape.replace(" ", "")]
        self.digits = sum(c in _DIGITS for c in shape)
        states: list[tuple[int, int]] = [(-1, -1)]  # (slot, class); class -1: blank
        emit: list[list[int]] = []  # per slot, its states' indices
        for j, allowed in enumerate(self.slots):
            emit.append(list(range(len(states), len(states) + len(allowed))))
            states += [(j, c) for c in allowed]
        after = [len(states) + j for j in range(len(self.slots))]
        states += [(j, -1) for j in range(len(self.slots))]
        preds: list[list[int]] = []
        for index, (j, c) in enumerate(states):
            if c < 0:  # a blank: stay, or end the slot's character
                preds.append([index] if j < 0 else [index, *emit[j]])
                continue
            before = 0 if j == 0 else after[j - 1]
            # A character follows the last directly only when it differs: CTC merges repeats.
            direct = [] if j == 0 else [s for s in emit[j - 1] if states[s][1] != c]
            preds.append([index, before, *direct])
        width = max(map(len, preds))
        self.none = len(states)  # a state that is never reachable, to pad with
        self.preds = np.array([p + [self.none] * (width - len(p)) for p in preds])
        self.classes = np.array([c for _, c in states])
        self.slot = np.array([j for j, _ in states])
        self.ends = np.array([*emit[-1], after[-1]])

    def best_path(self, logp: np.ndarray, blank: np.ndarray) -> tuple[float, list] | None:
        """(score, [(class, probability)] per slot) of the best alignment, None if none fits."""
        steps = len(logp)
        character = self.classes >= 0
        emission = np.where(character, logp[:, np.maximum(self.classes, 0)], blank[:, None])
        score = np.full(len(self.classes) + 1, _NEVER)
        score[0] = blank[0]
        first = self.slot == 0
        score[:-1][first & character] = emission[0][first & character]
        back = np.empty((steps, len(self.classes)), dtype=np.int32)
        rows = np.arange(len(self.classes))
        for t in range(1, steps):
            candidates = score[self.preds]
            best = candidates.argmax(axis=1)
            back[t] = self.preds[rows, best]
            score[:-1] = candidates[rows, best] + emission[t]
        end = int(self.ends[score[self.ends].argmax()])
        if score[end] <= _NEVER / 2:
            return None
        path = [end]
        for t in range(steps - 1, 0, -1):
            path.append(int(back[t, path[-1]]))
        path.reverse()
        read: list[list] = []
        for t, state in enumerate(path):
            c = int(self.classes[state])
            if c < 0:
                continue
            p = float(np.exp(logp[t, c]))
            if t and path[t - 1] == state:
                read[-1][1] = max(read[-1][1], p)  # a character's best step is its evidence
            else:
                read.append([c, p])
        return (float(score[end]), read) if len(read) == len(self.slots) else None


class TimeShapes:
    def __init__(self, classes: Sequence[str]) -> None:
        """classes: the recogniser's, blank first (CtcDecoder.classes)."""
        self.classes = list(classes)
        by_char: dict[str, list[int]] = {}
        for index, name in enumerate(self.classes[1:], start=1):
            plain = unicodedata.normalize("NFKC", name)  # full-width digits and colons too
            if len(plain) == 1:
                by_char.setdefault(plain, []).append(index)
        self._digit_classes = [i for d in "0123456789" for i in by_char.get(d, [])]
        self._blank_classes = [0, *by_char.get(" ", [])]  # a space is no slot: like a blank
        letters = {c for shape in SHAPES for c in shape if c != " "}
        classes_of = {
            c: [i for d in _DIGITS.get(c, c) for i in by_char.get(d, [])] for c in letters
        }
        self.shapes = [
            _Shape(s, classes_of) for s in SHAPES if all(classes_of[c] for c in s if c != " ")
        ]
        self._shape_characters = {c for letter in letters for c in _DIGITS.get(letter, letter)}
        self._shape_characters.add(" ")
        # A greedy reading that spells a shape, whatever lies around it, is left as it is.
        self._spelled = re.compile(
            r"\D*(?:"
            + "|".join(
                "".join(r"\s*" if c == " " else f"[{_DIGITS.get(c, re.escape(c))}]" for c in s)
                for s in SHAPES
            )
            + r")\D*"
        )

    def reread(
        self, steps: np.ndarray, greedy: Sequence[tuple[int, str, float]]
    ) -> tuple[str, tuple[float, ...]] | None:
        """The line with its date or time read as the likeliest shape, or None where the greedy
        reading already spells one or no shape was seen clearly enough (see the docstring).

        steps: the line's (T, classes) probabilities; greedy: its greedy reading, a (step,
        character, probability) per character. What the greedy reading holds before and after the
        digits (a label such as 更新于) is kept as it is.
        """
        mass = steps[:, self._digit_classes].sum(axis=1)
        hits = np.flatnonzero(mass > DIGIT_STEP_MASS)
        if len(hits) < 4:
            return None
        start, end = hits[0], hits[-1] + 1
        seen = [(unicodedata.normalize("NFKC", c), p) for t, c, p in greedy if start <= t < end]
        inside = "".join(c for c, _ in seen)
        if self._spelled.fullmatch(inside):
            return None
        if any(p >= SURELY_OTHER and c not in self._shape_characters for c, p in seen):
            return None  # a letter or an asterisk among the digits, read for sure: something else
        digits = sum(c.isdigit() for c in inside)
        window = steps[start:end]
        logp = np.log(np.maximum(window, _FLOOR))
        blank = np.log(np.maximum(window[:, self._blank_classes].sum(axis=1), _FLOOR))
        best = None
        for shape in self.shapes:
            if abs(shape.digits - digits) > DIGIT_SLACK:
                continue
            found = shape.best_path(logp, blank)
            if found is not None and (best is None or found[0] > best[1]):
                best = (shape, *found)
        if best is None:
            return None
        shape, score, read = best
        greedy_score = float(np.maximum(logp.max(axis=1), blank).sum())
        if greedy_score - score > np.log(MAX_LIKELIHOOD_RATIO):
            return None
        text: list[str] = []
        probabilities: list[float] = []
        slots = iter(read)
        weak_separators = 0
        for letter in shape.shape:
            if letter == " ":
                text.append(" ")
                probabilities.append(1.0)
                continue
            c, p = next(slots)
            if letter in _DIGITS and p < MIN_CHAR_PROBABILITY:
                return None
            if letter not in _DIGITS and p < MIN_SEPARATOR_PROBABILITY:
                weak_separators += 1
                # The shape placed it between sure digits: as sure as a separator must be.
                p = MIN_SEPARATOR_PROBABILITY
            text.append(unicodedata.normalize("NFKC", self.classes[c]))
            probabilities.append(round(p, 4))
        if weak_separators > 1:
            return None
        before = [(c, p) for t, c, p in greedy if t < start]
        after = [(c, p) for t, c, p in greedy if t >= end]
        joined = [*before, *zip(text, probabilities, strict=True), *after]
        return "".join(c for c, _ in joined), tuple(p for _, p in joined)
