"""The serving preprocessing, loaded from the model repository: training runs the same code."""

from __future__ import annotations

from pathlib import Path

from gateway.repository import project_imaging

imaging = project_imaging()
IMAGING_PATH = Path(imaging.__file__)
INPUT_HEIGHT: int = imaging.INPUT_HEIGHT
INPUT_WIDTH: int = imaging.INPUT_WIDTH
INPUT_SHAPE: tuple[int, int, int] = imaging.INPUT_SHAPE
ImageError = imaging.ImageError
image_to_tensor = imaging.image_to_tensor
