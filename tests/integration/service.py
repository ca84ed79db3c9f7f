"""The real service (`healthcode serve`: embedded tritonserver + gateway) on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    base_url: str
    triton_grpc_url: str
    triton_http_url: str
    model_repository: Path
    process: subprocess.Popen
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


def processes_using(path: Path) -> list[str]:
    """Command lines of live processes that mention path (tritonserver and its stubs do)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if entry.name.isdigit() and str(path) in cmdline:
                found.append(cmdline)
    return found


@contextlib.contextmanager
def run_service(root: Path) -> Iterator[Service]:
    """`healthcode serve` on free ports, serving a private copy of the model repository."""
    repo = root / "model_repository"
    shutil.copytree(REPO / "model_repository", repo)
    names = ("PORT", "TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "TRITON_METRICS_PORT")
    ports = {name: free_port() for name in names}
    env = {
        **os.environ,
        **{f"HEALTHCODE_{k}": str(v) for k, v in ports.items()},
        "HEALTHCODE_MODEL_REPOSITORY": str(repo),
        "HEALTHCODE_REPOSITORY_POLL_S": "1",
    }
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve"],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root,
        )  # fmt: skip
    service = Service(
        base_url=f"http://127.0.0.1:{ports['PORT']}",
        triton_grpc_url=f"127.0.0.1:{ports['TRITON_GRPC_PORT']}",
        triton_http_url=f"http://127.0.0.1:{ports['TRITON_HTTP_PORT']}",
        model_repository=repo,
        process=process,
        log=log,
    )
    try:
        _wait_ready(service)
        yield service
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.stop()
        if process.poll() is None:
            process.kill()


def _wait_ready(service: Service) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"healthcode serve exited early:\n{service.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{service.base_url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"service not ready in {START_TIMEOUT_S} s:\n{service.log_tail()}")
