"""The model repository's one loader (imaging.py, labels) and decoding in the gateway."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gateway import errors
from gateway.decoder import Decoder
from gateway.repository import (
    PROJECT_REPOSITORY,
    ModelFamily,
    compile_python_models,
    labels,
    load_imaging,
    project_imaging,
)
from tests.support.images import encode

FAMILY = ModelFamily("health_code")
SOURCE = (PROJECT_REPOSITORY / "health_code_preprocess" / "1" / "imaging.py").read_text()


def repository_with(tmp_path: Path, versions: dict[str, str]) -> Path:
    """A repository whose health_code_preprocess has the given version -> imaging.py texts."""
    for version, text in versions.items():
        folder = tmp_path / "health_code_preprocess" / version
        folder.mkdir(parents=True)
        (folder / "imaging.py").write_text(text)
    return tmp_path


def test_the_newest_numeric_version_of_the_preprocess_model_is_loaded(tmp_path):
    repo = repository_with(
        tmp_path, {"2": SOURCE + "\nVERSION = 2\n", "10": SOURCE + "\nVERSION = 10\n"}
    )
    (repo / "health_code_preprocess" / "notes").mkdir()
    assert load_imaging(FAMILY, repo).VERSION == 10


def test_python_models_have_their_bytecode_where_the_stub_would_write_it(tmp_path):
    repository = repository_with(tmp_path, {"1": SOURCE})
    compile_python_models(repository)
    source = repository / "health_code_preprocess" / "1" / "imaging.py"
    assert Path(importlib.util.cache_from_source(str(source))).is_file()


def test_a_repository_without_imaging_py_fails_naming_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match="HEALTHCODE_MODEL_REPOSITORY"):
        load_imaging(FAMILY, tmp_path)


def test_labels_come_from_labels_txt_and_must_be_distinct(tmp_path):
    folder = tmp_path / "health_code_classifier"
    folder.mkdir()
    (folder / "labels.txt").write_text("a\nb\nc\n")
    assert labels(FAMILY, tmp_path) == ("a", "b", "c")
    (folder / "labels.txt").write_text("a\na\n")
    with pytest.raises(ValueError, match="once"):
        labels(FAMILY, tmp_path)


async def test_the_decoder_gives_exactly_the_tensor_triton_would():
    imaging = project_imaging()
    decoder = Decoder(imaging, threads=2)
    try:
        for fmt in ("JPEG", "PNG"):
            image = encode(fmt)
            tensor = await decoder.tensor(image)
            np.testing.assert_array_equal(tensor, imaging.image_to_tensor(image))
    finally:
        decoder.close()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GIF89a" + b"\0" * 32, errors.UnsupportedImageFormat),
        (b"neither", errors.NotAnImage),
        (encode("JPEG")[:200], errors.CorruptImage),
    ],
)
async def test_image_errors_keep_the_codes_of_the_triton_preprocess_step(data, error):
    decoder = Decoder(project_imaging(), threads=1)
    try:
        with pytest.raises(error):
            await decoder.tensor(data)
    finally:
        decoder.close()


async def test_an_unexpected_decoder_failure_is_the_clients_corrupt_image(tmp_path):
    broken = SOURCE + "\n\ndef image_to_tensor(data, *args, **kwargs):\n    raise MemoryError\n"
    decoder = Decoder(load_imaging(FAMILY, repository_with(tmp_path, {"1": broken})), threads=1)
    try:
        with pytest.raises(errors.CorruptImage, match="MemoryError"):
            await decoder.tensor(encode("JPEG"))
    finally:
        decoder.close()
