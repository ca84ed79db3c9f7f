"""The serving preprocessing, loaded from the model repository: training runs the same code."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[1]
IMAGING_PATH = _REPO / "model_repository" / "health_code_preprocess" / "1" / "imaging.py"


def _load():
    name = "healthcode_imaging"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, IMAGING_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


imaging = _load()
INPUT_HEIGHT: int = imaging.INPUT_HEIGHT
INPUT_WIDTH: int = imaging.INPUT_WIDTH
INPUT_SHAPE: tuple[int, int, int] = imaging.INPUT_SHAPE
ImageError = imaging.ImageError
image_to_tensor = imaging.image_to_tensor
