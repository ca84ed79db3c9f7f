"""Metrics: accuracy, per-class precision and recall, confusion, per-group accuracy, calibration."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from training.render import LABELS

ECE_BINS = 15
INVALID = LABELS.index("invalid")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def expected_calibration_error(scores: np.ndarray, labels: np.ndarray) -> float:
    """ECE over 15 equal-width bins of the top score: sum of |accuracy - confidence| x bin share."""
    confidence, correct = scores.max(axis=1), scores.argmax(axis=1) == labels
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        mask = bins == b
        gap += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(gap)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood, on a log grid from 0.25 to 8."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 241))
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        return float(-np.log(softmax(logits, t)[rows, labels] + 1e-12).mean())

    return float(min(grid, key=nll))


def safe_answers(scores: np.ndarray, min_colour_probability: float) -> np.ndarray:
    """The decision rule: the argmax, except that a colour below the threshold answers invalid."""
    answers = scores.argmax(axis=1)
    unsure = (answers != INVALID) & (scores.max(axis=1) < min_colour_probability)
    answers[unsure] = INVALID
    return answers


def rule_rates(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """(invalid images answered as a colour, colour images answered with their colour) under the
    decision rule at `threshold`."""
    answers = safe_answers(scores, threshold)
    invalid, colour = labels == INVALID, labels != INVALID
    as_colour = float((answers[invalid] != INVALID).mean()) if invalid.any() else 0.0
    recall = float((answers[colour] == labels[colour]).mean()) if colour.any() else 1.0
    return as_colour, recall


def choose_threshold(
    scores: np.ndarray,
    labels: np.ndarray,
    max_invalid_as_colour: float = 0.003,
    min_colour_recall: float = 0.99,
) -> float:
    """The minimum calibrated probability for answering a colour, chosen on calibration scores.

    Of the thresholds (0.40 to 0.99 in steps of 0.01) that keep invalid images answered as a
    colour at or under `max_invalid_as_colour` and colour recall at or over `min_colour_recall`,
    take the middle one: as far from answering too many invalid images with a colour as from
    refusing too many true colours. Where no threshold meets both, safety wins (a false colour is
    worse than "show it again"): the lowest threshold that meets `max_invalid_as_colour`, which
    refuses the fewest true colours; where none does, the one with the fewest invalid images
    answered as a colour (the lowest of those).
    """
    grid = np.round(np.arange(0.40, 0.995, 0.01), 2)
    rates = [rule_rates(scores, labels, t) for t in grid]
    ok = [t for t, (bad, recall) in zip(grid, rates, strict=True)
          if bad <= max_invalid_as_colour and recall >= min_colour_recall]  # fmt: skip
    if ok:
        return float(ok[len(ok) // 2])
    safe = [t for t, (bad, _) in zip(grid, rates, strict=True) if bad <= max_invalid_as_colour]
    if safe:
        return float(safe[0])
    return float(min(zip((bad for bad, _ in rates), grid, strict=True))[1])


# The closer look's rule: a view's colour needs at least `bar`; a page gets a closer look only
# when its first look saw a colour at `floor` or more (gateway/classification.py). No bar under
# 0.99: calendars of status-coloured squares, which the locator takes for a code and which the
# calibration split did not draw until 2026-12-06 (iteration 12), had yellow views at 0.989 and
# 0.991 on independent pages, both answered by the 0.97 that a network trained on views chose
# on its split (benchmarks/NOTES.md, 2026-12-06 06:30). The renderer draws such grids now; the
# floor stays as a safety setting, since a split can only show the look-alikes it draws.
CLOSER_BARS = (0.99, 0.995)
CLOSER_FLOORS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
# A refused page whose first look saw less colour than the floor (a small code in a photo, a
# pixel a module at the whole page's resolution, can look like no code at all) is answered from
# its view only when the view is near-certain: at this bar, unless the calibration split shows it
# costs a right answer or adds a false colour (then not at all). Not 0.999: status badges on
# independent pages had views at 0.9992-0.9993, which the calibration split, with few badges whose
# view looks like a code, could not show (iteration 9 chose 0.999 there and answered two badges
# of seeds 11-12 yellow; benchmarks/NOTES.md, 2026-12-05 02:30).
UNSEEN_BAR = 0.9999
# The code check: a colour answered below this is withdrawn where the closer look finds no code
# (a health code page shows one). It can only turn colours into invalid, and the calibration split
# cannot show what it buys: the renderer draws few code-less pages that the first look takes for a
# colour, while independent pages have news lists with coloured pictures answered a colour at
# 0.990-0.9998. So it is a safety setting, chosen on independent pages rather than on the split:
# on the 900 invalid photos of independent seeds 1-9 it took iteration 7's false colours from 7
# (bar 0.99, what a bound on the split had chosen) to 2, and withdrew none of 900 colour photos
# (benchmarks/NOTES.md, 2026-12-05). Above it most colour answers would pay for a closer look.
CODE_CHECK_BAR = 0.999
# The finder check: a colour whose first look shows no QR finder squares is withdrawn where the
# closer look's view is at least this sharp (code_locator.sharpness: 1 - edge width / the
# texture's pitch) and shows none either (nor the page, nor a soft view's close read). Like the
# code check, a safety setting chosen on independent pages: of the 300 status-coloured symbols of
# symbols seeds 54-57 (Data Matrix, Aztec, grids, mazes) the first look answered 216 a colour; at
# 0.62 the check left 6 (all photos), at 0.55 with the close read 2 (benchmarks/NOTES.md,
# 2026-12-07, stops 54 and 55). Over those seeds, the renderer's 17 sets and status and wider
# seeds 54-55, 4,535 of 4,650 colour pages stay right (4,540 at 0.62; 4,523 at 0.55 without the
# close read); on symbols seeds 58-59, never used in the choice, 5 of 600 pass against 17.
FINDER_SHARPNESS_BAR = 0.55
# The bars a view may answer a refused page at where the closer look saw QR finder squares in its
# code (metrics.choose_finder_bar picks one on the calibration split): a QR code's finder squares
# rule out the symbols, calendars and badges the rule's own bar is high for, so a view's colour
# can count for less there. Never under 0.9: of 364 invalid independent pages whose closer look
# saw finder squares (black codes under coloured headers, codes of other inks; seeds 74-79), none
# had a view answering a colour at 0.9-0.995 (benchmarks/NOTES.md, stop 61).
FINDER_BARS = (0.9, 0.95, 0.98, 0.99)


# The mirror's look is paid for only where the first look is unsure (model.SoftmaxScores): a page
# the first look scores at the gate or more is answered from that look alone. The gate is the
# lowest of these at which, on the calibration split, the whole decision rule (threshold, closer
# look, code check), chosen on both looks' scores, gives every page the same answer from the gated
# scores. So gating changes no answer there; it keeps the look that helped most on photos and
# unseen layouts for the pages that need it. A value over 1 (NEVER_GATED) takes both looks for
# every page. (A first bound, "both looks as sure as every code-check bar", blocked every gate
# for a network trained on: its first look is surer than its mirror-averaged one on right pages.)
GATES = (0.999, 0.9995, 0.9998, 0.9999, 0.99995, 0.99999)
NEVER_GATED = 2.0


def gated_logits(
    first: np.ndarray, both: np.ndarray, temperature: float, gate: float
) -> np.ndarray:
    """The served logits (softmax(them / temperature) are the served scores): the first look's
    where its scores are at least `gate` sure, else the mirror-averaged ones."""
    sure = softmax(first, temperature).max(axis=1, keepdims=True) >= gate
    return np.where(sure, first, both)


def choose_gate(
    first: np.ndarray, both: np.ndarray, decide: Callable[[np.ndarray], np.ndarray]
) -> float:
    """The lowest of GATES at which gating changes no answer on these (calibration) pages: the
    first look's and both looks' probabilities of the same pages, and `decide`, the whole
    decision rule from served scores to answers; NEVER_GATED if none."""
    answers = decide(both)
    sure = first.max(axis=1, keepdims=True)
    return next(
        (g for g in GATES if (decide(np.where(sure >= g, first, both)) == answers).all()),
        NEVER_GATED,
    )


@dataclass(frozen=True)
class Finders:
    """The finder check on a set's pages (code_locator.py): whether each page's first look shows
    QR finder squares; whether its closer look found a code and saw no finder squares (False
    where there is no view), and whether that view is sharp (at the bar or over); the label
    whose ink a QR code decoded in the page by the closer look shows
    (gateway.classification.ink_status; -1 where none, or no closer look); and whether the code
    the closer look found is a blurred one's (code_locator.CloserLook.blurred)."""

    first: np.ndarray  # bool [N]
    finderless_view: np.ndarray  # bool [N]
    sharp_view: np.ndarray  # bool [N]
    ink: np.ndarray | None = None  # int [N]
    blurred: np.ndarray | None = None  # bool [N]


