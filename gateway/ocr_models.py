"""`python -m gateway.ocr_models`: put the OCR models of `?read=time` into the model repository.

Both models (Apache-2.0, from PaddleOCR) ship inside pinned PyPI wheels of RapidOCR: the PP-OCRv4
text detector inside rapidocr-onnxruntime 1.4.4, the PP-OCRv6 small text recogniser inside
rapidocr 3.10.0. They are too big to commit (4.7 and 21.2 MB), so `make install` runs this: it
downloads each pinned wheel once (pip, into .cache/), checks its hash and the model's, and writes
version 1 of `ocr_text_detector` and `ocr_text_recognizer`; the recogniser's alphabet, stored in
the model's `character` metadata, goes beside it as keys.txt. A version fine-tuned here whose
model is too big to commit is committed as the change of version 1's weights (FINE_TUNED) and
built from version 1 and that change. Idempotent: files already there with the right hash are
left alone, and a model whose pin (or change) changed is written again. Like `healthcode
publish`, each version folder is staged hidden and renamed into place, so a polling Triton never
sees half of one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel that ships OCR models."""

    requirement: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Source:
    """Where a model version's model.onnx comes from: a wheel's member, pinned by hash."""

    wheel: Wheel
    member: str
    sha256: str


RAPIDOCR_ONNXRUNTIME = Wheel(
    "rapidocr-onnxruntime==1.4.4",
    "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
    "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
)
RAPIDOCR = Wheel(
    "rapidocr==3.10.0",
    "rapidocr-3.10.0-py3-none-any.whl",
    "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050",
)
# Each model from the wheel whose version of it read the renderer's photos best: PP-OCRv6's
# recogniser reads more of their blurred dates than PP-OCRv4's, PP-OCRv6's small detector finds
# fewer of their lines than PP-OCRv4's (benchmarks/NOTES.md, 2026-12-03).
MODELS = {
    "ocr_text_detector": Source(
        RAPIDOCR_ONNXRUNTIME,
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "ocr_text_recognizer": Source(
        RAPIDOCR,
        "rapidocr/models/PP-OCRv6_rec_small.onnx",
        "6f327246b50388f3c176ae304bd95767ea6dc0c9ae92153ef8cbe210b3c14884",
    ),
}


@dataclass(frozen=True)
class FineTune:
    """A version built from version 1 plus a committed change of some of its weights: a file in
    the model's folder of float16 arrays named as version 1's ONNX tensors."""

    version: str
    change: str


# The recogniser fine-tuned on phone photos (training/ocr_recognizer.py): 21 MB as a whole model,
# its convolutions' change is 5 MB.
FINE_TUNED = {"ocr_text_recognizer": FineTune("2", "version_2_change.npz")}
BUILT_FROM = "built_from.sha256"  # in a fine-tuned version folder: its change file's sha256
REPO_ROOT = Path(__file__).resolve().parents[1]
KEYS_FILE = "keys.txt"  # beside the recogniser's model.onnx: one character per line
VERSION = "1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _complete(repository: Path, model: str) -> bool:
    folder = repository / model / VERSION
    onnx = folder / "model.onnx"
    if not onnx.is_file() or _sha256(onnx) != MODELS[model].sha256:
        return False
    return model != "ocr_text_recognizer" or (folder / KEYS_FILE).is_file()


def _fine_tune_complete(repository: Path, model: str) -> bool:
    tune = FINE_TUNED[model]
    folder = repository / model / tune.version
    stamp = folder / BUILT_FROM
    if not ((folder / "model.onnx").is_file() and (folder / KEYS_FILE).is_file()):
        return False
    return stamp.is_file() and stamp.read_text() == _sha256(repository / model / tune.change)


def missing(repository: Path) -> list[str]:
    """The OCR model folders that lack their version 1 (or hold another file than the pinned),
    or a fine-tuned version built from their current change."""
    return [
        model
        for model in MODELS
        if not _complete(repository, model)
        or (_has_change(repository, model) and not _fine_tune_complete(repository, model))
    ]


def _has_change(repository: Path, model: str) -> bool:
    """A fine-tuned version is built where its change is committed (make train-ocr-recognizer
    installs version 1 before there is one)."""
    return model in FINE_TUNED and (repository / model / FINE_TUNED[model].change).is_file()


def download(wheel: Wheel, cache: Path) -> Path:
    """The pinned wheel, downloaded with pip unless the cache holds it already."""
    path = cache / wheel.filename
    if not (path.is_file() and _sha256(path) == wheel.sha256):
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                wheel.requirement,
            ],
            check=True,
        )
        if _sha256(path) != wheel.sha256:
            raise RuntimeError(f"{path} does not have the pinned sha256 {wheel.sha256}")
    return path


