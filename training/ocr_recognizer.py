"""`python -m training.ocr_recognizer`: the time reader's recogniser, fine-tuned on phone photos.

With the fine-tuned detector the reader finds the lines of a photographed page, and then misreads
their blurred digits (benchmarks/NOTES.md, 2026-12-04: `2020:09-04 08:6654`). Here the shipped
recogniser learns to read a photographed line as it reads the same line on the clean screen: the
teacher is the shipped detector and recogniser on the screen before any capture effect, its
confident readings the labels; each line's place is carried through the photo's geometry as an
index map (training.render.draw_with_map), and the student reads the line cut from the photo as
the reader cuts it, with its box jittered as the detector's boxes vary. No text labels are drawn
by hand, so every kind of line the reader reads is learnt, not the time lines alone.

Only the convolutions (and three batch norms' scale and shift) are trained, 2.8 M of 5.3 M
weights: onnx2torch makes the attention blocks' and the classifier's weights buffers, so the
classifier over 18,710 characters keeps the shipped weights and the alphabet its meaning. The
output is the trained weights' change, as float16 (`--out`, 5 MB: the whole model is over the
repository's 10 MB limit); `gateway.ocr_models` adds it to the wheel's model at install time.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import math
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from training import render
from training.ocr_detector import Teacher
from training.onnx_torch import load_onnx, onnx_tensors
from training.preprocessing import imaging, page_reading
from training.spec import LABELS, TIME_KINDS, sample_spec
from training.teacher_pages import add_training_arguments, draw_pages, set_learning_rate

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "ocr-recognizer"
FIRST_SEED = 910_000_000  # far from every benchmark's and test's seeds, and the detector's
INPUT = "x"  # the shipped model's (ocr_text_recognizer/config.pbtxt)
# A label is the teacher's reading of the clean line, every character read at least this surely.
MIN_TEACHER_PROBABILITY = 0.9
MAX_LINES = 30  # lines labelled on a page: the index map's values are 8, 16, ... 240
INDEX_STEP = 8
BAND = 0.5  # the middle of each line's height is painted: neighbouring lines never touch
MAX_ASPECT_CHANGE = 0.15  # a line whose width/height changed more was cut by the photo's frame
# A photographed line is learnt from when the shipped recogniser reads it at least this much like
# its label (difflib's ratio): near misses are what is to learn. Lines blurred past reading
# (a box under MIN_LINE_PX high, a reading that shares nothing) would teach the student to guess.
MIN_LIKENESS = 0.5
MIN_LINE_PX = 10.0
SCREEN_KEEP = 0.5  # of pages not photographed, the part kept: photos are the harder part


def _modules():
    """The time reader's own modules, imported as Triton imports them."""
    page_reading()
    return importlib.import_module("text_boxes"), importlib.import_module("ctc_decoding")


