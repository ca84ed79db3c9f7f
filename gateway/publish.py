"""`healthcode publish model.onnx`: add a classifier version to the model repository atomically.

Triton polls the repository, so it must never see a half-copied version folder: the file is
copied into a hidden staging folder inside the model's folder (same filesystem), flushed to disk,
and the folder is renamed to the next version number in one step. Before that, the model is
checked with onnxruntime against the config's input and output, so a model that cannot load
is refused here rather than reported by Triton later.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from gateway.repository import DEFAULT_FAMILY, ModelFamily, versions

MODEL = ModelFamily(DEFAULT_FAMILY).classifier


class PublishError(RuntimeError):
    """The model cannot be published."""


def check_onnx(onnx: Path, config_text: str) -> None:
    """Load the model in onnxruntime; its inputs and outputs must be the ones config.pbtxt names."""
    import onnxruntime as ort

    config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    try:
        session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise PublishError(f"{onnx.name} does not load in onnxruntime: {e}") from e
    for kind, declared, actual in (
        ("inputs", config.input, session.get_inputs()),
        ("outputs", config.output, session.get_outputs()),
    ):
        want, have = sorted(t.name for t in declared), sorted(t.name for t in actual)
        if want != have:
            raise PublishError(f"{onnx.name} has {kind} {have}; config.pbtxt declares {want}")


def publish(onnx: Path, repository: Path, *, version: int | None = None, check: bool = True) -> int:
    """Copy `onnx` in as the next (or given) version of the classifier; return the version."""
    model_dir = repository / MODEL
    if not (model_dir / "config.pbtxt").is_file():
        raise PublishError(f"{model_dir} is not a Triton model folder (no config.pbtxt)")
    if check:
        check_onnx(onnx, (model_dir / "config.pbtxt").read_text())
    existing = versions(model_dir)
    version = version if version is not None else max(existing, default=0) + 1
    target = model_dir / str(version)
    if target.exists():
        raise PublishError(f"version {version} exists already: {target}")
    staging = Path(tempfile.mkdtemp(prefix=".publish-", dir=model_dir))
    try:
        with open(onnx, "rb") as src, open(staging / "model.onnx", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        staging.chmod(0o755)
        os.rename(staging, target)  # atomic: Triton sees no folder, then a complete one
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version
