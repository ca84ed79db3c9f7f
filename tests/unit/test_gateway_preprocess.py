"""Decoding in the gateway: the repository's own imaging.py, its error codes, off the event loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway import errors
from gateway.preprocess import Decoder, load_imaging
from gateway.settings import REPO_ROOT
from tests.images import encode
from training.preprocessing import image_to_tensor

REPOSITORY = REPO_ROOT / "model_repository"


def copy_preprocess(tmp_path: Path, versions: dict[str, str]) -> Path:
    """A repository whose health_code_preprocess has the given version -> imaging.py texts."""
    for version, text in versions.items():
        folder = tmp_path / "health_code_preprocess" / version
        folder.mkdir(parents=True)
        (folder / "imaging.py").write_text(text)
    return tmp_path


def test_the_newest_numeric_version_of_the_preprocess_model_is_loaded(tmp_path):
    source = (REPOSITORY / "health_code_preprocess" / "1" / "imaging.py").read_text()
    repo = copy_preprocess(
        tmp_path, {"2": source + "\nVERSION = 2\n", "10": source + "\nVERSION = 10\n"}
    )
    (repo / "health_code_preprocess" / "notes").mkdir()
    assert load_imaging(repo, "health_code").VERSION == 10


def test_a_repository_without_imaging_py_fails_start_up_naming_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="HEALTHCODE_DECODE=triton"):
        load_imaging(tmp_path, "health_code")


async def test_the_decoder_gives_exactly_the_tensor_triton_would():
    decoder = Decoder(REPOSITORY, {"health_code"}, threads=2)
    try:
        for fmt in ("JPEG", "PNG"):
            image = encode(fmt)
            tensor = await decoder.tensor("health_code", image)
            np.testing.assert_array_equal(tensor, image_to_tensor(image))
    finally:
        decoder.close()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GIF89a" + b"\0" * 32, errors.NotAnImage),
        (encode("JPEG")[:200], errors.CorruptImage),
    ],
)
async def test_image_errors_keep_the_codes_of_the_triton_preprocess_step(data, error):
    decoder = Decoder(REPOSITORY, {"health_code"}, threads=1)
    try:
        with pytest.raises(error):
            await decoder.tensor("health_code", data)
    finally:
        decoder.close()


async def test_an_unexpected_decoder_failure_is_the_clients_corrupt_image(tmp_path):
    source = (REPOSITORY / "health_code_preprocess" / "1" / "imaging.py").read_text()
    broken = source + "\n\ndef image_to_tensor(data, size=INPUT_SIZE):\n    raise MemoryError\n"
    repo = copy_preprocess(tmp_path, {"1": broken})
    decoder = Decoder(repo, {"health_code"}, threads=1)
    try:
        with pytest.raises(errors.CorruptImage, match="MemoryError"):
            await decoder.tensor("health_code", encode("JPEG"))
    finally:
        decoder.close()
