"""The closer look on the renderer's images, and its rule chosen on the calibration split.

.venv/bin/python -m training.closer_look   # choose the rule for the shipped classifier, write it

The served path: each image the first look answers invalid, or answers a colour below the
code check's bar, is rendered again (dataset.render_task), looked at by
code_locator.look_closer (training.preprocessing: the family's imaging.py decodes it at twice the
classifier's input, the locator or a QR reader finds the code, the view is cropped around it) and
the view classified by the same ONNX graph. `make train` chooses the rule after calibrating the
threshold (metrics.choose_closer_rule: no invalid image answered as a colour that the first look
did not answer so; metrics.choose_unseen_bar likewise; the code check at metrics.CODE_CHECK_BAR, a
safety setting); `make evaluate` reports every set with it.

Training views: the classifier also learns from the closer look's views of training pages
(`training_views`), labelled as their page; a health code page's view only where it shows the
page's code, which a QR reader finds in the page before any capture effect.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from gateway.classification import (
    CLOSER_BAR_PARAMETER,
    CLOSER_CHECK_PARAMETER,
    CLOSER_FINDER_BAR_PARAMETER,
    CLOSER_FINDER_PARAMETER,
    CLOSER_FLOOR_PARAMETER,
    CLOSER_UNSEEN_PARAMETER,
    THRESHOLD_PARAMETER,
    ink_status,
)
from training.dataset import (
    DATA_DIR,
    TRAIN_LAYOUTS,
    Dataset,
    Task,
    code_of,
    in_processes,
    load,
    render_fingerprint,
    render_task,
    split_seeds,
)
from training.export import classifier_configs, scores_of, write_rule
from training.metrics import (
    CODE_CHECK_BAR,
    FINDER_SHARPNESS_BAR,
    INVALID,
    NEVER_GATED,
    Finders,
    choose_closer_rule,
    choose_finder_bar,
    choose_gate,
    choose_threshold,
    choose_unseen_bar,
    closer_answers,
    safe_answers,
)
from training.preprocessing import (
    IMAGING_PATH,
    INPUT_SHAPE,
    first_look_shows_finder,
    look_closer,
    look_closer_checked,
)
from training.render import LABELS, draw_with_map, encode
from training.spec import LAYOUT_KINDS, sample_spec

# The training views' pages: train seeds this far from a run's own (a run draws tens of thousands).
VIEW_SEED_OFFSET = 500_000_000
# A health code page's view is kept only where the located box holds this share of the code's
# pixels and the code this share of the box's: the view shows the code, not a card beside it.
CODE_IN_BOX = 0.6
BOX_ON_CODE = 0.3


def _view(task: Task) -> tuple[np.ndarray | None, bool, float, np.ndarray, bool]:
    """A page's closer look as served: its view (None where no code is found), the view's finder
    check and sharpness, the ink of a code decoded in the page, and whether the code is a blurred
    one's (code_locator.CloserLook's, as a plain tuple: that class cannot be unpickled outside
    the process that imported it)."""
    _, data = render_task(task)
    look = look_closer_checked(data)
    view = look.view if look.box.any() else None
    return view, look.finder, look.sharpness, look.ink, look.blurred


def _code_map(screen: Image.Image) -> Image.Image:
    """Where the QR codes a reader finds in a page are (255), before any capture effect."""
    mask = Image.new("L", screen.size, 0)
    for code in zxingcpp.read_barcodes(screen):
        p = code.position
        corners = (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        ImageDraw.Draw(mask).polygon([(c.x, c.y) for c in corners], fill=255)
    return mask


def _shows_code(box: np.ndarray, code: np.ndarray) -> bool:
    """Whether a located box (fractions of the image) frames the code that `code` marks (a
    boolean mask of the image)."""
    h, w = code.shape
    x0, y0, x1, y1 = (round(f * n) for f, n in zip(box, (w, h, w, h), strict=True))
    inside = int(code[y0:y1, x0:x1].sum())
    area = max(1, (x1 - x0) * (y1 - y0))
    return inside >= CODE_IN_BOX * max(1, int(code.sum())) and inside >= BOX_ON_CODE * area


def _training_view(task: Task) -> tuple[np.ndarray, int, str] | None:
    """A training page's closer look, labelled as the page: (view, label, kind); None where the
    look finds nothing, or on a health code page finds something other than its code. The page
    is the train split's (dataset.render_task), drawn with a map of its code."""
    seed, _ = task
    label = LABELS[seed % len(LABELS)]
    rng = random.Random(seed)
    spec = sample_spec(label, rng, TRAIN_LAYOUTS)
    img, code = draw_with_map(spec, rng, _code_map if label != INVALID else None)
    pixels, box = look_closer(encode(img, spec))
    if not box.any() or (code is not None and not _shows_code(box, np.asarray(code) > 127)):
        return None
    kind = f"{spec.kind}/{spec.layout}" if spec.kind in LAYOUT_KINDS else spec.kind
    return pixels, LABELS.index(label), f"view/{kind}"