def closer_answers(
    first: np.ndarray,
    views: np.ndarray,
    threshold: float,
    rule: tuple[float, float] | None,
    check: float = 0.0,
    unseen: float | None = None,
    finders: Finders | None = None,
    with_finder: float | None = None,
) -> np.ndarray:
    """The served answers (gateway.classification): the decision rule on the first look, then
    the closer look's colour for a refused page whose view (a row of `views`; NaN where the closer
    look found no code) clears the bar (`rule`'s where the first look saw a colour at its floor or
    more, else `unseen`, if any), and invalid for a colour below `check` whose page has no code.
    With `finders`, the finder check too: a colour whose first look shows finder squares needs no
    code check; one that shows none is withdrawn where its view is sharp and finderless, and a
    refused page's finderless view answers nothing, however soft; and the code's ink: a colour
    whose decoded code is inked in it stands, and a refused page the view left refused, whose
    first look saw a colour at the floor or more, is answered with the colour it saw most where
    its code is inked in it (unless the view's bar is over 1: the closer look answers no
    colour); and blurred codes: one keeps a colour only where its view sees that colour most,
    and answers no refused page. With `with_finder` (and `finders`), a refused page whose first
    look saw a colour at the floor or more is answered from a view whose code shows finder
    squares at that bar, where it is lower than the rule's. A page whose first look saw less
    colour than the floor counts as seen where its closer look shows finder squares and its
    decoded code is inked in its view's colour (where `unseen` allows such pages a look)."""
    answers = safe_answers(first, threshold)
    if rule is None:
        return answers
    colour = answers != INVALID
    looked = np.nan_to_num(views, nan=0.0)
    blurred = np.zeros(len(first), bool)
    if finders is not None and finders.blurred is not None:
        blurred = finders.blurred
    no_code = np.isnan(views[:, 0]) | (blurred & (looked.argmax(axis=1) != answers))
    no_code &= first.max(axis=1) < check
    if finders is None:
        withdrawn, blocked = colour & no_code, np.zeros(len(first), bool)
    else:
        blocked = finders.finderless_view
        withdrawn = colour & ~finders.first & ((blocked & finders.sharp_view) | no_code)
    bar, floor = rule
    colours = np.delete(np.arange(first.shape[1]), INVALID)  # the labels that are colours
    seen = first[:, colours].max(axis=1) >= floor
    bars = np.where(seen, bar, np.inf if unseen is None else unseen)
    if finders is not None and bar <= 1:  # over 1: no colour at all
        proven = ~np.isnan(views[:, 0]) & ~finders.finderless_view  # finder squares seen
        counted = seen  # a page seen colourless whose QR code is inked in its view's colour
        if finders.ink is not None and unseen is not None:
            counted = seen | (proven & (finders.ink == looked.argmax(axis=1)))
            bars = np.where(counted, bar, bars)
        if with_finder is not None:
            bars = np.where(counted & proven, min(bar, with_finder), bars)
    taken = (answers == INVALID) & (looked.argmax(axis=1) != INVALID) & (looked.max(axis=1) >= bars)
    taken &= ~blocked & ~blurred
    if finders is not None and finders.ink is not None:
        most = colours[first[:, colours].argmax(axis=1)]
        inked = finders.ink == most
        withdrawn &= ~(colour & inked)
        read = (answers == INVALID) & ~taken & seen & inked & (bar <= 1)
        answers[read] = most[read]
    answers[taken] = looked[taken].argmax(axis=1)
    answers[withdrawn] = INVALID
    return answers


