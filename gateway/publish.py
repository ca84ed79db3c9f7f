"""Adding to the model repository Triton polls, atomically: it must never see a half-copied folder.

- `healthcode publish model.onnx`: a new classifier version with the same input. The file is
  copied into a hidden staging folder inside the model's folder (same filesystem), flushed to
  disk, and the folder is renamed to the next version number in one step. Before that, the model
  is checked with onnxruntime against the config's input and output, so a model that cannot load
  is refused here rather than reported by Triton later.
- `healthcode publish-family SOURCE --as NAME`: a whole model family (preprocess, classifier,
  ensemble, and the closer look's locate step and ensemble where the source has them) under a
  new name, for a model whose input changes: the composing models first, the
  ensemble last, each staged beside the repository and renamed into it in one step, with the
  names in their configs rewritten. A usage that prefers NAME moves to it once Triton has it all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from gateway.repository import DEFAULT_FAMILY, ModelFamily, compile_python_models, versions

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


def publish_family(source: Path, family: str, repository: Path, name: str) -> None:
    """Copy `family` from the repository `source` into `repository` as the family `name`."""
    old, new = ModelFamily(family), ModelFamily(name)
    renames = {
        old.preprocess: new.preprocess,
        old.classifier: new.classifier,
        old.ensemble: new.ensemble,
    }
    if (source / old.closer).is_dir():  # the closer look is optional; its ensemble comes last
        renames |= {old.locate: new.locate, old.closer: new.closer}
    for model in renames:
        if not (source / model / "config.pbtxt").is_file():
            raise PublishError(f"{source / model} is not a Triton model folder (no config.pbtxt)")
        if (repository / renames[model]).exists():
            raise PublishError(f"{repository / renames[model]} exists already")
    for model, renamed in renames.items():  # each ensemble after the models it calls
        # Staged beside the repository, not in it: Triton would try to load a folder in it.
        staging = Path(tempfile.mkdtemp(prefix=f".{renamed}-", dir=repository.parent))
        try:
            shutil.copytree(
                source / model,
                staging,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", ".*"),
            )
            for config in (staging / "config.pbtxt", *staging.glob("configs/*.pbtxt")):
                config.write_text(_renamed(config.read_text(), renames))
            compile_python_models(staging)
            _flush(staging)
            staging.chmod(0o755)
            os.rename(staging, repository / renamed)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _renamed(config_text: str, renames: dict[str, str]) -> str:
    """A config with its own name and its ensemble steps' model names renamed."""
    config = text_format.Parse(config_text, model_config_pb2.ModelConfig())
    config.name = renames.get(config.name, config.name)
    for step in config.ensemble_scheduling.step:
        step.model_name = renames.get(step.model_name, step.model_name)
    return str(text_format.MessageToString(config))


def _flush(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