def training_views(count: int, seed: int, workers: int = 2, cache: bool = True) -> Dataset:
    """The closer look's views of `count` training pages (those where it found the page's code,
    or any code-like square on an invalid page), cached under training/data/ for this renderer
    and locator."""
    digest = hashlib.sha256(render_fingerprint().encode())
    digest.update(code_of((IMAGING_PATH.parent / "code_locator.py").read_text()))  # their locator
    path = DATA_DIR / f"views-{count}-{seed}-{digest.hexdigest()[:12]}.npz"
    if cache and path.exists():
        with np.load(path) as saved:
            return Dataset(saved["pixels"], saved["labels"], saved["kinds"])
    pixels = np.empty((count, *INPUT_SHAPE), np.uint8)
    labels, kinds, started = [], [], time.monotonic()
    tasks = [(s, "train") for s in split_seeds("train", count, seed + VIEW_SEED_OFFSET)]
    for i, view in enumerate(in_processes(_training_view, tasks, workers), 1):
        if view is not None:
            pixels[len(labels)] = view[0]
            labels.append(view[1])
            kinds.append(view[2])
        if i % 1000 == 0 or i == count:
            print(f"views: {i}/{count} pages looked at, {len(labels)} views, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    views = Dataset(pixels[: len(labels)], np.array(labels, np.int64), np.array(kinds))
    if cache:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        np.savez(path, pixels=views.pixels, labels=views.labels, kinds=views.kinds)
    return views


def view_scores(
    model: Path,
    split: str,
    count: int,
    seed: int,
    first: np.ndarray,
    threshold: float,
    workers: int = 2,
    first_finder: np.ndarray | None = None,
    sharpness_bar: float = FINDER_SHARPNESS_BAR,
) -> tuple[np.ndarray, Finders | None]:
    """Each image's closer view scores, [N, labels]; NaN rows where there is no view (the first
    look answered a colour at the code check's bar or above, or the closer look found no code).
    With `first_finder` (first_finders of the pages), also the colours whose first look shows no
    finder squares are looked at, and the finder check's result is returned with the scores."""
    looked_at = (safe_answers(first, threshold) == INVALID) | (first.max(axis=1) < CODE_CHECK_BAR)
    if first_finder is not None:
        looked_at |= ~first_finder
    looked = np.flatnonzero(looked_at)
    seeds = split_seeds(split, count, seed)
    tasks = [(seeds[i], split) for i in looked]
    looks = list(in_processes(_view, tasks, workers))
    out = np.full(first.shape, np.nan, np.float32)
    finderless, sharp = np.zeros(len(first), bool), np.zeros(len(first), bool)
    blurred = np.zeros(len(first), bool)
    ink = np.full(len(first), -1, np.int64)
    ink[looked] = [_ink_label(look[3]) for look in looks]
    found = [i for i, look in zip(looked, looks, strict=True) if look[0] is not None]
    if found:
        seen = [look for look in looks if look[0] is not None]
        out[found] = scores_of(model, np.stack([look[0] for look in seen]))
        finderless[found] = [not finder for _, finder, *_ in seen]
        sharp[found] = [sharpness >= sharpness_bar for _, _, sharpness, *_ in seen]
        blurred[found] = [look[4] for look in seen]
    if first_finder is None:
        return out, None
    return out, Finders(first_finder, finderless, sharp, ink, blurred)


def _ink_label(ink: np.ndarray) -> int:
    """The label index of the status a read code's ink shows (the gateway's ink_status), -1 none."""
    status = ink_status(ink)
    return -1 if status is None else LABELS.index(status)


def first_finders(pixels: np.ndarray) -> np.ndarray:
    """The finder check of each first look's tensor (code_locator.first_look_shows_finder),
    bool [N]."""
    return np.array([first_look_shows_finder(p) for p in pixels], bool)


def summary(
    first: np.ndarray,
    views: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    rule: tuple[float, float] | None,
    check: float,
    unseen: float | None,
    finders: Finders | None = None,
    with_finder: float | None = None,
) -> dict[str, object]:
    """What the closer look did on a set: pages refused, colours withdrawn for want of a code
    or of finder squares, right answers and invalid images answered as a colour before and
    after it."""
    invalid = labels == INVALID
    before = closer_answers(first, views, threshold, None)
    after = closer_answers(first, views, threshold, rule, check, unseen, finders, with_finder)
    return {
        "refused": int((before == INVALID).sum()),
        "answered_from_view": int(((before == INVALID) & (after != INVALID)).sum()),
        "withdrawn": int(((before != INVALID) & (after == INVALID)).sum()),
        "right": [int((before == labels).sum()), int((after == labels).sum())],
        "invalid_as_colour": [
            int((before[invalid] != INVALID).sum()),
            int((after[invalid] != INVALID).sum()),
        ],
    }


def choose(
    model: Path,
    configs: list[Path],
    calib_samples: int,
    seed: int,
    threshold: float,
    workers: int = 2,
    cache: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, object], Callable[[np.ndarray], np.ndarray]]:
    """Choose the closer look's rule on the calibration split, write it into `configs` (those
    that exist), and return it with what it did there (for the run record), and the whole
    decision rule on the split's pages: their served scores -> their answers."""
    calib = load("calib", calib_samples, seed, workers, cache=cache)
    first = scores_of(model, calib.pixels)
    # The bars are chosen without the finder check (it only withdraws colours); what the whole
    # rule does on the split is reported and returned with it.
    finder = first_finders(calib.pixels)
    views, finders = view_scores(
        model, "calib", calib_samples, seed, first, threshold, workers, finder
    )
    rule = choose_closer_rule(first, views, calib.labels, threshold)
    unseen = choose_unseen_bar(first, views, calib.labels, threshold, rule)
    check = 0.0 if rule is None else CODE_CHECK_BAR  # no closer look: nothing to check with
    finders = None if rule is None else finders
    with_finder = choose_finder_bar(
        first, views, calib.labels, threshold, rule, check, unseen, finders
    )
    found = summary(
        first, views, calib.labels, threshold, rule, check, unseen, finders, with_finder
    )
    # No rule: (1, 1), which no refused page qualifies for (a colour of 1.0 is never refused);
    # no unseen bar: 2, over any probability (the gateway reads a value over 1 as none).
    bar, floor = rule or (1.0, 1.0)
    values = {
        CLOSER_BAR_PARAMETER: bar,
        CLOSER_FLOOR_PARAMETER: floor,
        CLOSER_UNSEEN_PARAMETER: 2.0 if unseen is None else unseen,
        CLOSER_CHECK_PARAMETER: check,
        # with no closer look, no view to check: a bar over any sharpness
        CLOSER_FINDER_PARAMETER: 2.0 if finders is None else FINDER_SHARPNESS_BAR,
        # no bar of its own: over any probability (the gateway reads a value over 1 as none)
        CLOSER_FINDER_BAR_PARAMETER: 2.0 if with_finder is None else with_finder,
    }
    for config in configs:
        if config.exists():
            write_rule(config, values)
    if rule is None:
        log(f"closer look: none; no rule adds a right answer without a false colour ({found})")
    else:
        log(
            f"closer look: a view's colour needs >= {bar:g}, the first look's >= {floor:g} "
            f"(below it, the view's >= {unseen}; with finder squares seen, >= {with_finder}); "
            f"a colour below {check:g} needs a code; one "
            "whose first look shows no finder squares needs them in a view at least "
            f"{FINDER_SHARPNESS_BAR:g} sharp; "
            f"calibration split: right {found['right']}, "
            f"invalid as colour {found['invalid_as_colour']}, withdrawn {found['withdrawn']}"
        )
    chosen = {
        "min_colour_probability": bar,
        "min_first_colour": floor,
        "min_colour_probability_unseen": unseen,
        "check_colours_below": check,
        "min_sharpness_without_finder": None if finders is None else FINDER_SHARPNESS_BAR,
        "min_colour_probability_with_finder": with_finder,
        "calibration": found,
    }
    return chosen, functools.partial(
        closer_answers,
        views=views,
        threshold=threshold,
        rule=rule,
        check=check,
        unseen=unseen,
        finders=finders,
        with_finder=with_finder,
    )


