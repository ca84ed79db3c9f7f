"""Evaluate an exported model: test split, held-out layouts, factor families, calibration, latency.

.venv/bin/python -m training.evaluate --model model_repository/health_code_classifier/2/model.onnx

Everything goes through the served path: rendered bytes -> image_to_tensor -> the ONNX graph ->
the decision rule (a colour needs a calibrated probability of at least the threshold in the run
record, --record; the gateway applies the same rule) -> for the pages it refuses, the closer look
with the record's rule (training/closer_look.py), reported beside the first look's numbers. The
record's temperature gives the scores before calibration, for the ECE before.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from training.closer_look import first_finders, summary, view_scores
from training.dataset import _HOLDOUT_INVALID, TRAIN_LAYOUTS, load, split_seeds
from training.export import INPUT_NAME, OUTPUT_NAME, scores_of, session
from training.families import FAMILIES, HOLDOUT_LAYOUTS, family_factors
from training.layouts import LAYOUTS
from training.metrics import (
    NEVER_GATED,
    Report,
    closer_answers,
    evaluate,
    expected_calibration_error,
    rule_rates,
    safe_answers,
    softmax,
)
from training.render import LABELS
from training.spec import sample_spec
from training.train import DEFAULT_OUT, DEFAULT_RECORD


def photographed(split: str, count: int, seed: int) -> np.ndarray:
    """Which images of a split are phone photos, from their specs (drawn, not rendered).

    It follows dataset.render_task's choices of layouts and pinned factors; a unit test checks that
    the specs agree with the rendered ones.
    """
    flags = []
    for s in split_seeds(split, count, seed):
        label, layouts, factors = LABELS[s % len(LABELS)], tuple(LAYOUTS), {}
        if split in ("train", "calib"):
            layouts = TRAIN_LAYOUTS
        elif split.startswith("holdout/"):
            layouts = (split[8:],)
            if label == "invalid":
                rng = random.Random(f"{split}/{s}")
                factors = {"kind": rng.choices(*zip(*_HOLDOUT_INVALID.items(), strict=True))[0]}
        elif split.startswith("family/"):
            factors = family_factors(split[7:], label, s)
        flags.append(sample_spec(label, random.Random(s), layouts, **factors).photo)
    return np.array(flags)


def latency_ms(path: Path, pages: np.ndarray, batch: int, seconds: float = 3.0) -> float:
    """Median CPU milliseconds per image at `batch`, on one onnxruntime thread (one instance),
    over consecutive batches of `pages`: the graph pays for the mirror's look only on the pages
    its first look is unsure of, so the cost depends on the pages."""
    sess = session(path, threads=1)
    pages = pages[np.arange(max(len(pages), batch)) % len(pages)]
    starts = range(0, len(pages) - batch + 1, batch)
    batches = [np.ascontiguousarray(pages[i : i + batch]) for i in starts]
    for b in batches[:3]:
        sess.run([OUTPUT_NAME], {INPUT_NAME: b})
    times, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline or len(times) < 5:
        started = time.perf_counter()
        sess.run([OUTPUT_NAME], {INPUT_NAME: batches[len(times) % len(batches)]})
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000 / batch


def run(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, object]:
    """Evaluate args.model on every set; log Markdown tables; return the results."""
    record = json.loads(args.record.read_text()) if args.record.exists() else {}
    temperature = float(record.get("temperature", 1.0))
    threshold = float(record.get("min_colour_probability", 0.5))
    gate = float(record.get("mirror_gate", NEVER_GATED))
    closer = record.get("closer_look") or {}
    rule = (closer["min_colour_probability"], closer["min_first_colour"]) if closer else None
    check = float(closer.get("check_colours_below", 0.0))
    unseen = closer.get("min_colour_probability_unseen")
    finder_bar = closer.get("min_sharpness_without_finder")  # None: no finder check
    with_finder = closer.get("min_colour_probability_with_finder")  # None: the rule's bar
    sets = {
        "test": ("test", args.test_samples),
        **{f"held-out layout {h}": (f"holdout/{h}", args.holdout_samples) for h in HOLDOUT_LAYOUTS},
        **{f"family: {f}": (f"family/{f}", args.family_samples) for f in FAMILIES},
    }
    reports: dict[str, Report] = {}
    per_set: dict[str, dict[str, object]] = {}
    for name, (split, count) in sets.items():
        data = load(split, count, args.seed, args.workers, cache=args.cache)
        scores = scores_of(args.model, data.pixels)
        if name == "test":
            test_pages, test_scores = data.pixels, scores
        reports[name] = evaluate(scores, data.labels, data.kinds, threshold)
        argmax = evaluate(scores, data.labels, data.kinds)
        uncalibrated = softmax(np.log(np.maximum(scores, 1e-30)) * temperature)  # undo T
        photo = photographed(split, count, args.seed)
        right = safe_answers(scores, threshold) == data.labels
        by_capture = {
            capture: round(float(right[mask].mean()), 6)
            for capture, mask in (("screenshots", ~photo), ("photos", photo))
            if mask.any()
        }
        finder = None if finder_bar is None else first_finders(data.pixels)
        views, finders = view_scores(args.model, split, count, args.seed, scores, threshold,
                                     args.workers, finder, finder_bar or 0.0)  # fmt: skip
        served = closer_answers(scores, views, threshold, rule, check, unseen, finders, with_finder)
        served = served == data.labels
        looked = {
            **summary(
                scores, views, data.labels, threshold, rule, check, unseen, finders, with_finder
            ),
            "accuracy": round(float(served.mean()), 6),
            "accuracy_by_capture": {
                capture: round(float(served[mask].mean()), 6)
                for capture, mask in (("screenshots", ~photo), ("photos", photo))
                if mask.any()
            },
        }
        per_set[name] = {
            **reports[name].to_json(),
            "accuracy_by_capture": by_capture,
            "images_by_capture": {"screenshots": int((~photo).sum()), "photos": int(photo.sum())},
            "ece_before_calibration": expected_calibration_error(uncalibrated, data.labels),
            "argmax": {"accuracy": argmax.accuracy, "invalid_as_colour": argmax.invalid_as_colour},
            "rule_curve": rule_curve(scores, data.labels, threshold),
            "closer_look": looked,
        }
    main = reports["test"]
    log(f"## test split ({args.test_samples} images, every layout, unseen seeds)\n")
    log(f"Answers under the decision rule: a colour needs a probability >= {threshold:.2f}.\n")
    log(main.format())
    before = per_set["test"]["ece_before_calibration"]
    log(f"\nECE before calibration {before:.4f}, after (T = {temperature:.3f}) {main.ece:.4f}\n")
    log("## per set\n")
    log("| set | images | accuracy | argmax accuracy | invalid precision | invalid as colour | "
        "colour recall | rule decided | ECE | screenshots | photos |")  # fmt: skip
    log("|---|---|---|---|---|---|---|---|---|---|---|")
    inv = LABELS.index("invalid")
    for name, r in reports.items():
        log(f"| {name} | {int(r.confusion.sum())} | {r.accuracy:.4f} | "
            f"{per_set[name]['argmax']['accuracy']:.4f} | {r.precision[inv]:.4f} | "
            f"{r.invalid_as_colour:.4f} | {r.colour_recall:.4f} | {r.rule_decided} | "
            f"{r.ece:.4f} | {_capture(per_set[name], 'screenshots')} | "
            f"{_capture(per_set[name], 'photos')} |")  # fmt: skip
    log(
        f"\n## with the closer look (a view's colour needs >= {rule[0] if rule else '-'} "
        f"(>= {with_finder} with finder squares seen), the first look's >= "
        f"{rule[1] if rule else '-'}, else the view's >= {unseen}; a colour below "
        f"{check:g} needs a code; finder check: a view at least {finder_bar} sharp needs finder "
        "squares)\n"
    )
    log("| set | refused | answered from the view | withdrawn: no code or no finder | right | "
        "invalid as colour | screenshots | photos |")  # fmt: skip
    log("|---|---|---|---|---|---|---|---|")
    for name, row in per_set.items():
        c = row["closer_look"]
        log(f"| {name} | {c['refused']} | {c['answered_from_view']} | {c['withdrawn']} | "
            f"{c['right'][0]} → {c['right'][1]} ({c['accuracy']:.4f}) | "
            f"{c['invalid_as_colour'][0]} → {c['invalid_as_colour'][1]} | "
            f"{_share(c['accuracy_by_capture'], 'screenshots')} | "
            f"{_share(c['accuracy_by_capture'], 'photos')} |")  # fmt: skip
    log("\n## the decision rule's trade-off: invalid images answered as a colour / colour recall\n")
    thresholds = list(per_set["test"]["rule_curve"])
    log("| set | " + " | ".join(thresholds) + " |")
    log("|---|" + "---|" * len(thresholds))
    for name, row in per_set.items():
        if not name.startswith("family"):
            cells = (
                f"{c['invalid_as_colour']:.3f} / {c['colour_recall']:.3f}"
                for c in row["rule_curve"].values()
            )
            log(f"| {name} | " + " | ".join(cells) + " |")
    # The test split's pages as they come, and those that pay for both looks (served below the
    # gate: a page the first look is sure of is answered at the gate or more).
    latency, unsure_latency = (
        {b: latency_ms(args.model, pages, b, args.latency_s) for b in (1, 16)} if len(pages) else {}
        for pages in (test_pages, test_pages[test_scores.max(axis=1) < gate])
    )
    log(f"\nonnxruntime CPU, 1 thread, ms per image at batch 1 and 16: test split {latency}, "
        f"pages whose first look is unsure {unsure_latency}")  # fmt: skip
    results = {"model": str(args.model), "temperature": temperature,
               "min_colour_probability": threshold, "mirror_gate": gate, "closer_look": closer,
               "sets": per_set, "latency_ms_per_image": latency,
               "latency_ms_per_image_unsure": unsure_latency}  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return results


# Thresholds an operator might set HEALTHCODE_MIN_COLOUR_PROBABILITY to, besides the chosen one.
RULE_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)


def rule_curve(scores: np.ndarray, labels: np.ndarray, chosen: float) -> dict[str, dict]:
    """For each threshold: invalid images answered as a colour, and colour recall."""
    curve = {}
    for t in sorted({*RULE_GRID, round(chosen, 2)}):
        as_colour, recall = rule_rates(scores, labels, t)
        curve[f"{t:.2f}"] = {
            "invalid_as_colour": round(as_colour, 6),
            "colour_recall": round(recall, 6),
        }
    return curve


def _share(by_capture: dict, capture: str) -> str:
    return f"{by_capture[capture]:.4f}" if capture in by_capture else "-"


def _capture(row: dict, capture: str) -> str:
    n = row["images_by_capture"][capture]
    return f"{row['accuracy_by_capture'][capture]:.4f} ({n})" if n else "-"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="the training record")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument("--test-samples", type=int, default=2000)
    parser.add_argument("--holdout-samples", type=int, default=400, help="per held-out layout")
    parser.add_argument("--family-samples", type=int, default=240, help="images per family")
    parser.add_argument("--seed", type=int, default=0, help="the training run's seed")
    parser.add_argument("--workers", type=int, default=2, help="rendering processes")
    parser.add_argument("--latency-s", type=float, default=3.0, help="timing per batch size")
    parser.add_argument("--no-cache", dest="cache", action="store_false")
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse_args(), log=functools.partial(print, flush=True))
