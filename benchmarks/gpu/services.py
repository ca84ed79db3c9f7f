"""The systems of the GPU run: the bundle's tritonserver and the gateway, launched as the project
launches them (gateway/embedded/server.py's command line; the gateway image's uvicorn command).

Each runs in its own process group, so that stopping it ends its python stubs or uvicorn workers
too; a group that outlives SIGTERM is killed, and the Triton instance's /dev/shm regions removed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gateway.embedded import server
from gateway.local_service import distinct_free_ports, free_port
from gateway.repository import compile_python_models
from gateway.settings import Settings

STOP_TIMEOUT_S = 20.0
MODELS = ("health_code", "health_code_preprocess", "health_code_classifier")


def run_repository(source: Path, dest: Path, classifier_instances: int | None) -> Path:
    """The three models of the health-code family (no OCR: not needed, not carried) in `dest`;
    with classifier_instances, its configs/gpu.pbtxt asks for that many instances."""
    for model in MODELS:
        shutil.copytree(source / model, dest / model, ignore=shutil.ignore_patterns("__pycache__"))
    if classifier_instances:
        path = dest / "health_code_classifier" / "configs" / "gpu.pbtxt"
        text = path.read_text()
        old = "instance_group [ { count: 1, kind: KIND_GPU } ]"
        if old not in text:
            raise SystemExit(f"{path}: no `{old}` to raise the instance count of")
        new = f"instance_group [ {{ count: {classifier_instances}, kind: KIND_GPU }} ]"
        path.write_text(text.replace(old, new))
    compile_python_models(dest)
    return dest


def wait_ok(url: str, timeout_s: float, proc: subprocess.Popen, failed=lambda: None) -> float:
    """Seconds until `url` answers 200; SystemExit when the process dies, failed() names a
    failure, or time runs out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited ({proc.returncode}); see its log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        if reason := failed():
            raise SystemExit(reason)
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout_s:.0f} s")


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            cmd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=os.setpgrp,  # its own group, same session: the machine reaps it anyway
        )


def stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it."""
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # stubs may outlive tritonserver: the group must go too
            time.sleep(0.5)


@dataclass
class Triton:
    """The bundle's tritonserver on free loopback ports, serving `repository`."""

    repository: Path
    gpu: bool
    log: Path
    proc: subprocess.Popen | None = None
    settings: Settings = field(init=False)
    _workdir: Path = field(init=False)

    def __post_init__(self) -> None:
        http, grpc, metrics = distinct_free_ports(3)
        self.settings = Settings(
            model_repository=self.repository,
            triton_http_port=http,
            triton_grpc_port=grpc,
            triton_metrics_port=metrics,
        )
        self._workdir = Path(tempfile.mkdtemp(prefix="healthcode-gpu-run-"))
        self._shm_prefix = f"healthcode_gpu_run_{os.getpid()}_"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.settings.triton_grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.triton_metrics_port}/metrics"

    @functools.cached_property
    def backends(self) -> Path:
        """The backend folder: the bundle's python backend and stub, the project's onnxruntime."""
        return server.compose_backends(self._workdir / "backends")

    def command(self) -> list[str]:
        cmd = server.command(self.settings, self.backends, self._shm_prefix)
        return [*cmd, "--model-config-name=gpu"] if self.gpu else cmd

    def environment(self) -> dict[str, str]:
        """The launcher's: the stubs find this virtualenv's packages through PATH (run.sh)."""
        return server.environment()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.triton_ports(0)[0]}"

    def start(self, timeout_s: float) -> float:
        """Start it; the seconds until the ensemble (and so its models) is ready."""
        self.proc = spawn(self.command(), self.environment(), self.log)
        ready = f"{self.http_url}/v2/models/health_code/ready"
        return wait_ok(ready, timeout_s, self.proc, self.failed_load)

    def failed_load(self) -> str | None:
        """Why a composing model failed to load, if one did: stop waiting at once (device time
        is short), where poll mode would retry it every few seconds until the timeout."""
        request = urllib.request.Request(f"{self.http_url}/v2/repository/index", method="POST")
        try:
            with urllib.request.urlopen(request, data=b"{}", timeout=2) as response:
                index = json.loads(response.read())
        except (OSError, ValueError):
            return None
        for model in index:
            reason = model.get("reason", "")
            if model.get("name") in MODELS[1:] and model.get("state") == "UNAVAILABLE" and reason:
                return f"{model['name']} failed to load: {reason[:2000]}"
        return None

    def stop(self) -> None:
        stop(self.proc)
        for region in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
            region.unlink(missing_ok=True)
        shutil.rmtree(self._workdir, ignore_errors=True)


@dataclass
class Gateway:
    """The gateway as its image runs it: uvicorn workers, raw bytes to Triton's ensemble."""

    triton: Triton
    workers: int
    log: Path
    port: int = field(init=False)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        # Triton's ports are chosen but not yet bound: a pick may hand one of them out again.
        s = self.triton.settings
        taken = {s.triton_http_port, s.triton_grpc_port, s.triton_metrics_port}
        while (port := free_port()) in taken:
            pass
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float) -> float:
        metrics_dir = Path(tempfile.mkdtemp(prefix="healthcode-gpu-run-metrics-"))
        env = {
            **os.environ,
            "HEALTHCODE_TRITON_URL": self.triton.grpc_target,
            "HEALTHCODE_DECODE": "triton",
            "HEALTHCODE_MODEL_REPOSITORY": str(self.triton.repository),
            # c=256 over a few workers: uvicorn's accept race is uneven, never shed on it here.
            "HEALTHCODE_MAX_IN_FLIGHT": "512",
            "HEALTHCODE_TRY_PAGE": "false",
            "HEALTHCODE_LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "gateway.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
        ]
        self.proc = spawn(cmd, env, self.log)
        return wait_ok(f"{self.url}/readyz", timeout_s, self.proc)

    def stop(self) -> None:
        stop(self.proc)
