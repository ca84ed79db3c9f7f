"""Short pilot runs: compare input geometries and networks on the same rendered images.

Renders each split's encoded bytes once (cached under training/data/), then for each candidate
computes its tensors with imaging.py at that candidate's geometry, trains a few epochs and reports
accuracy per image group. An existing ONNX model (v1) can be scored on the same bytes as well:

    python -m training.pilot --train 4000 --epochs 6 --candidates v1-arch:224x224 v2:400x180
    python -m training.pilot --score-onnx model.onnx:224x224

--init starts every candidate from an exported graph's weights instead (export.load_weights; the
network is convolutional with global pooling, so the same weights take any geometry), which
compares geometries at equal training from the shipped model rather than from scratch:

    python -m training.pilot --init model_repository/health_code_classifier/2/model.onnx \
        --lr 3e-4 --epochs 4 --train 12000 --train-seed 320000 --eval 1000 \
        --candidates v2:400x240 v2:480x288

Each set is reported at the argmax, at fixed thresholds and at the threshold the calibration
split's first `--calib` pages (2,000 by default) choose for the candidate (temperature and
metrics.choose_threshold, as training.train does, on the first look alone: no mirror, gate or
closer look).

--train-from calib:2000 trains on a split already cached as tensors at the model's geometry
instead (no rendering); a candidate of another geometry then gets those canvases resized to its
box, which is close to, not exactly, what imaging.py would give it.
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from training.dataset import (
    DATA_DIR,
    in_processes,
    load,
    render_fingerprint,
    render_task,
    split_seeds,
)
from training.export import INPUT_NAME, OUTPUT_NAME, load_weights, session
from training.metrics import choose_threshold, evaluate, fit_temperature, softmax
from training.model import HealthCodeNet, count_macs
from training.preprocessing import image_to_tensor
from training.render import LABELS
from training.spec import LAYOUT_KINDS
from training.train import Dataset, fit, predict

# name -> network keyword arguments; v1's architecture is the 224 x 224 model of issue 3.
NETS = {
    "v1-arch": {"blocks": ((48, 2), (64, 1), (128, 2), (128, 1), (160, 2)), "max_pool": False},
    "v2": {},
    "v2-avg": {"max_pool": False},
    "v2-wide": {"stem": 32, "blocks": ((64, 2), (64, 1), (128, 2), (128, 1), (160, 2), (192, 1))},
}
EVAL_SPLITS = ("test", "holdout/tabs", "holdout/portal")
FIXED_THRESHOLDS = (0.9, 0.98)
PROGRESS_EVERY = 1000  # rendered images between progress lines
Item = tuple[bytes, int, str]


def _item(task: tuple[int, str]) -> Item:
    spec, data = render_task(task)
    kind = f"{spec.kind}/{spec.layout}" if spec.kind in LAYOUT_KINDS else spec.kind
    if spec.photo:
        kind += "+photo"
    return data, LABELS.index(spec.label), kind


def rendered(split: str, count: int, workers: int, seed: int = 0) -> list[Item]:
    """The encoded images of a split's first `count` seeds, from the cache when rendered before."""
    name = f"pilot-{split.replace('/', '-')}-{seed}+{count}-{render_fingerprint(False)}.pkl"
    path = DATA_DIR / name
    if path.exists():
        return pickle.loads(path.read_bytes())
    tasks = [(s, split) for s in split_seeds(split, count, seed)]
    items, started = [], time.monotonic()
    for item in in_processes(_item, tasks, workers):  # progress as training.dataset.load shows it
        items.append(item)
        if len(items) % PROGRESS_EVERY == 0 or len(items) == count:
            print(f"{split}: {len(items)}/{count} images rendered, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(items))
    return items


def tensors(items: list[Item], box: tuple[int, int]) -> Dataset:
    pixels = np.stack([image_to_tensor(data, box) for data, _, _ in items])
    labels = np.array([y for _, y, _ in items], np.int64)
    return Dataset(pixels, labels, np.array([k for _, _, k in items]))


def refit(data: Dataset, box: tuple[int, int]) -> Dataset:
    """The cached canvases resized to another (height, width) box, letterboxed in it."""
    if data.pixels.shape[2:] == box:
        return data
    out = np.full((len(data.labels), 3, *box), 127, np.uint8)
    h, w = data.pixels.shape[2:]
    scale = min(box[0] / h, box[1] / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    top, left = (box[0] - size[1]) // 2, (box[1] - size[0]) // 2
    for i, canvas in enumerate(data.pixels):
        img = Image.fromarray(np.ascontiguousarray(canvas.transpose(1, 2, 0))).resize(
            size, Image.Resampling.BILINEAR
        )
        out[i, :, top : top + size[1], left : left + size[0]] = np.asarray(img).transpose(2, 0, 1)
    return Dataset(out, data.labels, data.kinds)


def report(name: str, scores: np.ndarray, data: Dataset, threshold: float | None = None) -> dict:
    """One set's accuracy, invalid images answered as a colour and photos' accuracy, at the argmax
    or (with `threshold`) by the decision rule."""
    r = evaluate(scores, data.labels, data.kinds, threshold)
    groups = {k: round(a, 4) for k, (a, n) in sorted(r.kind_accuracy.items()) if n >= 10}
    photos = np.char.endswith(data.kinds.astype(str), "+photo")
    photo = evaluate(scores[photos], data.labels[photos], data.kinds[photos], threshold)
    return {"set": name, "threshold": threshold, "accuracy": round(r.accuracy, 4),
            "right": int(r.confusion.trace()), "images": len(data.labels),
            "invalid_as_colour": round(r.invalid_as_colour, 4),
            "photos_right": int(photo.confusion.trace()), "photos": int(photos.sum()),
            "groups": groups}  # fmt: skip


def rule_rows(
    name: str, logits: np.ndarray, data: Dataset, temperature: float, chosen: float
) -> list[dict]:
    """report() at the argmax, each fixed threshold and the calibration split's choice."""
    scores = softmax(logits, temperature)
    return [report(name, scores, data, t) for t in (None, *FIXED_THRESHOLDS, chosen)]


def run(args: argparse.Namespace, log=print) -> list[dict[str, object]]:
    torch.set_num_threads(args.threads)
    evals = {s: rendered(s, args.eval, args.workers) for s in EVAL_SPLITS}
    results = []
    for spec in args.score_onnx:
        path, shape = spec.split(":")
        box = tuple(int(v) for v in shape.split("x"))
        sess = session(Path(path), threads=args.threads)
        for split, items in evals.items():
            data = tensors(items, box)
            batches = [data.pixels[i : i + 64] for i in range(0, len(items), 64)]
            scores = np.concatenate([sess.run([OUTPUT_NAME], {INPUT_NAME: b})[0] for b in batches])
            results.append({"candidate": spec, **report(split, scores, data)})
            log(json.dumps(results[-1]))
    if args.train_from:
        split, count = args.train_from.split(":")
        cached = load(split, int(count), 0, args.workers)
    else:
        train_items = (
            rendered("train", args.train, args.workers, args.train_seed) if args.candidates else []
        )
    calib_items = rendered("calib", args.calib, args.workers) if args.candidates else []
    for cand in args.candidates:
        net_name, shape = cand.split(":")
        box = tuple(int(v) for v in shape.split("x"))
        torch.manual_seed(0)
        net = HealthCodeNet(**NETS[net_name])
        if args.init:
            load_weights(net, args.init)
        started = time.monotonic()
        train = refit(cached, box) if args.train_from else tensors(train_items, box)
        calib = tensors(calib_items, box)
        sets = {"calib": calib} | {split: tensors(items, box) for split, items in evals.items()}
        stages = [("before", 0), ("after", args.epochs)] if args.init else [("after", args.epochs)]
        for stage, epochs in stages:
            if epochs:
                fit(net, train, epochs, 64, args.lr, 0, log, freeze_norms=args.init is not None)
            seconds = time.monotonic() - started
            calib_logits = predict(net, calib.pixels)[0]
            temperature = fit_temperature(calib_logits, calib.labels)
            chosen = choose_threshold(softmax(calib_logits, temperature), calib.labels)
            head = {"candidate": cand, "stage": stage, "macs": count_macs(net, *box),
                    "train_s": round(seconds), "temperature": round(temperature, 3)}  # fmt: skip
            for split, data in sets.items():
                logits = calib_logits if split == "calib" else predict(net, data.pixels)[0]
                for row in rule_rows(split, logits, data, temperature, chosen):
                    results.append({**head, **row})
                    log(json.dumps(results[-1]))
        del train, calib, sets
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.pilot", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--candidates", nargs="*", default=[], help="net:HxW, e.g. v2:400x180")
    parser.add_argument("--score-onnx", nargs="*", default=[], help="model.onnx:HxW")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--train-from", help="SPLIT:COUNT cached at the model's geometry")
    parser.add_argument("--train-seed", type=int, default=0, help="the training pages' seed")
    parser.add_argument("--eval", type=int, default=600, help="images per evaluation split")
    parser.add_argument("--calib", type=int, default=2000, help="calibration pages for the rule")
    parser.add_argument("--init", type=Path, help="start every candidate from this graph's weights")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (one cycle)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


if __name__ == "__main__":
    run(parse_args(), log=functools.partial(print, flush=True))