Key = TypeVar("Key")  # a candidate rule: a bar, or a (bar, floor)


def _most_right_without_more_false(
    labels: np.ndarray, baseline: np.ndarray, candidates: dict[Key, np.ndarray]
) -> Key | None:
    """Of candidates (a key -> its answers), the key whose answers are right most often while
    answering no more invalid images as a colour than `baseline`'s; of equals, the highest key.
    None when none is right more often than `baseline`."""
    invalid = labels == INVALID
    right, false = int((baseline == labels).sum()), int((baseline[invalid] != INVALID).sum())
    best: tuple[int, Key] | None = None
    for key, answers in candidates.items():
        if (answers[invalid] != INVALID).sum() > false:
            continue
        gained = int((answers == labels).sum())
        if gained > right and (best is None or (gained, key) > best):
            best = (gained, key)
    return None if best is None else best[1]


def choose_closer_rule(
    first: np.ndarray, views: np.ndarray, labels: np.ndarray, threshold: float
) -> tuple[float, float] | None:
    """The closer look's (bar, floor), chosen on calibration scores: of the rules that answer no
    more invalid images as a colour than the first look alone, the one that answers the most
    images right; of those, the highest bar, then the highest floor. None when no rule adds a
    right answer without a false colour: no closer look."""
    rules = [(bar, floor) for bar in CLOSER_BARS for floor in CLOSER_FLOORS]
    return _most_right_without_more_false(
        labels,
        closer_answers(first, views, threshold, None),
        {rule: closer_answers(first, views, threshold, rule) for rule in rules},
    )


