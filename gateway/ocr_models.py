"""`python -m gateway.ocr_models`: put the OCR models of `?read=time` into the model repository.

The PP-OCRv4 text detector and recogniser (Apache-2.0) ship inside the PyPI wheel
rapidocr-onnxruntime 1.4.4. The recogniser (10.9 MB) is too big to commit, so `make install`
runs this: it downloads the pinned wheel once (pip, into .cache/), checks its hash, and writes
version 1 of `ocr_text_detector` and `ocr_text_recognizer`; the recogniser's alphabet, stored in
the model's `character` metadata, goes beside it as keys.txt. Idempotent: files already there
with the right hash are left alone. Like `healthcode publish`, each version folder is staged
hidden and renamed into place, so a polling Triton never sees half of one.
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
from pathlib import Path

WHEEL_REQUIREMENT = "rapidocr-onnxruntime==1.4.4"
WHEEL_NAME = "rapidocr_onnxruntime-1.4.4-py3-none-any.whl"
WHEEL_SHA256 = "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf"
# model folder -> (member of the wheel, sha256 of that file)
MODELS = {
    "ocr_text_detector": (
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    ),
    "ocr_text_recognizer": (
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    ),
}
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
    if not onnx.is_file() or _sha256(onnx) != MODELS[model][1]:
        return False
    return model != "ocr_text_recognizer" or (folder / KEYS_FILE).is_file()


def missing(repository: Path) -> list[str]:
    """The OCR model folders that lack their version 1 (or hold another file than the pinned)."""
    return [model for model in MODELS if not _complete(repository, model)]


def wheel(cache: Path) -> Path:
    """The pinned wheel, downloaded with pip unless the cache holds it already."""
    path = cache / WHEEL_NAME
    if not (path.is_file() and _sha256(path) == WHEEL_SHA256):
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
                WHEEL_REQUIREMENT,
            ],
            check=True,
        )
        if _sha256(path) != WHEEL_SHA256:
            raise RuntimeError(f"{path} does not have the pinned sha256 {WHEEL_SHA256}")
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


def install(repository: Path, cache: Path) -> list[str]:
    """Write the missing OCR model versions; return the models written."""
    todo = missing(repository)
    if not todo:
        return []
    with zipfile.ZipFile(wheel(cache)) as archive:
        for model in todo:
            member, sha256 = MODELS[model]
            data = archive.read(member)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise RuntimeError(f"{member} in {WHEEL_NAME} does not have the pinned sha256")
            files = {"model.onnx": data}
            if model == "ocr_text_recognizer":
                with tempfile.TemporaryDirectory() as tmp:
                    onnx = Path(tmp) / "model.onnx"
                    onnx.write_bytes(data)
                    files[KEYS_FILE] = alphabet(onnx).encode("utf-8")
            _publish(repository / model / VERSION, files)
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
