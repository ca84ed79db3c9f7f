"""Faults the service must ride out by itself: Triton or a gateway worker dying, or serve itself."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from benchmarks import costly_attack
from tests.support.service import BackgroundLoad, pids_using, run_service, wait_for
from training.render import render

RECOVERY_TIMEOUT_S = 90


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found |= {int(child), *descendants(int(child))}
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_killing_triton_gives_clean_503s_until_the_launcher_restarts_it(tmp_path):
    image = render("yellow", seed=90_020, fmt="jpeg")
    with run_service(tmp_path) as service:
        repo = service.model_repository
        [triton] = pids_using(repo, "tritonserver")

        def ready() -> int:
            try:
                return httpx.get(f"{service.base_url}/readyz", timeout=5).status_code
            except httpx.HTTPError:
                return 0

        with BackgroundLoad(service.base_url, image) as load:
            assert wait_for(lambda: len(load.answers) >= 5, 30)
            os.kill(triton, signal.SIGKILL)
            assert wait_for(lambda: ready() == 503, 10), "readyz stayed ready with Triton dead"
            assert wait_for(lambda: ready() == 200, RECOVERY_TIMEOUT_S), service.log_tail()
            served_before = len(load.answers)
            assert wait_for(lambda: len(load.answers) > served_before + 5, 30)
            answers = load.stop()

        [restarted] = pids_using(repo, "tritonserver")
        assert restarted != triton
        # The killed server's stubs were reaped: every stub left belongs to the new server.
        stubs = pids_using(repo, "triton_python_backend_stub")
        assert stubs
        assert {parent_of(stub) for stub in stubs} == {restarted}
        codes = [a.status_code for a in answers]
        assert set(codes) <= {200, 503}, codes
        assert 503 in codes
        assert all(a.retry_after for a in answers if a.status_code == 503)
        assert {a.body["error"]["code"] for a in answers if a.status_code == 503} <= {
            "triton_unavailable",
            "model_unavailable",
        }
        assert answers[-1].status_code == 200 and answers[-1].body["status"] == "yellow"
        # The gateway (the serve process itself) rode it out: it was never restarted.
        assert service.process.poll() is None


def test_a_gateway_worker_that_dies_is_replaced_and_the_service_keeps_answering(tmp_path):
    image = render("green", seed=90_021, fmt="jpeg")
    with run_service(tmp_path, workers="2") as service:

        def workers() -> list[int]:
            found = re.findall(r"gateway worker (\d+) started", service.log_tail(200_000))
            return [int(pid) for pid in found]

        assert wait_for(lambda: len(workers()) == 1, 30), service.log_tail()
        (first,) = workers()
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: len(workers()) == 2, 30), service.log_tail()
        with httpx.Client(base_url=service.base_url, timeout=30) as http:
            codes = [
                http.post(
                    "/analysis/health-code", content=image, headers={"content-type": "image/jpeg"}
                ).status_code
                for _ in range(20)
            ]
    assert codes == [200] * 20


def test_a_killed_serve_takes_its_workers_lane_and_triton_with_it(tmp_path):
    """SIGKILL leaves the serve process no time to stop anything: the children must end alone,
    or an orphaned worker would hold the port with no Triton behind it."""
    costly = costly_attack.attack_images()["png-16mpx"]  # starts the costly-image lane
    with run_service(tmp_path, workers="2") as service:
        answer = httpx.post(
            f"{service.base_url}/analysis/health-code",
            content=costly,
            headers={"content-type": "image/png"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        children = descendants(service.process.pid)
        programs = {Path(f"/proc/{pid}/exe").resolve().name for pid in children}
        assert "tritonserver" in programs and len(children) >= 4, (programs, children)
        os.kill(service.process.pid, signal.SIGKILL)
        service.process.wait()
        assert wait_for(lambda: not any(alive(pid) for pid in children), 30), [
            pid for pid in children if alive(pid)
        ]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{service.base_url}/healthz", timeout=5)