def alphabet(onnx: Path) -> str:
    """The recogniser's characters, one per line, from its `character` metadata."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    characters: str = session.get_modelmeta().custom_metadata_map["character"]
    return characters.rstrip("\n") + "\n"


def _publish(folder: Path, files: dict[str, bytes]) -> None:
    """Write files into a hidden staging folder beside `folder`, then swap it into place."""
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
    try:
        for name, data in files.items():
            with open(staging / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        staging.chmod(0o755)
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def with_change(onnx_model: bytes, change: Path) -> bytes:
    """The ONNX model with each tensor named in the change file (initializer or Constant) plus
    that change."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_model)
    with np.load(change) as arrays:
        todo = {name: arrays[name] for name in arrays.files}
    tensors = [*model.graph.initializer]
    tensors += [n.attribute[0].t for n in model.graph.node if n.op_type == "Constant"]
    for tensor in tensors:
        if (delta := todo.pop(tensor.name, None)) is None:
            continue
        before = numpy_helper.to_array(tensor)
        if delta.shape != before.shape:
            raise ValueError(f"{change}: {tensor.name} is {before.shape}, its change {delta.shape}")
        tensor.CopyFrom(numpy_helper.from_array(before + delta.astype(before.dtype), tensor.name))
    if todo:
        raise ValueError(f"{change}: the model has no tensor {sorted(todo)[0]!r}")
    data: bytes = model.SerializeToString()
    return data


def _fine_tune(repository: Path, model: str) -> None:
    tune = FINE_TUNED[model]
    base, change = repository / model / VERSION, repository / model / tune.change
    files = {"model.onnx": with_change((base / "model.onnx").read_bytes(), change)}
    if (base / KEYS_FILE).is_file():
        files[KEYS_FILE] = (base / KEYS_FILE).read_bytes()
    files[BUILT_FROM] = _sha256(change).encode()
    _publish(repository / model / tune.version, files)


def _version_1(model: str, cache: Path) -> dict[str, bytes]:
    """The files of the model's version 1, from its pinned wheel (hash checked)."""
    source = MODELS[model]
    with zipfile.ZipFile(download(source.wheel, cache)) as archive:
        data = archive.read(source.member)
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise RuntimeError(
            f"{source.member} in {source.wheel.filename} does not have the pinned sha256"
        )
    files = {"model.onnx": data}
    if model == "ocr_text_recognizer":
        with tempfile.TemporaryDirectory() as tmp:
            onnx = Path(tmp) / "model.onnx"
            onnx.write_bytes(data)
            files[KEYS_FILE] = alphabet(onnx).encode("utf-8")
    return files


def install(repository: Path, cache: Path) -> list[str]:
    """Write the missing OCR model versions; return the models written."""
    todo = missing(repository)
    for model in todo:
        if not _complete(repository, model):
            _publish(repository / model / VERSION, _version_1(model, cache))
        if _has_change(repository, model):
            _fine_tune(repository, model)
    return todo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.ocr_models", description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=REPO_ROOT / "model_repository")
    parser.add_argument("--cache", type=Path, default=REPO_ROOT / ".cache" / "wheels")
    args = parser.parse_args(argv)
    written = install(args.model_repository, args.cache)
    print(f"OCR models written: {', '.join(written)}" if written else "OCR models: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
