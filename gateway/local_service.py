"""`healthcode serve` as a child process on free loopback ports: for tests, benchmarks and tools."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.repository import PROJECT_REPOSITORY
from gateway.waiting import wait_until_ok

START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 90.0
PORTS = ("PORT", "TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "TRITON_METRICS_PORT")


def free_port() -> int:
    return distinct_free_ports(1)[0]


def distinct_free_ports(count: int) -> list[int]:
    """`count` free loopback ports, all different: the sockets are held together while the kernel
    picks, since a port released by one pick may come back from the next."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(replicas: int) -> tuple[dict[str, int], int]:
    """Free ports for the gateway and `replicas` Triton replicas: the first's, and the stride."""
    for _ in range(50):
        ports = dict(zip(PORTS, distinct_free_ports(len(PORTS)), strict=True))
        stride = random.randrange(1000, 8000, 10)
        triton = [ports[name] for name in PORTS[1:]]
        later = [p + stride * i for p in triton for i in range(1, replicas)]
        every = [*ports.values(), *later]
        if len(set(every)) == len(every) and all(p <= 65535 and _is_free(p) for p in later):
            return ports, stride
    raise RuntimeError("no free ports for the replicas")


@dataclass
class LocalService:
    base_url: str  # the gateway, http://127.0.0.1:port
    triton_ports: tuple[int, int, int]  # (http, grpc, metrics) of the first Triton replica
    triton_port_stride: int  # replica i's ports are the first's + i * stride
    model_repository: Path
    process: subprocess.Popen[bytes]
    log: Path

    def _port(self, kind: int, replica: int) -> int:
        return self.triton_ports[kind] + replica * self.triton_port_stride

    def triton_http_url(self, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self._port(0, replica)}"

    def triton_grpc_url(self, replica: int = 0) -> str:
        return f"127.0.0.1:{self._port(1, replica)}"

    def triton_metrics_url(self, replica: int = 0) -> str:
        return f"http://127.0.0.1:{self._port(2, replica)}/metrics"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> int:
        """SIGTERM (the gateway drains, then Triton stops); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def run_local_service(
    root: Path, *, own_repository: bool = True, log: Path | None = None, **settings: str
) -> Iterator[LocalService]:
    """`healthcode serve` on free ports until the block ends; ready (/readyz 200) when yielded.

    `own_repository`: serve a private copy of the project's model repository under `root` (tests
    publish into it). Keyword arguments are more settings: `max_in_flight="8"` sets
    HEALTHCODE_MAX_IN_FLIGHT. The service's output goes to `log` (default root/serve.log).
    """
    repository = PROJECT_REPOSITORY
    if own_repository:
        repository = root / "model_repository"
        # As a fresh clone has it: bytecode left by earlier runs would hide a first start's writes.
        shutil.copytree(
            PROJECT_REPOSITORY, repository, ignore=shutil.ignore_patterns("__pycache__")
        )
    ports, stride = free_ports(int(settings.get("triton_replicas", "1")))
    env = {
        **os.environ,
        **{f"HEALTHCODE_{k}": str(v) for k, v in ports.items()},
        "HEALTHCODE_TRITON_PORT_STRIDE": str(stride),
        "HEALTHCODE_MODEL_REPOSITORY": str(repository),
        "HEALTHCODE_REPOSITORY_POLL_S": "1",
        **{f"HEALTHCODE_{k.upper()}": v for k, v in settings.items()},
    }
    env.pop("HEALTHCODE_TRITON_URL", None)
    log = log or root / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=root,
            start_new_session=True,  # our signals, not the terminal's, decide when it stops
        )
    service = LocalService(
        base_url=f"http://127.0.0.1:{ports['PORT']}",
        triton_ports=(
            ports["TRITON_HTTP_PORT"],
            ports["TRITON_GRPC_PORT"],
            ports["TRITON_METRICS_PORT"],
        ),
        triton_port_stride=stride,
        model_repository=repository,
        process=process,
        log=log,
    )
    try:
        ready = wait_until_ok(
            [f"{service.base_url}/readyz"], START_TIMEOUT_S, lambda: process.poll() is None
        )
        try:
            asyncio.run(ready)
        except Exception as e:
            raise RuntimeError(f"{e}\n{service.log_tail()}") from e
        yield service
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            service.stop()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