class LineTeacher:
    """The shipped detector and recogniser on a clean screen: its lines and confident readings."""

    def __init__(self, detector: Path, recogniser: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.detector = Teacher(detector)
        self.recogniser = ort.InferenceSession(str(recogniser), options)
        text_boxes, ctc_decoding = _modules()
        self.decoder = ctc_decoding.CtcDecoder.from_file(str(recogniser.parent / "keys.txt"))
        self.boxes_from_probability = text_boxes.boxes_from_probability

    def read(self, crops: list[Image.Image]) -> list:
        reader = page_reading()
        lines = []
        for start in range(0, len(crops), reader.MAX_LINES_PER_CALL):
            x = reader.to_line_batch(crops[start : start + reader.MAX_LINES_PER_CALL])
            lines += self.decoder.decode(self.recogniser.run(None, {INPUT: x})[0])
        return lines

    def lines(self, screen: Image.Image) -> list[tuple[np.ndarray, str]]:
        """(corners in screen pixels, text) of each line the reader could read, read surely."""
        reader = page_reading()
        probability = self.detector.probability(screen)
        sx, sy = screen.width / probability.shape[1], screen.height / probability.shape[0]
        boxes = [
            b.scaled(sx, sy)
            for b in self.boxes_from_probability(probability)
            if reader.MIN_ASPECT <= b.width / max(b.height, 1e-6) <= reader.MAX_ASPECT
            and b.height * sy >= reader.MIN_TEXT_HEIGHT_PX
        ][:MAX_LINES]
        if not boxes:
            return []
        crops = [
            reader.crop_line(screen, b, reader.LINE_HEIGHT_PX, reader.MAX_LINE_WIDTH_PX)
            for b in boxes
        ]
        return [
            (box.corners, line.text)
            for box, line in zip(boxes, self.read(crops), strict=True)
            if line.text.strip() and min(line.probabilities) >= MIN_TEACHER_PROBABILITY
        ]


_teacher: LineTeacher | None = None


def _init(detector: str, recogniser: str) -> None:
    global _teacher
    _teacher = LineTeacher(Path(detector), Path(recogniser))


def _index_map(screen: Image.Image, lines: list[tuple[np.ndarray, str]]) -> Image.Image:
    """Line i's middle band painted (i + 1) * INDEX_STEP on 0."""
    marks = Image.new("L", screen.size)
    draw = ImageDraw.Draw(marks)
    for i, (corners, _) in enumerate(lines):
        tl, tr, br, bl = corners.astype(np.float64)
        inset = (1 - BAND) / 2
        band = [tl + (bl - tl) * inset, tr + (br - tr) * inset]
        band += [tr + (br - tr) * (1 - inset), tl + (bl - tl) * (1 - inset)]
        draw.polygon([tuple(p) for p in band], fill=(i + 1) * INDEX_STEP)
    return marks


def _carried(marks: np.ndarray, lines: list[tuple[np.ndarray, str]]) -> list[tuple[tuple, str]]:
    """Each line's (center, width, height, u) where the photo shows it, and its text; lines
    the photo's frame cut, or too small to read, left out."""
    text_boxes, _ = _modules()
    code_locator = importlib.import_module("code_locator")
    found = []
    for i, (corners, text) in enumerate(lines):
        mask = np.abs(marks.astype(np.int16) - (i + 1) * INDEX_STEP) <= INDEX_STEP // 4
        rows, starts, ends = code_locator.runs(mask)
        if len(rows) == 0:
            continue
        # The largest blob: bilinear edges of other lines' bands pass through this value too.
        labels = code_locator.blobs(rows, starts, ends)
        sizes = np.bincount(labels, weights=ends - starts)
        keep = labels == int(np.argmax(sizes))
        r, s, e = rows[keep], starts[keep], ends[keep]
        xs = np.concatenate([s, e, s, e]).astype(np.float64)
        ys = np.concatenate([r, r, r + 1, r + 1]).astype(np.float64)
        center, width, height, u = text_boxes.min_area_rect(np.stack([xs, ys], axis=1))
        height /= BAND
        clean = np.linalg.norm(corners[1] - corners[0]) / np.linalg.norm(corners[3] - corners[0])
        if height < MIN_LINE_PX:
            continue
        if abs(width / height / clean - 1) > MAX_ASPECT_CHANGE:
            continue
        found.append(((tuple(center), width, height, tuple(u)), text))
    return found


def sample(index: int) -> tuple[bytes, list] | None:
    """A page drawn from `index` as the renderer draws it, encoded as the renderer encodes it,
    and its labelled lines in the reader's decoded pixels; None for a page that shows no time
    (TIME_KINDS), is cropped, or has no line read surely."""
    rng = random.Random(index)
    spec = sample_spec(LABELS[index % len(LABELS)], rng)
    if spec.kind not in TIME_KINDS or spec.crop:
        return None
    if not spec.photo and random.Random(-index).random() > SCREEN_KEEP:
        return None
    assert _teacher is not None
    lines: list = []

    def mapping(screen: Image.Image) -> Image.Image:
        lines.extend(_teacher.lines(screen))
        return _index_map(screen, lines)

    img, marks = render.draw_with_map(spec, rng, mapping)
    if not lines or marks is None:
        return None
    data = render.encode(img, spec)
    decoded = page_reading().decode_upright(data, imaging)
    marks = np.asarray(marks.resize(decoded.size, Image.Resampling.NEAREST))
    found = _carried(marks, lines)
    if found:  # near misses only (MIN_LIKENESS)
        crops = [jittered_crop(decoded, line, None) for line, _ in found]
        readings = _teacher.read(crops)
        found = [
            (line, text)
            for (line, text), read in zip(found, readings, strict=True)
            if difflib.SequenceMatcher(None, read.text, text).ratio() >= MIN_LIKENESS
        ]
    return (data, found) if found else None


def jittered_crop(image: Image.Image, line: tuple, rng: random.Random | None) -> Image.Image:
    """The line cut from the image as the reader cuts it, its box as loose or tight as the
    detector's boxes come (and the reader's taller second reads); as it is without an rng."""
    reader = page_reading()
    text_boxes, _ = _modules()
    (cx, cy), width, height, (ux, uy) = line
    u, v = np.array([ux, uy]), np.array([-uy, ux])
    center = np.array([cx, cy])
    if rng is not None:
        center += u * height * rng.uniform(-0.1, 0.1) + v * height * rng.uniform(-0.08, 0.08)
        width += height * rng.uniform(0.0, 0.6)
        height *= rng.uniform(0.95, 1.35)
    box = text_boxes.TextBox(text_boxes._corners(center, width, height, u), 1.0)
    return reader.crop_line(image, box, reader.LINE_HEIGHT_PX, reader.MAX_LINE_WIDTH_PX)


def _digits(text: str) -> bool:
    return any(c.isdigit() for c in text)


def train(pages: list, source: Path, steps: int, batch: int, lr: float):
    import torch

    reader = page_reading()
    _, ctc_decoding = _modules()
    classes = ctc_decoding.CtcDecoder.from_file(str(source.parent / "keys.txt")).classes
    index_of = {c: i for i, c in enumerate(classes) if c}
    torch.manual_seed(0)
    net = load_onnx(source)
    net.eval()  # batch norm and dropout as shipped: batches of 16 lines are too few to learn them
    # net.parameters(): the convolutions and batch norms (the rest converts to buffers)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    rng = random.Random(0)
    started = time.monotonic()
    for step in range(1, steps + 1):
        set_learning_rate(optimiser, lr, step, steps)
        crops, targets = [], []
        while len(crops) < batch:
            data, lines = rng.choice(pages)
            image = reader.decode_upright(data, imaging)
            # Lines with digits (dates, times, numbers) three times as often as words.
            order = sorted(lines, key=lambda t: rng.random() / (3 if _digits(t[1]) else 1))
            for line, text in order[:2]:
                crops.append(jittered_crop(image, line, rng))
                targets.append([index_of[c] for c in text])
        x = torch.from_numpy(reader.to_line_batch(crops[:batch]))
        targets = targets[:batch]
        log_p = net(x).clamp_min(1e-8).log().permute(1, 0, 2)  # (T, N, classes)
        steps_of = torch.tensor(
            [min(log_p.shape[0], math.ceil(c.width / 8)) for c in crops[:batch]]
        )
        loss = torch.nn.functional.ctc_loss(
            log_p,
            torch.tensor([i for t in targets for i in t]),
            steps_of,
            torch.tensor([len(t) for t in targets]),
            zero_infinity=True,
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 10 == 0 or step == steps:
            print(
                f"\rstep {step}/{steps}  ctc {loss.item():.4f}  {time.monotonic() - started:.0f} s",
                end="",
                flush=True,
            )
    print()
    return net


def weight_change(net, source: Path) -> dict[str, np.ndarray]:
    """Each trained weight's change, float16, by the name of the ONNX tensor it came from
    (found by value: the converter renames them)."""
    import onnx

    tensors = onnx_tensors(onnx.load(str(source)))
    shipped = load_onnx(source)
    change = {}
    for (name, before), after in zip(shipped.named_parameters(), net.parameters(), strict=True):
        original = before.detach().numpy()
        matches = [
            k
            for k, t in tensors.items()
            if t.shape == original.shape and np.array_equal(t, original)
        ]
        if len(matches) != 1:
            raise RuntimeError(f"{name}: {len(matches)} ONNX tensors hold its weights")
        change[matches[0]] = (after.detach().numpy() - original).astype(np.float16)
    return change


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", type=Path, required=True, help="the shipped detector's ONNX")
    parser.add_argument("--source", type=Path, required=True, help="the shipped recogniser's ONNX")
    parser.add_argument("--out", type=Path, required=True, help="the weights' change (.npz)")
    add_training_arguments(parser, pages=1200, steps=1200, batch=16, lr=1e-4)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.workers)
    teachers = (str(args.detector), str(args.source))
    pages = draw_pages(CACHE, FIRST_SEED, args.pages, sample, args.workers, _init, teachers)
    net = train(pages, args.source, args.steps, args.batch, args.lr)
    staged = args.out.with_name(f".{args.out.name}.staged.npz")
    np.savez_compressed(staged, **weight_change(net, args.source))
    staged.replace(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
