"""Several Triton replicas behind one gateway: balanced, none lost when one dies, updated alike.

`healthcode serve` with HEALTHCODE_TRITON_REPLICAS=2 runs two supervised tritonservers on their own
ports; the gateway's channel balances round robin over both, as it does over a Kubernetes
headless Service's pods.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.local_service import LocalService
from gateway.publish import MODEL, publish
from gateway.repository import versions
from tests.support.service import (
    SEED_JPEG,
    Answer,
    BackgroundLoad,
    pids_using,
    run_service,
    wait_for,
)

_COUNT = re.compile(
    r'^nv_inference_count\{model="health_code_classifier",version="\d+"\} (\S+)$', re.M
)


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    with run_service(tmp_path_factory.mktemp("replicas"), triton_replicas="2") as service:
        yield service


def served_by(service: LocalService, replica: int) -> float:
    """Inferences replica `replica`'s classifier ran, all versions (0 while it is down)."""
    try:
        text = httpx.get(service.triton_metrics_url(replica), timeout=5).text
    except httpx.HTTPError:
        return 0.0
    return sum(float(value) for value in _COUNT.findall(text))


def version_ready(service: LocalService, replica: int, version: str) -> bool:
    """Whether replica `replica` serves `version` (not while it restarts: refused then)."""
    url = f"{service.triton_http_url(replica)}/v2/models/{MODEL}/versions/{version}/ready"
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def replica_pid(service: LocalService, replica: int) -> int | None:
    """The pid of replica `replica`'s tritonserver, from its command line."""
    port = f"--grpc-port={service.triton_grpc_url(replica).rsplit(':', 1)[1]}"
    for pid in pids_using(service.model_repository, "tritonserver"):
        if port in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0"):
            return pid
    return None


def assert_all_answered_200(answers: list[Answer], what: str) -> None:
    """Every answer a load got was a 200; says how many, for the closing notes' record."""
    codes = [a.status_code for a in answers]
    assert codes == [200] * len(codes), [a.body for a in answers if a.status_code != 200][:3]
    print(f"{what}: {len(codes)} answers, all 200")


def test_both_replicas_serve_and_a_killed_one_loses_no_request(replicated: LocalService) -> None:
    with BackgroundLoad(replicated.base_url, SEED_JPEG.read_bytes()) as load:
        assert wait_for(lambda: min(served_by(replicated, r) for r in (0, 1)) >= 5, 60)
        killed = replica_pid(replicated, 1)
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        restarted = lambda: replica_pid(replicated, 1) not in (None, killed)  # noqa: E731
        assert wait_for(restarted, 60), replicated.log_tail()
        # Back, it takes traffic again (its counters start from zero in the new process).
        assert wait_for(lambda: served_by(replicated, 1) >= 5, 90), replicated.log_tail()
        answers = load.stop()
    assert len(answers) > 50
    assert_all_answered_200(answers, "replica 1 SIGKILLed and restarted under load")


def test_a_replica_gone_silent_is_dropped_by_keepalive_and_no_request_fails(
    replicated: LocalService,
) -> None:
    """A frozen server closes no connection (like a node off the network): pings notice it."""
    frozen = replica_pid(replicated, 0)
    assert frozen is not None
    with BackgroundLoad(replicated.base_url, SEED_JPEG.read_bytes()) as load:
        assert wait_for(lambda: len(load.answers) >= 10, 30)
        os.kill(frozen, signal.SIGSTOP)
        try:
            now = len(load.answers)
            assert wait_for(lambda: len(load.answers) >= now + 30, 60), [
                a.status_code for a in load.answers[now:]
            ]
        finally:
            os.kill(frozen, signal.SIGCONT)
        answers = load.stop()
    assert_all_answered_200(answers, "replica 0 SIGSTOPped under load")


def test_a_new_version_published_under_load_reaches_both_replicas_with_no_failure(
    replicated: LocalService,
) -> None:
    model_dir = replicated.model_repository / MODEL
    current = versions(model_dir)[-1]
    with BackgroundLoad(replicated.base_url, SEED_JPEG.read_bytes()) as load:
        new = str(publish(model_dir / str(current) / "model.onnx", replicated.model_repository))

        ready_everywhere = lambda: all(version_ready(replicated, r, new) for r in (0, 1))  # noqa: E731
        assert wait_for(ready_everywhere, 90), replicated.log_tail()
        served = lambda: [a.body.get("model_version") for a in load.answers[-5:]]  # noqa: E731
        assert wait_for(lambda: served() == [new] * 5, 60)
        answers = load.stop()
    assert_all_answered_200(answers, f"version {new} published under load")
