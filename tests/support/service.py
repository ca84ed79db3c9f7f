"""The real service (`healthcode serve`: embedded tritonserver + gateway) and load against it."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from clients.media import content_type
from gateway.local_service import LocalService, run_local_service

Service = LocalService
PROJECT = Path(__file__).resolve().parents[2]
SEED_JPEG = PROJECT / "benchmarks" / "data" / "seed-1440x3200.jpg"


def run_service(root: Path, **settings: str) -> contextlib.AbstractContextManager[LocalService]:
    """`healthcode serve` on free ports with a private copy of the model repository."""
    return run_local_service(root, **settings)


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
        headers = {"content-type": content_type(self._image)}
        deadline = time.monotonic() + self._max_s
        with httpx.Client(base_url=self._url, timeout=30) as http:
            while not self._stop.is_set() and len(self.answers) < self._max_requests:
                if time.monotonic() > deadline:
                    break
                try:
                    r = http.post("/analysis/health-code", content=self._image, headers=headers)
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
