"""`healthcode publish`: a checked model appears as the next version in one rename."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format
from onnx import TensorProto, helper
from tritonclient.grpc import model_config_pb2

from gateway.publish import MODEL, PublishError, publish, publish_family
from gateway.repository import PROJECT_REPOSITORY, versions

REPO = Path(__file__).resolve().parents[2] / "model_repository"
SERVED = versions(REPO / MODEL)[-1]  # the committed (newest) version
COMMITTED = REPO / MODEL / str(SERVED) / "model.onnx"


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    shutil.copytree(REPO / MODEL, tmp_path / MODEL)
    return tmp_path


def test_a_good_model_becomes_the_next_version_with_nothing_left_behind(repository):
    assert publish(COMMITTED, repository) == SERVED + 1
    model_dir = repository / MODEL
    assert (model_dir / str(SERVED + 1) / "model.onnx").read_bytes() == COMMITTED.read_bytes()
    names = sorted(p.name for p in model_dir.iterdir())
    # no staging folder left
    assert names == [str(SERVED), str(SERVED + 1), "config.pbtxt", "configs", "labels.txt"]


def test_a_file_onnxruntime_cannot_load_is_refused(repository, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(COMMITTED.read_bytes()[:1000])
    with pytest.raises(PublishError, match="does not load"):
        publish(broken, repository)
    assert not (repository / MODEL / str(SERVED + 1)).exists()


def test_a_model_with_other_tensor_names_is_refused(repository, tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), other)
    with pytest.raises(PublishError, match=r"config\.pbtxt declares"):
        publish(other, repository)


def test_an_existing_version_is_never_overwritten(repository):
    with pytest.raises(PublishError, match="exists already"):
        publish(COMMITTED, repository, version=SERVED)


def test_a_folder_that_is_not_a_triton_model_is_refused(tmp_path):
    with pytest.raises(PublishError, match=r"no config\.pbtxt"):
        publish(COMMITTED, tmp_path)


def test_a_family_is_copied_under_a_new_name_with_its_configs_renamed(tmp_path):
    target = tmp_path / "repository"
    target.mkdir()
    publish_family(PROJECT_REPOSITORY, "health_code", target, "health_code_v9")
    assert sorted(p.name for p in target.iterdir()) == [
        "health_code_v9",
        "health_code_v9_classifier",
        "health_code_v9_closer",
        "health_code_v9_locate",
        "health_code_v9_preprocess",
    ]
    for name, first in (("health_code_v9", "preprocess"), ("health_code_v9_closer", "locate")):
        ensemble = text_format.Parse(
            (target / name / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
        )
        steps = [step.model_name for step in ensemble.ensemble_scheduling.step]
        assert (ensemble.name, steps) == (
            name,
            [f"health_code_v9_{first}", "health_code_v9_classifier"],
        )
    for model in (
        "health_code_v9_classifier",
        "health_code_v9_preprocess",
        "health_code_v9_locate",
    ):
        for config in (target / model).glob("**/*.pbtxt"):
            assert f'name: "{model}"' in config.read_text()
    assert list(tmp_path.glob(".health_code_v9*")) == []  # no staging left behind


def test_a_family_never_overwrites_one_that_is_there(tmp_path):
    (tmp_path / "health_code_v9_classifier").mkdir()
    with pytest.raises(PublishError, match="exists already"):
        publish_family(PROJECT_REPOSITORY, "health_code", tmp_path, "health_code_v9")
    assert not (tmp_path / "health_code_v9_preprocess").exists()
