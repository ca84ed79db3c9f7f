"""`python -m training.ocr_detector`: the time reader's text detector, fine-tuned on phone photos.

PP-OCRv4's detector finds the lines of a sharp screenshot but not those of a blurred, noisy,
tilted photo of a phone (benchmarks/NOTES.md, 2026-12-04: of the renderer's photos the reader
misses, most have no line found near the code, even enlarged). Here it learns to find on a photo
what it finds on the screen that was photographed: the teacher is the shipped detector on the
clean screen, its map carried through the photo's geometry (training.photo.photograph's
`companion`); the student, initialised from the same weights, sees the photo with every capture
effect. No text labels are needed, so the student learns text of every kind the teacher sees, not
the time lines alone.

Pages are drawn by training/render.py from seeds that no benchmark uses (BENCHMARK seeds are
7-19 x 1,000,003 + a few hundred). Output: ONNX with the input and output of the shipped model.
"""

from __future__ import annotations

import argparse
import io
import math
import random
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from training import render
from training.onnx_torch import load_onnx
from training.preprocessing import page_reading
from training.spec import LABELS, TIME_KINDS, sample_spec
from training.teacher_pages import add_training_arguments, draw_pages, set_learning_rate

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "ocr-detector"
FIRST_SEED = 900_000_000  # far from every benchmark's and test's seeds
TEACHER_AREA_PX = 1_200_000  # the teacher sees the clean screen at about this size
INPUT, OUTPUT = "x", "sigmoid_0.tmp_0"  # the shipped model's (ocr_text_detector/config.pbtxt)
CROP_PX = 320  # the student's training windows
# The student sees each photo at a random scale between the reader's whole-page pass and its
# enlarged second looks: the whole image DETECT_AREA_PX (page_reading) up to 4x that.
AREA_RANGE_PX = (225_000, 900_000)


class Teacher:
    """The shipped detector on a clean screen."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options)

    def probability(self, screen: Image.Image) -> np.ndarray:
        """The detector's (H, W) probability map of the screen seen at about TEACHER_AREA_PX."""
        scale = min(1.0, math.sqrt(TEACHER_AREA_PX / (screen.width * screen.height)))
        size = tuple(max(32, round(s * scale / 32) * 32) for s in screen.size)
        seen = screen.resize(size, Image.Resampling.BILINEAR)
        x = page_reading().to_model_input(seen)[None]
        return self.session.run(None, {INPUT: x})[0][0, 0]

    def text_map(self, screen: Image.Image) -> Image.Image:
        """The detector's probability map of the screen, as an 'L' image of the screen's size."""
        small = Image.fromarray((self.probability(screen) * 255).round().astype(np.uint8))
        return small.resize(screen.size, Image.Resampling.BILINEAR)


_teacher: Teacher | None = None


def _init(path: str) -> None:
    global _teacher
    _teacher = Teacher(Path(path))


def sample(index: int) -> tuple[bytes, bytes] | None:
    """A page drawn from `index` as the renderer draws it (JPEG) and the teacher's map of its
    screen carried through the same geometry (PNG); None for a page of a kind that shows no time
    (TIME_KINDS) or cropped."""
    rng = random.Random(index)
    label = LABELS[index % len(LABELS)]
    spec = sample_spec(label, rng)
    if spec.kind not in TIME_KINDS or spec.crop:
        return None
    assert _teacher is not None
    img, target = render.draw_with_map(spec, rng, _teacher.text_map)
    assert target is not None
    photo, mask = io.BytesIO(), io.BytesIO()
    # JPEG whatever the page's format: the pages are kept in memory (a PNG photo is ~10x bigger).
    img.save(photo, "JPEG", quality=spec.quality if spec.fmt == "jpeg" else 95)
    target.save(mask, "PNG")
    return photo.getvalue(), mask.getvalue()


