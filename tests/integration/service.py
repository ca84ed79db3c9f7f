"""The real service (`healthcode serve`: embedded tritonserver + gateway) on free ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
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


def pids_using(path: Path, program: str | None = None) -> list[int]:
    """Live processes whose command line mentions path (tritonserver and its stubs do)."""
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            named = program is None or Path(argv[0]).name == program
            if entry.name.isdigit() and named and any(str(path) in arg for arg in argv):
                pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def run_service(root: Path, **settings: str) -> Iterator[Service]:
    """`healthcode serve` on free ports, serving a private copy of the model repository.

    Keyword arguments are extra settings: `max_in_flight="8"` sets HEALTHCODE_MAX_IN_FLIGHT.
    """
    repo = root / "model_repository"
    shutil.copytree(REPO / "model_repository", repo)
    names = ("PORT", "TRITON_HTTP_PORT", "TRITON_GRPC_PORT", "TRITON_METRICS_PORT")
    ports = {name: free_port() for name in names}
    env = {
        **os.environ,
        **{f"HEALTHCODE_{k}": str(v) for k, v in ports.items()},
        "HEALTHCODE_MODEL_REPOSITORY": str(repo),
        "HEALTHCODE_REPOSITORY_POLL_S": "1",
        **{f"HEALTHCODE_{k.upper()}": v for k, v in settings.items()},
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


@dataclass
class Answer:
    status_code: int
    body: dict
    retry_after: str | None


class BackgroundLoad:
    """Requests in a loop from a thread while a test does something to the service.

    Bounded: it stops at stop(), after max_requests, or after max_s, whichever comes first.
    """

    def __init__(self, base_url: str, image: bytes, max_requests: int = 20_000, max_s: float = 120):
        self.answers: list[Answer] = []
        self._url, self._image = base_url, image
        self._max_requests, self._max_s = max_requests, max_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> list[Answer]:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.answers

    def _run(self) -> None:
        content_type = "image/png" if self._image.startswith(b"\x89PNG") else "image/jpeg"
        deadline = time.monotonic() + self._max_s
        with httpx.Client(base_url=self._url, timeout=30) as http:
            while not self._stop.is_set() and len(self.answers) < self._max_requests:
                if time.monotonic() > deadline:
                    break
                try:
                    r = http.post(
                        "/analysis/health-code",
                        content=self._image,
                        headers={"content-type": content_type},
                    )
                    answer = Answer(r.status_code, r.json(), r.headers.get("retry-after"))
                except httpx.HTTPError as e:
                    answer = Answer(0, {"error": {"code": type(e).__name__}}, None)
                self.answers.append(answer)
                time.sleep(0.01)


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return False