def choose_unseen_bar(
    first: np.ndarray,
    views: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    rule: tuple[float, float] | None,
) -> float | None:
    """The view's bar for refused pages whose first look saw less colour than the floor, decided
    on calibration scores: UNSEEN_BAR unless it answers fewer images right than the rule alone or
    more invalid images as a colour there; else None (no such look). Where the split is silent (no
    page of it gets such an answer) the look stays: a calibration split holds few far photographed
    codes, and on independent pages the look wins them with no false colour (NOTES, 2026-12-06)."""
    if rule is None:
        return None
    invalid = labels == INVALID
    without = closer_answers(first, views, threshold, rule)
    looked = closer_answers(first, views, threshold, rule, unseen=UNSEEN_BAR)
    fewer_right = (looked == labels).sum() < (without == labels).sum()
    more_false = (looked[invalid] != INVALID).sum() > (without[invalid] != INVALID).sum()
    return None if fewer_right or more_false else UNSEEN_BAR


def choose_finder_bar(
    first: np.ndarray,
    views: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    rule: tuple[float, float] | None,
    check: float,
    unseen: float | None,
    finders: Finders | None,
) -> float | None:
    """The view's bar for refused pages whose closer look saw finder squares, decided on
    calibration scores: of FINDER_BARS under the rule's bar, the one that answers most images
    right with no more invalid images answered a colour than the rule alone (of equals, the
    highest); None where none answers more right (no bar of its own)."""
    if rule is None or finders is None:
        return None
    served = functools.partial(
        closer_answers, first, views, threshold, rule, check, unseen, finders
    )
    candidates = {bar: served(with_finder=bar) for bar in FINDER_BARS if bar < rule[0]}
    return _most_right_without_more_false(labels, served(), candidates)


