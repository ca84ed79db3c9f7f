"""The embedded launcher composes a backend folder Triton accepts and a loopback-only command."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from gateway.embedded import server
from gateway.local_service import distinct_free_ports, free_port
from gateway.settings import Settings
from tests.support.service import Service


def test_the_backend_folder_holds_the_python_backend_this_pythons_stub_and_onnxruntime(tmp_path):
    backends = server.compose_backends(tmp_path / "backends")
    python = backends / "python"
    # Triton refuses a backend library that resolves outside the folder: it must be a real file.
    assert (python / "libtriton_python.so").is_file()
    assert not (python / "libtriton_python.so").is_symlink()
    stub = (python / "triton_python_backend_stub").resolve()
    assert stub.parent.name == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert os.access(stub, os.X_OK)
    assert "class TritonPythonModel" in (backends / "onnxruntime" / "model.py").read_text()


def test_every_triton_port_binds_to_loopback_and_models_are_polled(tmp_path):
    settings = Settings(triton_http_port=18000, triton_grpc_port=18001, triton_metrics_port=18002)
    cmd = server.command(settings, tmp_path, "healthcode_1_")
    assert os.access(cmd[0], os.X_OK)
    for flag in ("--http-address", "--grpc-address", "--metrics-address"):
        assert f"{flag}=127.0.0.1" in cmd
    assert "--model-control-mode=poll" in cmd
    assert "--grpc-port=18001" in cmd
    assert "--backend-config=python,shm-region-prefix-name=healthcode_1_" in cmd


def test_the_stub_environment_sees_this_virtualenv():
    env = server.environment()
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert "nvidia_pytriton.libs" in env["LD_LIBRARY_PATH"]


def second_serve(service: Service, tmp_path, gateway_port: int, triton_ports) -> tuple[int, str]:
    """`healthcode serve` on the given ports beside the running service: (exit status, output)."""
    http, grpc, metrics = triton_ports
    env = {
        **os.environ,
        "HEALTHCODE_PORT": str(gateway_port),
        "HEALTHCODE_TRITON_HTTP_PORT": str(http),
        "HEALTHCODE_TRITON_GRPC_PORT": str(grpc),
        "HEALTHCODE_TRITON_METRICS_PORT": str(metrics),
        "HEALTHCODE_MODEL_REPOSITORY": str(service.model_repository),
    }
    env.pop("HEALTHCODE_TRITON_URL", None)
    cmd = [sys.executable, "-m", "gateway", "serve"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_a_second_serve_on_a_running_tritons_ports_refuses_to_start(service: Service, tmp_path):
    """Its readiness check would pass on the running Triton, and its gateway would serve from it."""
    status, output = second_serve(service, tmp_path, free_port(), service.triton_ports)
    assert status == 1, output
    assert f"{service.triton_ports[1]} (HEALTHCODE_TRITON_GRPC_PORT)" in output
    assert httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200


def test_a_second_serve_on_a_running_gateways_port_refuses_before_starting_triton(
    service: Service, tmp_path
):
    port = int(service.base_url.rsplit(":", 1)[1])
    status, output = second_serve(service, tmp_path, port, distinct_free_ports(3))
    assert status == 1, output
    assert "(HEALTHCODE_HOST, HEALTHCODE_PORT)" in output
    assert "starting tritonserver" not in output
    assert httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200