def windows(page: tuple[bytes, bytes], rng: random.Random, k: int) -> list[tuple]:
    """k training windows of a page at random scales, most of them on text."""
    img = Image.open(io.BytesIO(page[0])).convert("RGB")
    target = Image.open(io.BytesIO(page[1]))
    scale = math.sqrt(rng.uniform(*AREA_RANGE_PX) / (img.width * img.height))
    size = (max(CROP_PX, round(img.width * scale)), max(CROP_PX, round(img.height * scale)))
    img = img.resize(size, Image.Resampling.BILINEAR)
    target = np.asarray(target.resize(size, Image.Resampling.BILINEAR), np.float32) / 255
    text = np.argwhere(target > 0.5)
    out = []
    for _ in range(k):
        if len(text) and rng.random() < 0.8:
            y, x = text[rng.randrange(len(text))]
        else:
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
        x0 = min(max(0, x - rng.randrange(CROP_PX)), size[0] - CROP_PX)
        y0 = min(max(0, y - rng.randrange(CROP_PX)), size[1] - CROP_PX)
        window = img.crop((x0, y0, x0 + CROP_PX, y0 + CROP_PX))
        window_target = target[y0 : y0 + CROP_PX, x0 : x0 + CROP_PX].copy()
        out.append((page_reading().to_model_input(window), window_target))
    return out


def train(pages: list, source: Path, steps: int, batch: int, lr: float) -> object:
    import torch

    torch.manual_seed(0)
    net = load_onnx(source)
    net.eval()  # batch norm keeps its statistics: batches of 8 windows are too few to learn them
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    rng = random.Random(0)
    started = time.monotonic()
    for step in range(1, steps + 1):
        set_learning_rate(optimiser, lr, step, steps)
        items = [w for _ in range(batch // 2) for w in windows(rng.choice(pages), rng, 2)]
        x = torch.from_numpy(np.stack([i[0] for i in items]))
        y = torch.from_numpy(np.stack([i[1] for i in items]))[:, None]
        p = net(x).clamp(1e-6, 1 - 1e-6)
        bce = torch.nn.functional.binary_cross_entropy(p, y)
        dice = 1 - 2 * (p * y).sum() / (p.sum() + y.sum() + 1)
        loss = bce + dice
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % 10 == 0 or step == steps:
            print(
                f"\rstep {step}/{steps}  bce {bce.item():.4f}  dice {dice.item():.3f}"
                f"  {time.monotonic() - started:.0f} s",
                end="",
                flush=True,
            )
    print()
    return net


def export(net, path: Path) -> None:
    """The module as ONNX with the shipped model's input and output names, any size, checked."""
    import onnx
    import torch

    from training.export import save_checked

    # As training/export.py: the TorchScript exporter (deprecated, but needs no onnxscript); the
    # converted Resize traces its scales as constants, which is right: they are fixed factors.
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder:
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        graph = Path(folder) / "graph.onnx"
        torch.onnx.export(
            net,
            (torch.zeros(1, 3, 320, 320),),
            str(graph),
            dynamo=False,
            opset_version=17,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={name: {0: "n", 2: "h", 3: "w"} for name in (INPUT, OUTPUT)},
        )
        save_checked(onnx.load(str(graph)), path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="the shipped detector's ONNX")
    parser.add_argument("--out", type=Path, required=True)
    add_training_arguments(parser, pages=1500, steps=3000, batch=8, lr=3e-4)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.workers)
    pages = draw_pages(
        CACHE, FIRST_SEED, args.pages, sample, args.workers, _init, (str(args.source),)
    )
    net = train(pages, args.source, args.steps, args.batch, args.lr)
    # Staged beside the version folder and renamed into place: a polling Triton never loads a
    # version folder without its model, nor half a model.
    staged = args.out.parent.parent / f".{args.out.parent.name}.staged" / args.out.name
    export(net, staged)
    if args.out.parent.exists():
        staged.replace(args.out)
        staged.parent.rmdir()
    else:
        staged.parent.rename(args.out.parent)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