@dataclass
class Report:
    """Metrics of predictions against labels."""

    accuracy: float
    confusion: np.ndarray  # rows: true class, columns: predicted class
    kind_accuracy: dict[str, tuple[float, int]]  # group -> (accuracy, images)
    ece: float
    threshold: float | None = None  # the decision rule's, when the answers are the rule's
    rule_decided: int = 0  # images the rule answered invalid where the argmax was a colour

    @property
    def invalid_as_colour(self) -> float:
        """The share of invalid images answered with a colour."""
        row = self.confusion[INVALID]
        return float(1 - row[INVALID] / max(row.sum(), 1))

    @property
    def colour_recall(self) -> float:
        """The share of colour images answered with their own colour."""
        colours = [i for i in range(len(LABELS)) if i != INVALID]
        total = self.confusion[colours].sum()
        return float(sum(self.confusion[i, i] for i in colours) / max(total, 1))

    @property
    def precision(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=0), 1)

    @property
    def recall(self) -> np.ndarray:
        return np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1)

    def format(self, groups: bool = True) -> str:
        """Render the report as Markdown tables."""
        out = [
            f"accuracy: {self.accuracy:.4f} ({int(np.trace(self.confusion))}/"
            f"{int(self.confusion.sum())}), ECE {self.ece:.4f}, invalid answered as a colour "
            f"{self.invalid_as_colour:.4f}, colour recall {self.colour_recall:.4f}"
            + (
                ""
                if self.threshold is None
                else f", rule at {self.threshold:.2f} decided {self.rule_decided}"
            ),
            "",
            "| true \\ predicted | " + " | ".join(LABELS) + " | recall |",
            "|---" * (len(LABELS) + 2) + "|",
        ]
        for i, name in enumerate(LABELS):
            cells = " | ".join(str(int(c)) for c in self.confusion[i])
            out.append(f"| {name} | {cells} | {self.recall[i]:.4f} |")
        out.append("| precision | " + " | ".join(f"{p:.4f}" for p in self.precision) + " | |")
        if groups:
            out += ["", "| images | accuracy | count |", "|---|---|---|"]
            out += [f"| {k} | {a:.4f} | {n} |" for k, (a, n) in sorted(self.kind_accuracy.items())]
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy,
            "ece": self.ece,
            "invalid_as_colour": self.invalid_as_colour,
            "colour_recall": self.colour_recall,
            "threshold": self.threshold,
            "rule_decided": self.rule_decided,
            "confusion": self.confusion.tolist(),
            "precision": dict(zip(LABELS, self.precision.round(6).tolist(), strict=True)),
            "recall": dict(zip(LABELS, self.recall.round(6).tolist(), strict=True)),
            "groups": {k: {"accuracy": a, "images": n} for k, (a, n) in self.kind_accuracy.items()},
        }


def _groups(labels: np.ndarray, kinds: np.ndarray) -> dict[str, np.ndarray]:
    """Masks per class and kind ("invalid document") and per app layout ("layout hero")."""
    keys = np.array([f"{LABELS[y]} {k.split('/')[0]}" for y, k in zip(labels, kinds, strict=True)])
    layouts = np.array([f"layout {k.split('/')[1]}" if "/" in k else "" for k in kinds])
    groups = {str(k): keys == k for k in np.unique(keys)}
    groups.update({str(k): layouts == k for k in np.unique(layouts) if k})
    return groups


def evaluate(
    scores: np.ndarray, labels: np.ndarray, kinds: np.ndarray, threshold: float | None = None
) -> Report:
    """Compare class scores (N, 4) with true labels (N,); break accuracy down by image kind.

    With a `threshold` the answers are the decision rule's (safe_answers), else the argmax.
    """
    argmax = scores.argmax(axis=1)
    predicted = argmax if threshold is None else safe_answers(scores, threshold)
    confusion = np.zeros((len(LABELS), len(LABELS)), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    correct = predicted == labels
    by_kind = {
        name: (float(correct[mask].mean()), int(mask.sum()))
        for name, mask in _groups(labels, kinds).items()
    }
    ece = expected_calibration_error(scores, labels)
    decided = int((predicted != argmax).sum())
    return Report(float(correct.mean()), confusion, by_kind, ece, threshold, decided)
