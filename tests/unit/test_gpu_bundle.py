"""The GPU run's pieces that need neither a GPU nor its bundle: what the bundle carries, the run's
model repository, the readings it takes and the load it merges. (`make gpu-run-cpu` runs it all.)
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from benchmarks.gpu import bundle, load, observe, summary
from benchmarks.gpu.services import MODELS, run_repository
from clients.loadtest.loadgen import latency_histogram, record_s

PROJECT = Path(__file__).resolve().parents[2]


def requirement_names(extra: str) -> list[str]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    requirements = (
        project["dependencies"] if extra == "base" else project["optional-dependencies"][extra]
    )
    names = [re.match(r"[A-Za-z0-9_.-]+", r)[0].lower() for r in requirements]
    return [n for n in names if n != "healthcode"]


@pytest.mark.parametrize("extra", ["base", "server", "embedded"])
def test_the_bundle_carries_every_dependency_the_gpu_machine_lacks(extra):
    accounted = {*bundle.FROM_VENV, *bundle.ON_MACHINE, *bundle.NOT_IMPORTED}
    missing = [name for name in requirement_names(extra) if name not in accounted]
    assert not missing, (
        f"neither carried by benchmarks/gpu/bundle.py nor on the GPU machine: {missing}"
    )


def test_the_bundle_carries_numpy_1_and_protobuf_4_whatever_the_machine_has():
    pins = dict(pin.split("==") for pin in bundle.pins())
    assert pins["numpy"].startswith("1.")  # the wheel's stubs misread numpy 2 arrays
    assert int(pins["protobuf"].split(".")[0]) < 5  # tritonclient 2.51


def test_the_distribution_stand_in_points_into_the_wheel_layout(tmp_path):
    module = tmp_path / "site" / "pytriton" / "utils" / "distribution.py"
    module.parent.mkdir(parents=True)
    module.write_text(bundle.DISTRIBUTION)
    found = runpy.run_path(str(module))
    assert found["get_root_module_path"]() == tmp_path / "site" / "pytriton"
    assert found["get_libs_path"]() == tmp_path / "site" / "nvidia_pytriton.libs"
    stub = found["get_stub_path"]("3.12")
    assert stub.parts[-3:] == ("python_backend_stubs", "3.12", "triton_python_backend_stub")


def parse(path: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_the_runs_repository_holds_the_family_and_raises_only_the_classifiers_instances(tmp_path):
    repository = run_repository(PROJECT / "model_repository", tmp_path / "models", 4)
    assert sorted(p.name for p in repository.iterdir()) == sorted(MODELS)
    ours = parse(repository / "health_code_classifier" / "configs" / "gpu.pbtxt")
    committed = parse(PROJECT / "model_repository" / "health_code_classifier/configs/gpu.pbtxt")
    assert [g.count for g in ours.instance_group] == [4]
    ours.ClearField("instance_group")
    committed.ClearField("instance_group")
    assert ours == committed


METRICS = """\
# HELP nv_inference_count Number of inferences performed
nv_inference_count{model="health_code_preprocess",version="1"} %d
nv_inference_exec_count{model="health_code_preprocess",version="1"} %d
nv_inference_request_success{model="health_code_preprocess",version="1"} %d
nv_inference_queue_duration_us{model="health_code_preprocess",version="1"} %d
nv_inference_compute_infer_duration_us{model="health_code_preprocess",version="1"} %d
healthcode_preprocess_images_total{model="health_code_preprocess",route="gpu"} %d
healthcode_preprocess_images_total{model="health_code_preprocess",route="not_jpeg"} %d
"""


def test_a_window_of_triton_counters_gives_batches_queueing_and_routes():
    before = observe.parse_metrics(METRICS % (100, 10, 100, 5_000, 100_000, 90, 10))
    after = observe.parse_metrics(METRICS % (420, 20, 420, 37_000, 420_000, 390, 30))
    window = observe.triton_window(before, after)
    model = window["models"]["health_code_preprocess"]
    assert model == {
        "inferences": 320,
        "average_batch": 32.0,
        "queue_us_per_request": 100,
        "compute_us_per_request": 1000,
    }
    assert window["preprocess_routes"] == {"gpu": 300, "not_jpeg": 20}


def part(latencies_ms: list[float], errors: dict | None = None) -> dict:
    histogram = latency_histogram()
    for ms in latencies_ms:
        record_s(histogram, ms / 1000)
    return {
        "complete": len(latencies_ms),
        "ok": len(latencies_ms),
        "failed": sum((errors or {}).values()),
        "non_2xx": 0,
        "errors": errors or {},
        "statuses": {},
        "concurrency": 8,
        "elapsed_s": 2.0,
        "cpu_s": 0.5,
        "histogram": histogram.encode().decode("ascii"),
    }


def test_the_load_of_several_processes_merges_into_one_distribution():
    merged = load.merge([part([10.0] * 90), part([100.0] * 10, {"timeout": 2})])
    assert merged["complete"] == 100 and merged["failed"] == 2
    assert merged["concurrency"] == 16 and merged["requests_per_s"] == 50.0
    assert merged["errors"] == {"timeout": 2}
    assert merged["latency_ms"]["p50"] == pytest.approx(10.0, rel=0.01)
    assert merged["latency_ms"]["p99"] == pytest.approx(100.0, rel=0.01)
    assert merged["load_generator_cpu_s"] == 1.0


def test_the_summary_page_has_a_row_per_level():
    level = {
        "concurrency": 16,
        "payload": "colour JPEGs",
        "load": load.merge([part([12.0] * 50)]),
        "cpu_ms_per_request": {"gateway": 1.5, "preprocess stubs": 0.4},
        "machine_cpu_util_pct": 55.0,
        "gpu": {"util_mean_pct": 30.0, "util_max_pct": 60.0, "memory_max_mib": 4000},
        "triton": {
            "models": {"health_code_preprocess": {"average_batch": 7.5}},
            "preprocess_routes": {"gpu": 50},
        },
    }
    page = summary.markdown({"mode": "gpu", "levels": [level, level]})
    rows = [line for line in page.splitlines() if line.startswith("| 16 |")]
    assert len(rows) == 2
    assert "| 30.0/60.0 |" in rows[0] and "| 7.5 |" in rows[0] and "gpu 50" in rows[0]
