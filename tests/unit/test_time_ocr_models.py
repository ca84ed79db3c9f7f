"""gateway/ocr_models.py: the OCR models come from the pinned wheel, once, whole or not at all."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from gateway import ocr_models

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


@pytest.fixture
def wheel(monkeypatch, tmp_path) -> Path:
    """A stand-in wheel holding small files under the real members' names, pinned by hash."""
    path = tmp_path / "built" / ocr_models.WHEEL_NAME
    path.parent.mkdir()
    contents = {"ocr_text_detector": b"detector bytes", "ocr_text_recognizer": b"recogniser"}
    with zipfile.ZipFile(path, "w") as archive:
        for model, data in contents.items():
            archive.writestr(ocr_models.MODELS[model][0], data)
    pins = {
        m: (ocr_models.MODELS[m][0], hashlib.sha256(d).hexdigest()) for m, d in contents.items()
    }
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    monkeypatch.setattr(ocr_models, "WHEEL_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setattr(ocr_models, "alphabet", lambda onnx: "0\n1\n:\n")
    return path


@pytest.fixture
def pip(monkeypatch, wheel):
    """`pip download` stand-in: records its arguments and puts the wheel in --dest."""
    calls = []

    def run(args, check):
        calls.append(args)
        shutil.copy(wheel, args[args.index("--dest") + 1])

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "model_repository"
    for model in ocr_models.MODELS:
        shutil.copytree(REPOSITORY / model, repo / model, ignore=shutil.ignore_patterns("1"))
    return repo


def test_install_downloads_the_pinned_wheel_once_and_writes_both_versions(tmp_path, pip):
    repo, cache = repository(tmp_path), tmp_path / "cache"
    assert ocr_models.missing(repo) == ["ocr_text_detector", "ocr_text_recognizer"]
    assert ocr_models.install(repo, cache) == ["ocr_text_detector", "ocr_text_recognizer"]
    assert (repo / "ocr_text_detector/1/model.onnx").read_bytes() == b"detector bytes"
    assert (repo / "ocr_text_recognizer/1/model.onnx").read_bytes() == b"recogniser"
    assert (repo / "ocr_text_recognizer/1/keys.txt").read_text() == "0\n1\n:\n"
    (call,) = pip
    assert "--no-deps" in call and ocr_models.WHEEL_REQUIREMENT in call
    assert ocr_models.install(repo, cache) == []  # idempotent: nothing downloaded or written
    assert len(pip) == 1
    assert not list(repo.glob("*/.staging-*"))


def test_a_changed_model_file_is_replaced_from_the_cached_wheel(tmp_path, pip):
    repo, cache = repository(tmp_path), tmp_path / "cache"
    ocr_models.install(repo, cache)
    (repo / "ocr_text_detector/1/model.onnx").write_bytes(b"something else")
    assert ocr_models.missing(repo) == ["ocr_text_detector"]
    assert ocr_models.install(repo, cache) == ["ocr_text_detector"]
    assert (repo / "ocr_text_detector/1/model.onnx").read_bytes() == b"detector bytes"
    assert len(pip) == 1  # the cache's wheel had the pinned hash


def test_a_wheel_without_the_pinned_hash_is_refused_and_nothing_is_written(
    tmp_path, pip, monkeypatch
):
    monkeypatch.setattr(ocr_models, "WHEEL_SHA256", "0" * 64)
    repo = repository(tmp_path)
    with pytest.raises(RuntimeError, match="pinned sha256"):
        ocr_models.install(repo, tmp_path / "cache")
    assert not (repo / "ocr_text_detector" / "1").exists()


def test_a_wheel_member_without_the_pinned_hash_is_refused(tmp_path, pip, monkeypatch):
    pins = dict(ocr_models.MODELS)
    pins["ocr_text_recognizer"] = (pins["ocr_text_recognizer"][0], "f" * 64)
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    repo = repository(tmp_path)
    with pytest.raises(RuntimeError, match="pinned sha256"):
        ocr_models.install(repo, tmp_path / "cache")
    assert not (repo / "ocr_text_recognizer" / "1").exists()
    assert not list(repo.glob("*/.staging-*"))


def test_the_model_folders_record_licence_and_source():
    for model in ocr_models.MODELS:
        notice = (REPOSITORY / model / "NOTICE.md").read_text()
        assert "Apache-2.0" in notice and ocr_models.WHEEL_REQUIREMENT in notice
        assert ocr_models.MODELS[model][1] in notice  # the sha256 of the file served
