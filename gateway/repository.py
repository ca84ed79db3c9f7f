"""The model repository as the rest of the project reads it: model names, versions, labels, imaging.

Triton serves the repository; this module is the one place that knows its layout:

    <repository>/<family>/config.pbtxt                      the ensemble a usage calls
    <repository>/<family>_preprocess/<version>/imaging.py   the image -> tensor code
    <repository>/<family>_classifier/labels.txt             the class names, in score order
    <repository>/<family>_closer/config.pbtxt               the closer look (optional): the page
    <repository>/<family>_locate/<version>/model.py         around its code, classified again

The gateway, training, the benchmarks and the tests all load imaging.py and the labels through here,
so every one of them runs the code and the label order Triton runs.
"""

from __future__ import annotations

import compileall
import importlib.util
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

PROJECT_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"
DEFAULT_FAMILY = "health_code"


@dataclass(frozen=True)
class ModelFamily:
    """The Triton models behind one usage: an ensemble of a preprocess step and a classifier, and
    the closer look's ensemble of a locate step and the same classifier."""

    ensemble: str

    @property
    def preprocess(self) -> str:
        return f"{self.ensemble}_preprocess"

    @property
    def classifier(self) -> str:
        return f"{self.ensemble}_classifier"

    @property
    def locate(self) -> str:
        return f"{self.ensemble}_locate"

    @property
    def closer(self) -> str:
        """The closer look's ensemble: the locate step, then the classifier."""
        return f"{self.ensemble}_closer"


def versions(model_dir: Path) -> list[int]:
    """The numeric version folders of a model, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def compile_python_models(folder: Path) -> None:
    """Write the bytecode of the Python models under `folder` before Triton first loads them.

    Poll mode reloads a model whose folder changes, and the python backend's stub writes
    `__pycache__` into a version folder the first time it imports the model's code: its
    interpreter runs isolated, so PYTHONDONTWRITEBYTECODE never reaches it. Unless the bytecode is
    already there, each Python model would load twice: at start, and after every publish. A
    read-only repository gets nothing and needs nothing (the stub cannot write there either).
    """
    compileall.compile_dir(folder, quiet=2)


def labels(family: ModelFamily, repository: Path = PROJECT_REPOSITORY) -> tuple[str, ...]:
    """The classifier's class names in score order, from its labels.txt."""
    path = repository / family.classifier / "labels.txt"
    try:
        names = tuple(path.read_text(encoding="utf-8").split())
    except OSError as e:
        raise FileNotFoundError(
            f"{path} is missing: point HEALTHCODE_MODEL_REPOSITORY at the model repository"
        ) from e
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{path} must name each class once, one per line")
    return names


@cache
def import_file(path: Path) -> ModuleType:
    # One module object per file: training, the gateway and tests share it (and its constants).
    name = f"healthcode_imaging_{abs(hash(path))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _preprocess_code(family: ModelFamily, repository: Path, name: str) -> Path:
    """A file of the newest version folder of the family's preprocess model."""
    folder = repository / family.preprocess
    found = versions(folder)
    return folder / str(found[-1] if found else 1) / name


def load_imaging(family: ModelFamily, repository: Path = PROJECT_REPOSITORY) -> ModuleType:
    """Import imaging.py of the newest version folder of the family's preprocess model."""
    path = _preprocess_code(family, repository, "imaging.py")
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: point HEALTHCODE_MODEL_REPOSITORY at the model repository"
        )
    return import_file(path.resolve())


def load_locator(family: ModelFamily, repository: Path = PROJECT_REPOSITORY) -> ModuleType | None:
    """Import code_locator.py beside the family's imaging.py (the finder check of a tensor the
    gateway decoded); None for a family that has none."""
    path = _preprocess_code(family, repository, "code_locator.py")
    return import_file(path.resolve()) if path.is_file() else None


def project_imaging() -> ModuleType:
    """imaging.py of this checkout's repository: what training and the benchmarks run."""
    return load_imaging(ModelFamily(DEFAULT_FAMILY))


def project_labels() -> tuple[str, ...]:
    """The label order of this checkout's classifier."""
    return labels(ModelFamily(DEFAULT_FAMILY))