def choose_rules(
    export: Callable[[float], None],
    model: Path,
    first: np.ndarray,
    both: np.ndarray,
    labels: np.ndarray,
    calib_samples: int,
    seed: int,
    workers: int = 2,
    cache: bool = True,
    log: Callable[[str], None] = print,
) -> tuple[float, dict[str, object], float]:
    """The whole decision rule of a mirrored graph from the calibration split's first-look and
    both-looks probabilities (`first`, `both`): the threshold and the closer look's rule chosen on
    both looks for every page (`export(gate)` writes the graph to `model`, here ungated), then the
    gate under which they answer every page alike (metrics.choose_gate), with which `export`
    writes it again. Writes the rule into the model's configs; returns (threshold, the closer
    look's record, gate)."""
    threshold = choose_threshold(both, labels)
    export(NEVER_GATED)
    configs = classifier_configs(model)
    for config in configs:
        if config.exists():
            write_rule(config, {THRESHOLD_PARAMETER: threshold})
    closer, decide = choose(model, configs, calib_samples, seed, threshold, workers, cache, log)
    gate = choose_gate(first, both, decide)
    export(gate)
    return threshold, closer, gate


def main(argv: list[str] | None = None) -> None:
    from training.train import parse_model_args  # train imports this module

    args = parse_model_args("python -m training.closer_look", __doc__, argv)
    record = json.loads(args.record.read_text())
    settings = record["settings"]
    record["closer_look"], _ = choose(
        args.model,
        classifier_configs(args.model),
        settings["calib_samples"],
        settings["seed"],
        record["min_colour_probability"],
        args.workers,
        log=functools.partial(print, flush=True),
    )
    args.record.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
