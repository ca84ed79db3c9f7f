"""The serving preprocessing, loaded from the model repository: training runs the same code."""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gateway.repository import import_file, project_imaging

imaging = project_imaging()
IMAGING_PATH = Path(imaging.__file__)
INPUT_HEIGHT: int = imaging.INPUT_HEIGHT
INPUT_WIDTH: int = imaging.INPUT_WIDTH
INPUT_SHAPE: tuple[int, int, int] = imaging.INPUT_SHAPE
ImageError = imaging.ImageError
image_to_tensor = imaging.image_to_tensor

# The closer look at a page the first look refused (code_locator.py, beside imaging.py), and the
# first look's finder check the gateway and the models run.
_code_locator = import_file(IMAGING_PATH.parent / "code_locator.py")
first_look_shows_finder = _code_locator.first_look_shows_finder


def look_closer(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The served closer look's view of an image and its code's box (code_locator.look_closer)."""
    return _code_locator.look_closer(data, imaging)


def look_closer_checked(data: bytes) -> Any:
    """The same, with its finder check, sharpness and the ink of a code read in the page
    (code_locator.look_closer_checked, a CloserLook): what health_code_locate answers."""
    return _code_locator.look_closer_checked(data, imaging)


@functools.cache
def page_reading():
    """The time reader's page_reading.py (health_code_time), imported as its Triton model does:
    its own folder and imaging's on sys.path, for the sibling modules it imports."""
    folder = IMAGING_PATH.parents[2] / "health_code_time" / "1"
    sys.path[:0] = [str(folder), str(IMAGING_PATH.parent)]
    return importlib.import_module("page_reading")
